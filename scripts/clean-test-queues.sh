#!/usr/bin/env bash
# Deletes queues and exchanges left by interrupted test runs (names `t<32 hex>.…`);
# the test harness removes its own when a test ends normally.
set -euo pipefail
for q in $(rabbitmqctl -q list_queues name 2>/dev/null | grep -E '^t[0-9a-f]{32}\.' || true); do
  rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
done
if command -v rabbitmqadmin >/dev/null 2>&1; then
  for e in $(rabbitmqctl -q list_exchanges name 2>/dev/null | grep -E '^t[0-9a-f]{32}\.' || true); do
    rabbitmqadmin delete exchange name="$e" >/dev/null 2>&1 || true
  done
fi
