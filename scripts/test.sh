#!/usr/bin/env bash
# `make test`: the whole suite against real RabbitMQ and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh rabbitmq postgres
# The email tests run a real SMTP server (aiosmtpd); the metrics test parses
# with the reference OpenMetrics parser (prometheus_client). Pinned, hashed.
if ! python3 -c 'import aiosmtpd, prometheus_client' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r tests/requirements.txt
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --test-threads 4 --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@" -- --test-threads 4
fi
