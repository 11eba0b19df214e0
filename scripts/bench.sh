#!/usr/bin/env bash
# `make bench`: see tests/src/bin/bv-bench.rs. Pass options through BENCH_ARGS,
# e.g. `make bench BENCH_ARGS="--messages 20000"`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh rabbitmq postgres
scripts/models.sh --fixtures
cargo build --release --quiet -p bv-e2e --bin bv-bench
exec target/release/bv-bench ${BENCH_ARGS:-}
