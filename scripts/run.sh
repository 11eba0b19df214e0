#!/usr/bin/env bash
# `make run`: the service on its embedded defaults (SQLite in var/, local
# RabbitMQ), with a demo client, project and active flow, and a curl example.
# Ctrl-C stops both processes.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh rabbitmq
mkdir -p var
# The face engine's libraries and models (checked by sha256; a no-op when there).
scripts/models.sh
# Cargo's own progress: the first build compiles some 500 crates (about ten
# minutes on two cores); later ones take seconds.
echo "==> building bv-ingress, bv-worker and bvctl"
cargo build --bin bv-ingress --bin bv-worker --bin bvctl

# A JWT secret of this checkout, kept across runs so issued tokens stay valid.
if [ ! -s var/jwt_secret ]; then
  head -c 48 /dev/urandom | base64 | tr -d '/+=\n' > var/jwt_secret
fi
export BV__AUTH__JWT_SECRET="${BV__AUTH__JWT_SECRET:-$(cat var/jwt_secret)}"
bin=target/debug
# The Ed25519 key signing session tokens and results, kept like the secret.
if [ ! -s var/signing_keys ]; then
  $bin/bvctl keys generate --kid dev-1 > var/signing_keys
fi
export BV__BIOMETRICS__SIGNING_KEYS="${BV__BIOMETRICS__SIGNING_KEYS:-$(cat var/signing_keys)}"
# The AES-256 key sealing enrolled face templates, kept like the others (a new
# one would leave the templates already stored unreadable).
if [ ! -s var/template_keys ]; then
  $bin/bvctl keys generate --template --kid dev-t1 > var/template_keys
fi
export BV__BIOMETRICS__TEMPLATE_KEYS="${BV__BIOMETRICS__TEMPLATE_KEYS:-$(cat var/template_keys)}"
# One OpenBLAS thread per face-engine call: the consumers are the parallelism
# (README, "Face engine").
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
export BV__EMAIL__FILE_DIR="${BV__EMAIL__FILE_DIR:-var/mail}"

$bin/bvctl migrate
client=client_123456789 project=project_123456789 flow=flow_123456789
if ! $bin/bvctl --json project list --client "$client" | grep -q "\"$project\""; then
  $bin/bvctl project create --client "$client" --name "Demo project" --id "$project" >/dev/null
  $bin/bvctl flow create --project "$project" --type onboarding --id "$flow" >/dev/null
fi
token=$($bin/bvctl token issue --client "$client" --ttl 30d)

$bin/bv-worker > var/worker.log 2>&1 &
worker=$!
$bin/bv-ingress > var/ingress.log 2>&1 &
ingress=$!
trap 'kill $worker $ingress 2>/dev/null; wait 2>/dev/null; echo; echo "stopped"' EXIT
trap 'exit 0' INT TERM

addr="${BV__HTTP__ADDR:-127.0.0.1:8080}"
for _ in $(seq 1 50); do
  curl -fs "http://$addr/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
# GNU date, else BSD/macOS date.
expires=$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -v+1d +%Y-%m-%dT%H:%M:%SZ)

cat <<MSG

bv-ingress is listening on http://$addr (logs: var/ingress.log, var/worker.log)
Demo client: $client   project: $project   flow: $flow (onboarding, active)

Create a biometric validation (the seed's example, as the demo flow's type,
onboarding: the person's face is enrolled when they pass):

curl -s -X POST http://$addr/v2/biometric-validations \\
  -H 'Content-Type: application/json' \\
  -H 'Authorization: Bearer $token' \\
  -d '{"project": "$project", "projectFlow": "$flow", "identifier": "user@example.com", "type": "onboarding", "expiresAt": "$expires", "redirectUrl": "https://example.com/success", "requires2FA": false, "ipAddress": "192.168.1.1", "sendViaEmail": true, "email": "user@example.com", "language": "en"}'

The answer's "url" is the hosted capture page (its session token is in the
#fragment): open it in a browser, allow the camera, follow the prompts (face
the camera, then turn or tilt your head as asked). The demo project uses the
built-in face engine (README, "Face engine"): a still photo fails liveness.
For deterministic outcomes, switch it to the sandbox engine:
  $bin/bvctl project update $project --engine sandbox
The same link is in the email, written to var/mail/. Once enrolled, the same
request with "type": "login" checks that the same person is back.

Read it back:   curl -s http://$addr/v2/biometric-validations -H 'Authorization: Bearer $token'
OpenAPI:        http://$addr/openapi.json
Signing keys:   http://$addr/.well-known/jwks.json

Press Ctrl-C to stop.
MSG
wait
