#!/usr/bin/env bash
# `make fuzz`: schemathesis against the served OpenAPI document, with a valid
# client token, on a fresh PostgreSQL database and AMQP prefix (dropped
# afterwards). Checks that no request gets a server error, and that every
# status code, content type and response body is the one the document
# declares. FUZZ_EXAMPLES sets the examples per operation (default 1500:
# about 10k requests in all).
set -euo pipefail
cd "$(dirname "$0")/.."

examples="${FUZZ_EXAMPLES:-1500}"
scripts/services.sh rabbitmq postgres
scripts/venv.sh tools/fuzz/requirements.txt
scripts/models.sh
cargo build --quiet --bin bv-ingress --bin bv-worker --bin bvctl
bin=target/debug

run_id="fuzz$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
port=$((20000 + RANDOM % 9000))
export BV__DATABASE__URL="postgres://postgres@127.0.0.1:5432/$run_id"
export BV__AMQP__PREFIX="$run_id"
BV__AUTH__JWT_SECRET="fuzz-secret-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export BV__AUTH__JWT_SECRET
BV__BIOMETRICS__SIGNING_KEYS="$($bin/bvctl keys generate --kid fuzz)"
export BV__BIOMETRICS__SIGNING_KEYS
BV__BIOMETRICS__TEMPLATE_KEYS="$($bin/bvctl keys generate --template --kid fuzz-t)"
export BV__BIOMETRICS__TEMPLATE_KEYS
export BV__HTTP__ADDR="127.0.0.1:$port"
export BV__WORKER__HTTP_ADDR="127.0.0.1:0"
export BV__WORKER__DISPATCH=false
export BV__TELEMETRY__LOG_LEVEL=warn
# Thousands of requests from one address: without this, most of the end
# user's operations would be answered 429 before their handler saw them.
export BV__RATE_LIMITS__IP_RATE=off
mkdir -p var
psql -q -h 127.0.0.1 -U postgres -c "CREATE DATABASE \"$run_id\"" postgres

cleanup() {
  kill "${worker:-}" "${ingress:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS \"$run_id\" WITH (FORCE)" postgres || true
  for q in biometric_validation.create biometric_validation.create.dead delivery.redeliver delivery.redeliver.dead biometric_validation.validate biometric_validation.validate.dead; do
    rabbitmqctl -q delete_queue "$run_id.$q" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

$bin/bvctl migrate >/dev/null
$bin/bvctl project create --client fuzz --name Fuzz --id project_123456789 >/dev/null
$bin/bvctl flow create --project project_123456789 --type login --id flow_123456789 >/dev/null
token=$($bin/bvctl token issue --client fuzz --ttl 1d)

$bin/bv-worker > "var/$run_id-worker.log" 2>&1 &
worker=$!
$bin/bv-ingress > "var/$run_id-ingress.log" 2>&1 &
ingress=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done

echo "==> schemathesis: $examples examples per operation against http://127.0.0.1:$port/openapi.json"
var/venv/bin/schemathesis run "http://127.0.0.1:$port/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" \
  --seed "${FUZZ_SEED:-1}" \
  --no-color
