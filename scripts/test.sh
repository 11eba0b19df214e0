#!/usr/bin/env bash
# `make test`: the whole suite against real RabbitMQ and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

# One OpenBLAS thread per face-engine call (README, "Face engine").
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
scripts/services.sh rabbitmq postgres
# The face engine's libraries, models and test photos (pinned by sha256).
scripts/models.sh --fixtures
# The email tests run a real SMTP server (aiosmtpd); the metrics test parses
# with the reference OpenMetrics parser (prometheus_client); joserfc verifies
# our signatures. Pinned, hashed, in var/venv (the tests run its python3).
scripts/venv.sh tests/requirements.txt
# The webhook examples (tests/tests/it/webhook_examples.rs): Node and Python
# packages pinned by integrity hash / sha256, Go from Debian. A no-op once installed.
examples/webhooks/install.sh
# The browser tests drive Debian's headless Chromium through chromedriver and
# make the fake camera's video with ffmpeg (tests/src/browser.rs).
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || ! command -v ffmpeg >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "test.sh: the browser tests need chromium, chromium-driver and ffmpeg;" \
      "install them (apt-get install chromium chromium-driver ffmpeg) or run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver ffmpeg >/dev/null
fi

# In CI (a fresh clone, built once): no incremental caches, which would
# only take disk space.
if [ "${CI:-}" = "true" ]; then
  export CARGO_INCREMENTAL=0
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --test-threads 4 --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@" -- --test-threads 4
fi
