#!/usr/bin/env bash
# The API document (crates/ingress/openapi.json) as integrators meet it: a step
# of `make docs-check`, run after it has installed its npm tools.
#   1. a Python client generated with openapi-python-client (pinned and hashed,
#      with mypy, in tools/docs-check/openapi-requirements.txt; installed into
#      a virtualenv under var/tools): every operation generated (a "will not be
#      generated" warning fails), the package and
#      tools/docs-check/openapi/check_python_client.py type-checked with
#      `mypy --strict`, and that script run: each operation's module, the two
#      views of GET /{id} parsed from the document's examples into their own
#      types, the list query sent as the service parses it;
#   2. TypeScript types generated with openapi-typescript (pinned in
#      tools/docs-check/package.json), type-checked with `tsc --noEmit --strict`
#      together with tools/docs-check/openapi/usage.ts and a file naming every
#      operationId of the document;
#   3. the breaking-change report (scripts/openapi-diff.py) against the last
#      release tag, or HEAD before the first one, after its self-test.
# The responses themselves are checked against the document by the test suite
# (tests/src/openapi.rs, tests/tests/it/openapi.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

DOC=crates/ingress/openapi.json
TOOLS=var/tools
VENV=$TOOLS/openapi-python
REQUIREMENTS=tools/docs-check/openapi-requirements.txt
NODE_BIN=$TOOLS/node/node_modules/.bin
OUT=$TOOLS/openapi-clients

step() { printf '\n==> %s\n' "$*"; }

for tool in openapi-typescript tsc; do
  if [[ ! -x "$NODE_BIN/$tool" ]]; then
    echo "openapi-check: $NODE_BIN/$tool is missing: run make docs-check (it installs tools/docs-check/package.json)" >&2
    exit 1
  fi
done

# Its own virtualenv: openapi-python-client pins versions (pydantic, httpx, …)
# that the other tools in var/venv need not agree with.
scripts/venv.sh --venv "$VENV" "$REQUIREMENTS"

rm -rf "$OUT"
mkdir -p "$OUT/python" "$OUT/ts"

step "Python client: openapi-python-client $("$VENV/bin/openapi-python-client" --version | awk '{print $NF}') generate --path $DOC"
# Without its post-generation hooks (ruff): see tools/docs-check/openapi/python-client.yaml.
if ! "$VENV/bin/openapi-python-client" generate --path "$DOC" --meta none \
  --config tools/docs-check/openapi/python-client.yaml \
  --output-path "$OUT/python/bv_client" >"$OUT/python/generate.log" 2>&1; then
  cat "$OUT/python/generate.log"
  echo "openapi-check: openapi-python-client failed" >&2
  exit 1
fi
# The one warning allowed: /metrics answers OpenMetrics text, which it has no
# type for (the operation is generated; its body is left as bytes).
warnings=$(grep '^WARNING' "$OUT/python/generate.log" || true)
unexpected=$(grep -v '^WARNING parsing GET /metrics within' <<<"$warnings" || true)
if [[ -n "$unexpected" ]] || grep -q 'will not be generated' "$OUT/python/generate.log"; then
  cat "$OUT/python/generate.log"
  echo "openapi-check: the Python client is missing parts of the document (above)" >&2
  exit 1
fi
printf '  generated; %s warning(s), all expected: %s\n' "$(grep -c . <<<"$warnings" || true)" \
  "${warnings:-none}"
cp tools/docs-check/openapi/check_python_client.py "$OUT/python/"
(
  cd "$OUT/python"
  step "Python client: mypy --strict bv_client check_python_client.py ($("$OLDPWD/$VENV/bin/mypy" --version | cut -d' ' -f1-2))"
  "$OLDPWD/$VENV/bin/mypy" --strict --cache-dir "$OLDPWD/$TOOLS/openapi-mypy-cache" \
    bv_client check_python_client.py
  step "Python client: every operation, both views of GET /{id}, the list query (check_python_client.py)"
  "$OLDPWD/$VENV/bin/python" check_python_client.py "$OLDPWD/$DOC"
)

step "TypeScript types: openapi-typescript $DOC ($("$NODE_BIN/openapi-typescript" --version 2>/dev/null | tr -d '\n' || true))"
"$NODE_BIN/openapi-typescript" "$DOC" -o "$OUT/ts/api.d.ts" --silent
cp tools/docs-check/openapi/usage.ts "$OUT/ts/"
python3 - "$DOC" >"$OUT/ts/operations.ts" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()
       if isinstance(op, dict) and "operationId" in op]
print("// Made by scripts/openapi-check.sh: every operationId of the document is a type.")
print('import type { operations } from "./api";')
print("export type Every = [")
for op in ids:
    print(f'  operations["{op}"],')
print("];")
EOF
step "TypeScript types: tsc --noEmit --strict usage.ts operations.ts ($("$NODE_BIN/tsc" --version))"
"$NODE_BIN/tsc" --noEmit --strict --target es2022 --module esnext --moduleResolution bundler \
  "$OUT/ts/usage.ts" "$OUT/ts/operations.ts"
echo "  $(grep -c 'operations\["' "$OUT/ts/operations.ts") operations type-checked"

step "breaking changes: scripts/openapi-diff.py --self-test, then the report"
python3 scripts/openapi-diff.py --self-test
python3 scripts/openapi-diff.py "$DOC"
