"""The Python client generated from crates/ingress/openapi.json, used as an integrator would.

Run by scripts/openapi-check.sh with the generated package (`bv_client`) on the path, and
type-checked there with mypy. Checks, without a server (httpx's MockTransport answers):
  1. every operationId of the document has its module, with sync/async functions;
  2. `GET /v2/biometric-validations/{id}` parses the document's examples into the right
     type: the client's full view and the page's view are told apart;
  3. the list operation sends the query the service parses: `in_status` repeated,
     `where>_createdAt` and `where<_createdAt` as their own keys.
"""

from __future__ import annotations

import datetime
import importlib
import json
import pathlib
import re
import sys
from typing import Any
from uuid import UUID

import httpx

from bv_client import AuthenticatedClient
from bv_client.api.biometric_validations import get_biometric_validation, list_biometric_validations
from bv_client.models import (
    BiometricValidationList,
    BiometricValidationResponse,
    ListBiometricValidationsCreatedAfter,
    ListBiometricValidationsCreatedBefore,
    ListBiometricValidationsInStatusItem,
    PublicViewResponse,
)

DOCUMENT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "crates/ingress/openapi.json")


def snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def operation_ids(doc: dict[str, Any]) -> list[str]:
    return [
        op["operationId"]
        for item in doc["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]


def client_answering(status: int, body: Any, seen: list[httpx.Request]) -> AuthenticatedClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body)

    return AuthenticatedClient(
        base_url="http://bv.test",
        token="a-client-token",
        httpx_args={"transport": httpx.MockTransport(handler)},
    )


def main() -> int:
    doc = json.loads(DOCUMENT.read_text())
    failures: list[str] = []

    # 1. Every operation.
    import bv_client.api as api

    modules = {
        path.stem: f"bv_client.api.{path.parent.name}.{path.stem}"
        for path in pathlib.Path(api.__file__).parent.glob("*/*.py")
        if path.stem != "__init__"
    }
    ids = operation_ids(doc)
    for op in ids:
        name = modules.get(snake(op))
        if name is None:
            failures.append(f"operation {op}: no module in the generated client")
            continue
        module = importlib.import_module(name)
        for function in ("sync_detailed", "asyncio_detailed"):
            if not callable(getattr(module, function, None)):
                failures.append(f"operation {op}: {name}.{function} is missing")
    print(f"  {len(ids)} operations, {len(ids) - len(failures)} with their module and functions")

    # 2. The two views of GET /{id}, from the document's own examples.
    examples = doc["paths"]["/v2/biometric-validations/{id}"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["examples"]
    expected: dict[str, type] = {
        "seed": BiometricValidationResponse,
        "decided": BiometricValidationResponse,
        "page": PublicViewResponse,
    }
    for name, kind in expected.items():
        seen: list[httpx.Request] = []
        body = examples[name]["value"]
        parsed = get_biometric_validation.sync(
            id=UUID(body["data"]["_id"]), client=client_answering(200, body, seen)
        )
        if not isinstance(parsed, kind):
            failures.append(f"GET /{{id}} example {name!r} parsed as {type(parsed).__name__}, not {kind.__name__}")
        elif isinstance(parsed, BiometricValidationResponse):
            print(f"  example {name!r}: the full view, client {parsed.data.client!r}")
        elif isinstance(parsed, PublicViewResponse):
            print(f"  example {name!r}: the page's view, liveness {parsed.data.liveness.value!r}")

    # 3. The list query as the service parses it (crates/ingress/src/routes/list.rs).
    page = doc["paths"]["/v2/biometric-validations"]["get"]["responses"]["200"]["content"]["application/json"][
        "examples"
    ]["page"]["value"]
    seen = []
    utc = datetime.timezone.utc
    listed = list_biometric_validations.sync(
        client=client_answering(200, page, seen),
        in_status=[ListBiometricValidationsInStatusItem.NEW, ListBiometricValidationsInStatusItem.PENDING],
        created_after=ListBiometricValidationsCreatedAfter(where_created_at=datetime.datetime(2026, 1, 1, tzinfo=utc)),
        created_before=ListBiometricValidationsCreatedBefore(
            where_created_at=datetime.datetime(2027, 1, 1, tzinfo=utc)
        ),
        per_page=5,
    )
    if not isinstance(listed, BiometricValidationList):
        failures.append(f"the list example parsed as {type(listed).__name__}")
    query = seen[0].url.params
    sent = {
        "in_status": query.get_list("in_status"),
        "where>_createdAt": query.get_list("where>_createdAt"),
        "where<_createdAt": query.get_list("where<_createdAt"),
        "perPage": query.get_list("perPage"),
    }
    wanted = {
        "in_status": ["new", "pending"],
        "where>_createdAt": ["2026-01-01T00:00:00+00:00"],
        "where<_createdAt": ["2027-01-01T00:00:00+00:00"],
        "perPage": ["5"],
    }
    if sent != wanted:
        failures.append(f"the list query sent {sent}, not {wanted} (raw: {seen[0].url.query!r})")
    else:
        print(f"  list query: {seen[0].url.query.decode()}")
    for key in query.keys():
        if key in ("createdAfter", "createdBefore"):
            failures.append(f"the list query sent the object parameter's own name {key!r}")

    for failure in failures:
        print(f"FAIL {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
