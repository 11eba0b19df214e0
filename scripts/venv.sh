#!/usr/bin/env bash
# The project's Python tools live in one virtual environment, var/venv (made
# here with `python3 -m venv`), never in the system's Python. Installs each
# requirements file given (pip --require-hashes) unless the environment holds
# it already (a stamp of the file's sha256), one install at a time.
#
# Usage: scripts/venv.sh [--venv DIR] [--no-deps] FILE...
# then run var/venv/bin/python or var/venv/bin/TOOL. The tests find
# var/venv/bin/python3 themselves (tests/src/python.rs). --venv DIR makes and
# fills another environment (a tool whose pins disagree with the others:
# openapi-python-client, scripts/openapi-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=var/venv
flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    --no-deps) flags+=(--no-deps); shift ;;
    *) break ;;
  esac
done

mkdir -p var "$(dirname "$VENV")"
exec 9>var/.venv.lock
flock 9

if [ ! -x "$VENV/bin/python3" ]; then
  if ! python3 -m venv "$VENV"; then
    rm -rf "$VENV"
    echo "venv.sh: python3 -m venv failed: install Debian's python3-venv" >&2
    exit 1
  fi
fi
mkdir -p "$VENV/.installed"
for file in "$@"; do
  stamp="$VENV/.installed/$(printf '%s' "$file" | tr '/' '_')"
  sum="$(sha256sum "$file" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
    echo "venv.sh: installing $file into $VENV (pip --require-hashes)" >&2
    "$VENV/bin/python3" -m pip install --quiet --disable-pip-version-check \
      --require-hashes "${flags[@]}" -r "$file"
    echo "$sum" >"$stamp"
  fi
done
