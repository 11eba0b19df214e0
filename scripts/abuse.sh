#!/usr/bin/env bash
# `make abuse` (not in CI): one link's floods against the release build while
# another user is served; see tests/src/bin/bv-abuse.rs. Options through
# ABUSE_ARGS, e.g. `make abuse ABUSE_ARGS="--seconds 60 --no-rate-limits"`.
set -euo pipefail
cd "$(dirname "$0")/.."
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
scripts/services.sh rabbitmq postgres
scripts/models.sh --fixtures
cargo build --release --quiet -p bv-e2e --bin bv-abuse --bin e2e-bv-ingress --bin e2e-bv-worker
exec target/release/bv-abuse ${ABUSE_ARGS:-}
