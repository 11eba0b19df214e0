#!/usr/bin/env bash
# `make bench`: see tests/src/bin/bv-bench/. Pass options through BENCH_ARGS,
# e.g. `make bench BENCH_ARGS="--messages 20000"`.
set -euo pipefail
cd "$(dirname "$0")/.."
# One OpenBLAS thread per face-engine call (README, "Face engine").
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
scripts/services.sh rabbitmq postgres
scripts/models.sh --fixtures
cargo build --release -p bv-e2e --bin bv-bench --bin e2e-bv-worker \
  --bin e2e-bv-ingress --bin e2e-bare
exec target/release/bv-bench ${BENCH_ARGS:-}
