#!/usr/bin/env bash
# `make docs-check`: validates the AMQP contract documents.
#   1. docs/asyncapi.yaml with the official AsyncAPI CLI (`asyncapi validate`,
#      what `npx --yes @asyncapi/cli validate` runs), installed once, pinned,
#      under var/tools/node (git-ignored) rather than fetched on every run;
#   2. every docs/schemas/*.json against its metaschema (check-jsonschema);
#   3. the worked examples: each message example in the AsyncAPI document
#      against its payload schema file and its headers schema, plus each
#      schema file's own `examples`;
#   4. the alerting rules: `promtool check rules` and `promtool test rules`
#      (deploy/prometheus/), promtool from Debian's `prometheus` package;
#   5. scripts/monitoring.py check: the PrometheusRule is the rules file, every
#      alert has its runbook and tests, the Grafana dashboard is what
#      deploy/grafana/dashboard.py builds with Grafana's Foundation SDK (pinned,
#      hashed in tools/docs-check/requirements.txt) and reads back through its
#      model, and every metric the rules and panels name exists;
#   6. the Kubernetes package (scripts/k8s-check.py): every documented
#      composition of deploy/k8s rendered with `kubectl kustomize`, its built-in
#      objects validated with kubernetes-validate --strict against Kubernetes
#      1.30 and the newest it carries, the KEDA and Prometheus Operator objects
#      against their CRDs (tools/k8s-check/crds), strictly, and each composition
#      checked to render what deploy/README.md says (parts, Secret, roles,
#      references, NetworkPolicies). kubernetes-validate and its dependencies are
#      pinned and hashed in tools/k8s-check/requirements.txt;
#   7. every link in the repository's Markdown files (git ls-files '*.md'):
#      the file it names exists and so does the heading its #anchor names
#      (remark with remark-validate-links, pinned in tools/docs-check; no
#      network: web links are not fetched).
# Needs node/npm, python3 and kubectl (kustomize v5); fetches the tools from npm
# and PyPI on first use, and promtool with apt-get (as root) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

ASYNCAPI_CLI_VERSION=6.2.0 # as in tools/docs-check/package.json; declares Node >= 24 but validates correctly on Node 20 (npm warns EBADENGINE)
PROMTOOL_MIN_VERSION=2.42 # Debian bookworm's prometheus package
K8S_REQUIREMENTS=tools/k8s-check/requirements.txt
KUSTOMIZE_MIN_VERSION=5.0 # components, replacements with label selectors and wildcards

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
  step "installing the docs tools (@asyncapi/cli@$ASYNCAPI_CLI_VERSION, openapi-typescript, remark) into $NODE_PREFIX (npm ci)"
  rm -rf "$NODE_PREFIX"
  mkdir -p "$NODE_PREFIX"
  cp tools/docs-check/package.json tools/docs-check/package-lock.json "$NODE_PREFIX/"
  npm ci --prefix "$NODE_PREFIX" --no-audit --no-fund --loglevel=error
fi

# The Python tools, in the project's virtual environment (var/venv, scripts/venv.sh):
# check-jsonschema, the Grafana SDK (tools/docs-check/requirements.txt) and
# kubernetes-validate (tools/k8s-check/requirements.txt, without their own dependencies'
# resolution: every package is pinned there).
scripts/venv.sh tools/docs-check/requirements.txt
scripts/venv.sh --no-deps "$K8S_REQUIREMENTS"
PY=var/venv/bin/python3

# kubectl is on the machines already (its embedded kustomize renders the package); Debian
# bookworm's own kubernetes-client (1.20, kustomize v2) is too old for components.
kustomize_version() {
  kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\.[0-9]*\).*/\1/p'
}
KUSTOMIZE_VERSION=$(kustomize_version)
if [[ -z "$KUSTOMIZE_VERSION" ]] ||
  ! printf '%s\n%s\n' "$KUSTOMIZE_MIN_VERSION" "$KUSTOMIZE_VERSION" | sort -V -C; then
  echo "docs-check: needs kubectl with kustomize >= v$KUSTOMIZE_MIN_VERSION (found: ${KUSTOMIZE_VERSION:-none})" >&2
  exit 1
fi

# promtool comes with Debian's prometheus package, whose scripts would start
# the Prometheus server (listening on :9090, the worker's default metrics port):
# a policy-rc.d keeps them from starting it while it installs, and a systemd
# host gets the unit disabled. Only promtool is used.
promtool_recent() {
  local v
  v=$(promtool --version 2>/dev/null | sed -n 's/^promtool, version \([0-9]*\.[0-9]*\).*/\1/p')
  [[ -n "$v" ]] && printf '%s\n%s\n' "$PROMTOOL_MIN_VERSION" "$v" | sort -V -C
}
if ! promtool_recent; then
  if ! command -v apt-get >/dev/null 2>&1 || [[ "$(id -u)" != 0 ]]; then
    echo "docs-check: needs promtool >= $PROMTOOL_MIN_VERSION (Debian: apt-get install prometheus)" >&2
    exit 1
  fi
  step "installing promtool (Debian's prometheus package, its server not started)"
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
  promtool_recent || { echo "docs-check: promtool >= $PROMTOOL_MIN_VERSION is still missing" >&2; exit 1; }
fi

step "AsyncAPI document: asyncapi validate docs/asyncapi.yaml ($("$ASYNCAPI" --version | head -n1 | cut -d' ' -f1))"
"$ASYNCAPI" validate docs/asyncapi.yaml --fail-severity warn

step "JSON Schemas against their metaschema: check-jsonschema --check-metaschema docs/schemas/*.json"
var/venv/bin/check-jsonschema --check-metaschema docs/schemas/*.json

step "worked examples against their schemas (AsyncAPI message examples, schema examples)"
"$PY" - <<'EOF'
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

step "alerting rules: promtool check rules deploy/prometheus/rules.yaml ($(promtool --version | head -n1 | cut -d' ' -f3))"
promtool check rules deploy/prometheus/rules.yaml

step "alert tests: promtool test rules deploy/prometheus/rules.test.yaml"
promtool test rules deploy/prometheus/rules.test.yaml

step "PrometheusRule, runbooks, tests per alert, Grafana dashboard, metric names: scripts/monitoring.py check"
"$PY" scripts/monitoring.py check

step "Kubernetes package: scripts/k8s-check.py (kubectl $(kubectl version --client 2>/dev/null | sed -n 's/^Client Version: //p'), kustomize v$KUSTOMIZE_VERSION)"
"$PY" scripts/k8s-check.py

step "Markdown links: remark-validate-links over every tracked .md file (files and #headings)"
mapfile -t markdown < <(git ls-files '*.md')
"$NODE_PREFIX/node_modules/.bin/remark" --no-config --frail --quiet --no-stdout --no-color \
  --use "$PWD/$NODE_PREFIX/node_modules/remark-validate-links/index.js=repository:false" \
  "${markdown[@]}"

# The API document (crates/ingress/openapi.json): a Python client generated
# with openapi-python-client (every operation, mypy --strict), TypeScript types
# with openapi-typescript (tsc --strict), and the breaking-change report against
# the last release; see scripts/openapi-check.sh. Uses the npm tools installed above.
scripts/openapi-check.sh

step "docs-check: all passed"
