#!/usr/bin/env bash
# Installs what the webhook examples need, pinned and checked, once:
#   node    npm ci (package-lock.json's integrity hashes) into node/node_modules
#   python  a virtualenv in python/.venv, pip --require-hashes
#   go      Debian's golang-go when `go` is missing (as root or with sudo);
#           the example uses the standard library only
# Usage: install.sh [node] [python] [go] (none: all). Run by scripts/test.sh
# and by the test (tests/tests/it/webhook_examples.rs); a no-op when
# installed from the same lock/requirements file.
set -euo pipefail
cd "$(dirname "$0")"
[ $# -gt 0 ] || set -- node python go

# One install at a time (the tests of several examples start together).
exec 9>.install.lock
flock 9

# The sha256 of a file, to tell whether an install is from it.
stamp() { sha256sum "$1" | cut -d' ' -f1; }

for what in "$@"; do
  case "$what" in
    node)
      if [ "$(cat node/node_modules/.installed-from 2>/dev/null)" != "$(stamp node/package-lock.json)" ]; then
        (cd node && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
        stamp node/package-lock.json >node/node_modules/.installed-from
      fi
      ;;
    python)
      if [ "$(cat python/.venv/.installed-from 2>/dev/null)" != "$(stamp python/requirements.txt)" ]; then
        rm -rf python/.venv
        python3 -m venv python/.venv
        python/.venv/bin/python -m pip install --quiet --disable-pip-version-check \
          --require-hashes -r python/requirements.txt
        stamp python/requirements.txt >python/.venv/.installed-from
      fi
      ;;
    go)
      if ! command -v go >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ]; then
          as_root=()
        elif command -v sudo >/dev/null 2>&1; then
          as_root=(sudo)
        else
          echo "install.sh: the Go example needs go; install it" \
            "(apt-get install golang-go) or run as root" >&2
          exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        "${as_root[@]}" apt-get update -qq
        "${as_root[@]}" apt-get install -y -qq --no-install-recommends golang-go >/dev/null
      fi
      ;;
    *)
      echo "install.sh: unknown example '$what' (node, python or go)" >&2
      exit 2
      ;;
  esac
done
