#!/usr/bin/env python3
"""Breaking-change report of the API document against the last released one.

    scripts/openapi-diff.py [--base REV | --base-file PATH] [--fail] [DOCUMENT]
    scripts/openapi-diff.py --self-test

oasdiff, the usual tool, is a Go binary that no registry here carries, and the
npm/PyPI diff tools read OpenAPI 3.0 only; this is the small equivalent that
`make docs-check` runs. DOCUMENT (default crates/ingress/openapi.json) is
compared with the same file at the newest release tag (`v*`, by version) or,
until there is one, at HEAD (so it reports what the uncommitted edit breaks);
--base names another git revision, --base-file a file.

What an existing integrator would break on is reported as BREAKING:
  - an operation removed (method and path);
  - a parameter removed, newly required, or added as required; its type
    changed, or an enum value it accepted removed;
  - in a request body: a property removed (the service refuses unknown
    fields), newly required or added as required, its type changed, an enum
    value removed;
  - a response status or media type removed;
  - in a response, or a webhook the service sends: a property removed or no
    longer required, its type changed;
as CLIENTS what keeps the wire but changes code written against a generated
client: an operationId or a declared parameter renamed or gone (a query
parameter described as an exploded object is compared by the keys it sends);
and as NOTE: additions (operations, optional parameters, statuses, response
properties) and enum values a response may now carry that it did not before.
The exit status is 0 (a report), or 1 with --fail when something is BREAKING.
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import subprocess
import sys
from typing import Any, Iterator

DOCUMENT = "crates/ingress/openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def resolve(doc: dict[str, Any], node: Any) -> Any:
    seen = set()
    while isinstance(node, dict) and "$ref" in node and node["$ref"].startswith("#/"):
        ref = node["$ref"]
        if ref in seen:
            break
        seen.add(ref)
        target: Any = doc
        for token in ref[2:].split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def types_of(schema: dict[str, Any]) -> frozenset[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return frozenset(kind)
    if isinstance(kind, str):
        return frozenset([kind])
    if "const" in schema:
        return frozenset([type(schema["const"]).__name__])
    return frozenset()


def fields(doc: dict[str, Any], schema: Any, path: str = "", required: bool = True,
           out: dict[str, dict[str, Any]] | None = None, stack: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """Every place of a schema, by a readable path: its types, enum, and whether it is required."""
    out = {} if out is None else out
    ref = schema.get("$ref") if isinstance(schema, dict) else None
    if ref in stack:
        return out
    schema = resolve(doc, schema)
    if not isinstance(schema, dict):
        return out
    stack = stack + ((ref,) if ref else ())
    entry = out.setdefault(path or "(body)", {"types": frozenset(), "enum": None, "required": required})
    entry["types"] = entry["types"] | types_of(schema)
    if "enum" in schema:
        entry["enum"] = frozenset(map(json.dumps, schema["enum"]))
    for sub in schema.get("allOf", []):
        fields(doc, sub, path, required, out, stack)
    for key in ("oneOf", "anyOf"):
        for i, sub in enumerate(schema.get(key, [])):
            branch = resolve(doc, sub)
            label = branch.get("title") if isinstance(branch, dict) else None
            fields(doc, sub, f"{path}<{label or i}>", required, out, stack)
    needed = set(schema.get("required", []))
    for name, sub in schema.get("properties", {}).items():
        fields(doc, sub, f"{path}.{name}" if path else name, name in needed, out, stack)
    if isinstance(schema.get("items"), dict):
        fields(doc, schema["items"], f"{path}[]", True, out, stack)
    return out


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for path, item in doc.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item, item[method]


def parameters(doc: dict[str, Any], item: dict[str, Any], op: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The parameters as they are on the wire: an exploded form object (`style: form`,
    `explode: true`, the default for the query) is its properties, each a key of its own."""
    found = {}
    for p in item.get("parameters", []) + op.get("parameters", []):
        p = resolve(doc, p)
        schema = resolve(doc, p.get("schema", {}))
        exploded = p.get("style", "form") == "form" and p.get("explode", True)
        if p["in"] == "query" and exploded and schema.get("type") == "object" and "properties" in schema:
            needed = set(schema.get("required", []))
            for key, sub in schema["properties"].items():
                found[(p["in"], key)] = {"name": key, "in": p["in"], "schema": sub,
                                         "required": bool(p.get("required")) and key in needed}
        else:
            found[(p["in"], p["name"])] = p
    return found


def declared(doc: dict[str, Any], item: dict[str, Any], op: dict[str, Any]) -> set[tuple[str, str]]:
    """The parameters as the document names them: generated clients' argument names."""
    listed = [resolve(doc, p) for p in item.get("parameters", []) + op.get("parameters", [])]
    return {(p["in"], p["name"]) for p in listed}


def compare(base: dict[str, Any], new: dict[str, Any]) -> tuple[list[str], list[str], list[str]]:
    breaking: list[str] = []
    clients: list[str] = []
    notes: list[str] = []

    def schemas(where: str, old_schema: Any, new_schema: Any, outgoing: bool) -> None:
        old_f, new_f = fields(base, old_schema), fields(new, new_schema)
        for place, was in old_f.items():
            now = new_f.get(place)
            if now is None:
                if outgoing or not place.startswith("(body)"):
                    breaking.append(f"{where}: `{place}` removed")
                continue
            if was["types"] and now["types"] and was["types"] != now["types"]:
                breaking.append(f"{where}: `{place}` type {sorted(was['types'])} -> {sorted(now['types'])}")
            if outgoing and was["required"] and not now["required"]:
                breaking.append(f"{where}: `{place}` no longer always present")
            if not outgoing and not was["required"] and now["required"]:
                breaking.append(f"{where}: `{place}` now required")
            if was["enum"] is not None and now["enum"] is not None:
                if outgoing and now["enum"] - was["enum"]:
                    notes.append(f"{where}: `{place}` may now be {', '.join(sorted(now['enum'] - was['enum']))}")
                if not outgoing and was["enum"] - now["enum"]:
                    breaking.append(f"{where}: `{place}` no longer accepts {', '.join(sorted(was['enum'] - now['enum']))}")
        for place, now in new_f.items():
            if place not in old_f:
                parent = place.rsplit(".", 1)[0] if "." in place else "(body)"
                if not outgoing and now["required"] and parent in old_f:
                    breaking.append(f"{where}: new required `{place}`")
                elif outgoing:
                    notes.append(f"{where}: `{place}` added")

    def content(where: str, old: dict[str, Any], now: dict[str, Any], outgoing: bool) -> None:
        old_c, new_c = old.get("content", {}), now.get("content", {})
        for media, old_media in old_c.items():
            if media not in new_c:
                if outgoing:
                    breaking.append(f"{where}: media type {media} removed")
                else:
                    breaking.append(f"{where}: request media type {media} no longer accepted")
                continue
            if "schema" in old_media and "schema" in new_c[media]:
                schemas(f"{where} {media}", old_media["schema"], new_c[media]["schema"], outgoing)

    old_ops = {key: (item, op) for key, item, op in operations(base)}
    new_ops = {key: (item, op) for key, item, op in operations(new)}
    for key in new_ops.keys() - old_ops.keys():
        notes.append(f"{key}: operation added")
    for key, (old_item, old_op) in old_ops.items():
        if key not in new_ops:
            breaking.append(f"{key}: operation removed")
            continue
        new_item, new_op = new_ops[key]
        if old_op.get("operationId") != new_op.get("operationId"):
            clients.append(f"{key}: operationId {old_op.get('operationId')} -> {new_op.get('operationId')}"
                           " (generated clients rename the call)")
        old_d, new_d = declared(base, old_item, old_op), declared(new, new_item, new_op)
        for where, name in sorted(old_d - new_d):
            clients.append(f"{key}: {where} parameter `{name}` no longer declared (generated clients lose"
                           " or rename the argument)")
        old_p, new_p = parameters(base, old_item, old_op), parameters(new, new_item, new_op)
        for (where, name), p in old_p.items():
            if (where, name) not in new_p:
                breaking.append(f"{key}: {where} parameter `{name}` removed")
                continue
            q = new_p[(where, name)]
            if not p.get("required") and q.get("required"):
                breaking.append(f"{key}: {where} parameter `{name}` now required")
            if "schema" in p and "schema" in q:
                schemas(f"{key} {where} parameter `{name}`", p["schema"], q["schema"], outgoing=False)
        for (where, name), q in new_p.items():
            if (where, name) not in old_p:
                if q.get("required"):
                    breaking.append(f"{key}: new required {where} parameter `{name}`")
                else:
                    notes.append(f"{key}: {where} parameter `{name}` added")
        if "requestBody" in old_op:
            old_body = resolve(base, old_op["requestBody"])
            new_body = resolve(new, new_op.get("requestBody", {}))
            content(f"{key} request", old_body, new_body, outgoing=False)
        elif new_op.get("requestBody", {}).get("required"):
            breaking.append(f"{key}: a request body is now required")
        old_r, new_r = old_op.get("responses", {}), new_op.get("responses", {})
        for status, response in old_r.items():
            if status not in new_r:
                breaking.append(f"{key}: response {status} removed")
                continue
            content(f"{key} {status}", resolve(base, response), resolve(new, new_r[status]), outgoing=True)
        for status in new_r.keys() - old_r.keys():
            notes.append(f"{key}: response {status} added")
    # Webhooks: the service sends them, so their bodies are answers to the receiver.
    for name, item in base.get("webhooks", {}).items():
        for method in METHODS:
            if method not in item:
                continue
            now = new.get("webhooks", {}).get(name, {}).get(method)
            if now is None:
                breaking.append(f"webhook {name}: removed")
                continue
            content(f"webhook {name}", resolve(base, item[method].get("requestBody", {})),
                    resolve(new, now.get("requestBody", {})), outgoing=True)
    return sorted(set(breaking)), sorted(set(clients)), sorted(set(notes))


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def base_revision() -> tuple[str, str]:
    tags = [t for t in git("tag", "--list", "v[0-9]*", "--sort=-version:refname").split() if t]
    if tags:
        return tags[0], f"the last release, {tags[0]}"
    return "HEAD", "HEAD (no release tag `v*` yet: the last commit)"


def self_test() -> int:
    """Each kind of break, made on a copy of the document, is reported."""
    doc = json.loads(pathlib.Path(DOCUMENT).read_text())
    cases = {
        "operation removed": (lambda d: d["paths"]["/healthz"].pop("get"), "GET /healthz: operation removed"),
        "parameter removed": (
            lambda d: d["paths"]["/v2/biometric-validations"]["get"]["parameters"].pop(0),
            "query parameter `page` removed"),
        "response property removed": (
            lambda d: d["components"]["schemas"]["PublicView"]["properties"].pop("attemptsLeft"),
            "`<PublicViewResponse>.data.attemptsLeft` removed"),
        "request property now required": (
            lambda d: d["components"]["schemas"]["CreateBiometricValidationRequest"]["required"].append("email"),
            "`email` now required"),
        "response status removed": (
            lambda d: d["paths"]["/readyz"]["get"]["responses"].pop("503"), "GET /readyz: response 503 removed"),
        "webhook field removed": (
            lambda d: d["components"]["schemas"]["BiometricValidationCreatedEvent"]["properties"].pop("timestamp"),
            "webhook biometric_validation.created"),
    }
    failures = 0
    same = compare(doc, doc)
    if any(same):
        print(f"FAIL the document against itself: {same}")
        failures += 1
    for name, (mutate, expected) in cases.items():
        changed = copy.deepcopy(doc)
        mutate(changed)
        breaking, _, _ = compare(doc, changed)
        if any(expected in line for line in breaking):
            print(f"  ok {name}")
        else:
            print(f"FAIL {name}: expected {expected!r} in {breaking}")
            failures += 1
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("document", nargs="?", default=DOCUMENT)
    parser.add_argument("--base", help="a git revision whose document is the baseline")
    parser.add_argument("--base-file", help="a file that is the baseline")
    parser.add_argument("--fail", action="store_true", help="exit 1 when a change is breaking")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    new = json.loads(pathlib.Path(args.document).read_text())
    if args.base_file:
        base, label = json.loads(pathlib.Path(args.base_file).read_text()), args.base_file
    else:
        try:
            rev, label = (args.base, args.base) if args.base else base_revision()
            base = json.loads(git("show", f"{rev}:{DOCUMENT}"))
        except (OSError, subprocess.CalledProcessError) as err:
            detail = getattr(err, "stderr", "") or err
            print(f"no baseline document (not a git checkout, or no {DOCUMENT} there): {detail}".strip())
            return 0
    breaking, clients, notes = compare(base, new)
    print(f"{args.document} against {label} (info.version {base['info'].get('version')} -> "
          f"{new['info'].get('version')}): {len(breaking)} breaking on the wire, {len(clients)} for"
          f" generated clients' code, {len(notes)} other changes")
    for line in breaking:
        print(f"  BREAKING {line}")
    for line in clients:
        print(f"  CLIENTS  {line}")
    for line in notes:
        print(f"  NOTE     {line}")
    return 1 if breaking and args.fail else 0


if __name__ == "__main__":
    sys.exit(main())
