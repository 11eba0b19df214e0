#!/usr/bin/env bash
# `make test`: the whole suite against real RabbitMQ and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh rabbitmq postgres

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --test-threads 4 --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@" -- --test-threads 4
fi
