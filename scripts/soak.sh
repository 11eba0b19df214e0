#!/usr/bin/env bash
# `make soak` (not in CI): see tests/src/bin/bv-soak.rs. Options through
# SOAK_ARGS, e.g. `make soak SOAK_ARGS="--seconds 120 --fault-every 30"`.
set -euo pipefail
cd "$(dirname "$0")/.."
# One OpenBLAS thread per face-engine call (README, "Face engine").
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
scripts/services.sh rabbitmq postgres
scripts/models.sh --fixtures
cargo build --release --quiet -p bv-e2e --bin bv-soak --bin e2e-bv-ingress --bin e2e-bv-worker
exec target/release/bv-soak ${SOAK_ARGS:-}
