#!/usr/bin/env bash
# Makes sure the local services the project needs are installed and running.
# Usage: scripts/services.sh rabbitmq|postgres ...
# Installs with apt-get when missing (as root), starts when stopped, and waits
# until each one answers. Safe to run repeatedly.
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    log "cannot install $* here (need apt-get as root); install it and re-run"
    exit 1
  fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port name seconds
  for _ in $(seq 1 "$3"); do
    port_open "$1" && return 0
    sleep 1
  done
  log "$2 did not start listening on 127.0.0.1:$1"
  exit 1
}

rabbitmq() {
  if port_open 5672; then return 0; fi
  command -v rabbitmq-server >/dev/null 2>&1 || apt_install rabbitmq-server
  log "starting RabbitMQ"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_port 5672 RabbitMQ 90
  rabbitmqctl await_startup >/dev/null 2>&1 || true
}

postgres() {
  if port_open 5432; then return 0; fi
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432 PostgreSQL 60
}

for service in "$@"; do
  "$service"
done
