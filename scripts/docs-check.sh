#!/usr/bin/env bash
# `make docs-check`: validates the AMQP contract documents.
#   1. docs/asyncapi.yaml with the official AsyncAPI CLI (`asyncapi validate`,
#      what `npx --yes @asyncapi/cli validate` runs), installed once, pinned,
#      under var/tools/node (git-ignored) rather than fetched on every run;
#   2. every docs/schemas/*.json against its metaschema (check-jsonschema);
#   3. the worked examples: each message example in the AsyncAPI document
#      against its payload schema file and its headers schema, plus each
#      schema file's own `examples`.
# Needs node/npm and python3; fetches the tools from npm and PyPI on first use.
set -euo pipefail
cd "$(dirname "$0")/.."

ASYNCAPI_CLI_VERSION=6.2.0 # as in tools/docs-check/package.json; declares Node >= 24 but validates correctly on Node 20 (npm warns EBADENGINE)
CHECK_JSONSCHEMA_VERSION=0.39.0

TOOLS=var/tools
NODE_PREFIX=$TOOLS/node
ASYNCAPI=$NODE_PREFIX/node_modules/.bin/asyncapi

step() { printf '\n==> %s\n' "$*"; }

# The CLI's telemetry: `ASYNCAPI_METRICS=false` is not read by it; it obeys
# its config file, so give it one of our own (analytics off, notice shown)
# instead of ~/.asyncapi-analytics. CI=true also turns metrics off.
export ASYNCAPI_METRICS_CONFIG_PATH="$PWD/$TOOLS/asyncapi-analytics.json"
export ASYNCAPI_METRICS=false CI=true
export SUPPRESS_NO_CONFIG_WARNING=1 # node-config's "no config directory" noise
mkdir -p "$TOOLS"
printf '{"analyticsEnabled":"false","infoMessageShown":"true","userID":"docs-check"}\n' \
  >"$ASYNCAPI_METRICS_CONFIG_PATH"

# Installed from tools/docs-check/package-lock.json (every package's integrity
# hash checked by `npm ci`), again whenever the lock file changes.
installed_cli() {
  node -p "require('./$NODE_PREFIX/node_modules/@asyncapi/cli/package.json').version" 2>/dev/null || true
}
if [[ "$(installed_cli)" != "$ASYNCAPI_CLI_VERSION" ]] ||
  ! cmp -s tools/docs-check/package-lock.json "$NODE_PREFIX/package-lock.json"; then
  step "installing @asyncapi/cli@$ASYNCAPI_CLI_VERSION into $NODE_PREFIX (npm ci)"
  rm -rf "$NODE_PREFIX"
  mkdir -p "$NODE_PREFIX"
  cp tools/docs-check/package.json tools/docs-check/package-lock.json "$NODE_PREFIX/"
  npm ci --prefix "$NODE_PREFIX" --no-audit --no-fund --loglevel=error
fi

if [[ "$(check-jsonschema --version 2>/dev/null || true)" != *" $CHECK_JSONSCHEMA_VERSION" ]]; then
  step "installing check-jsonschema==$CHECK_JSONSCHEMA_VERSION (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check \
    "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
fi

step "AsyncAPI document: asyncapi validate docs/asyncapi.yaml ($("$ASYNCAPI" --version | head -n1 | cut -d' ' -f1))"
"$ASYNCAPI" validate docs/asyncapi.yaml --fail-severity warn

step "JSON Schemas against their metaschema: check-jsonschema --check-metaschema docs/schemas/*.json"
check-jsonschema --check-metaschema docs/schemas/*.json

step "worked examples against their schemas (AsyncAPI message examples, schema examples)"
python3 - <<'EOF'
import json, pathlib, sys
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

docs = pathlib.Path("docs")
failures = 0
checked = 0

def check(what, schema, instance):
    global failures, checked
    checked += 1
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        failures += 1
        print(f"FAIL {what}")
        for e in errors[:5]:
            print(f"     at /{'/'.join(map(str, e.path))}: {e.message}")
    else:
        print(f"  ok {what}")

def plain(node):
    # ruamel's CommentedMap/Seq -> plain JSON values
    return json.loads(json.dumps(node, default=str))

asyncapi = plain(YAML(typ="safe").load((docs / "asyncapi.yaml").read_text()))
for name, message in asyncapi["components"]["messages"].items():
    payload = message.get("payload", {})
    ref = payload.get("$ref")
    payload_schema = json.loads((docs / ref).read_text()) if ref else payload
    headers = message.get("headers")
    for example in message.get("examples", []):
        label = f"{name} example {example.get('name', '?')}"
        if "payload" in example:
            check(f"{label}: payload vs {ref or 'inline payload schema'}", payload_schema, example["payload"])
        if headers is not None and "headers" in example:
            check(f"{label}: headers", headers, example["headers"])
        outcome = example.get("headers", {}).get("x-bv-outcome")
        if outcome is not None and outcome != example.get("payload", {}).get("type"):
            failures += 1
            print(f"FAIL {label}: x-bv-outcome {outcome!r} is not the body's type")

for path in sorted((docs / "schemas").glob("*.json")):
    schema = json.loads(path.read_text())
    for i, example in enumerate(schema.get("examples", [])):
        check(f"{path.name} examples[{i}]", schema, example)

print(f"{checked} checks, {failures} failed")
sys.exit(1 if failures else 0)
EOF

step "docs-check: all passed"
