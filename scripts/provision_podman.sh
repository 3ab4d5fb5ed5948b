#!/usr/bin/env bash
# Provision Podman next to Docker for devenv's Podman tests (CI and contributors only).
# Run after scripts/provision.sh (it needs the docker CLI, compose v2 and the offline base image).
# Idempotent: every step is skipped when what it makes is already there.
#
#   - Debian's podman 4.3 (no `podman compose`: compose v2 talks to podman's Docker-compatible
#     socket; podman 4.7+ `podman compose` delegates to the same docker-compose binary),
#     catatonit (the init that `init: true` needs) and uidmap;
#   - podman's API service on $PODMAN_SOCK (rootful, as CI runs as root);
#   - the offline base image, copied from Docker's store into podman's;
#   - a health pump: podman runs healthchecks from systemd timers, and there is no systemd here,
#     so without it a container's health stays "starting" for ever.
#
# Use it with: DOCKER_HOST=unix://$PODMAN_SOCK DOCKER_BUILDKIT=0 docker compose ...
set -euo pipefail

BASE_IMAGE="${DEVENV_BASE_IMAGE:-devenv-base:bookworm}"
PODMAN_SOCK="${PODMAN_SOCK:-/run/podman/podman.sock}"
STATE_DIR="${DEVENV_PROVISION_DIR:-/var/tmp/devenv-provision}"
HERE="$(cd "$(dirname "$0")" && pwd)"

say()  { printf 'provision-podman: %s\n' "$*" >&2; }
fail() { printf 'provision-podman: FAILED: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

mkdir -p "$STATE_DIR"

ensure_packages() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  [ -x /usr/libexec/podman/catatonit ] || [ -x /usr/bin/catatonit ] || missing+=(catatonit)
  command -v newuidmap >/dev/null 2>&1 || missing+=(uidmap)
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >"$STATE_DIR/apt-podman.log" 2>&1 \
    || { as_root apt-get update -qq >>"$STATE_DIR/apt-podman.log" 2>&1 \
         && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >>"$STATE_DIR/apt-podman.log" 2>&1; } \
    || fail "apt-get install ${missing[*]} (see $STATE_DIR/apt-podman.log)"
}

sock_answers() { curl -fsS --max-time 2 --unix-socket "$PODMAN_SOCK" http://d/_ping >/dev/null 2>&1; }

ensure_service() {
  sock_answers && return
  as_root mkdir -p "$(dirname "$PODMAN_SOCK")"
  as_root rm -f "$PODMAN_SOCK"
  say "starting podman system service on $PODMAN_SOCK (log: $STATE_DIR/podman-service.log)"
  # exec: the pid written is the service's own, so a later run can restart exactly it.
  as_root nohup sh -c 'echo $$ >"$1"; exec podman system service --time=0 "unix://$2"' sh \
    "$STATE_DIR/podman-service.pid" "$PODMAN_SOCK" >"$STATE_DIR/podman-service.log" 2>&1 &
  for _ in $(seq 1 30); do
    sock_answers && return
    sleep 0.5
  done
  tail -n 20 "$STATE_DIR/podman-service.log" >&2 || true
  fail "podman's API service did not answer on $PODMAN_SOCK within 15 s"
}

ensure_conf() {
  # Rootful podman gives every container (and every build step) open-files and processes limits
  # of 1048576 and 4194304. Without CAP_SYS_RESOURCE (CI containers), a limit above the service's
  # own hard limit fails in runc: "error setting rlimit type 7 (or 6): operation not permitted".
  # So the default is the service's own hard limits. A containers.conf this script did not write
  # is left alone.
  local conf=/etc/containers/containers.conf mark='# Written by devenv scripts/provision_podman.sh' pid files procs line
  pid=$(cat "$STATE_DIR/podman-service.pid" 2>/dev/null || true)
  [ -n "$pid" ] && [ -r "/proc/$pid/limits" ] || { say "note: no podman service pid: leaving $conf as it is"; return; }
  files=$(awk '/^Max open files/ {print $5}' "/proc/$pid/limits")
  procs=$(awk '/^Max processes/ {print $4}' "/proc/$pid/limits")
  [ "$files" = unlimited ] && files=1048576
  [ "$procs" = unlimited ] && procs=4194304
  line="default_ulimits = [\"nofile=$files:$files\", \"nproc=$procs:$procs\"]"
  if [ -f "$conf" ] && ! grep -qxF "$mark" "$conf"; then
    grep -q '^default_ulimits' "$conf" || say "note: $conf exists without default_ulimits; leaving it as it is"
    return
  fi
  grep -qxF "$line" "$conf" 2>/dev/null && return
  say "writing $conf ($line)"
  as_root mkdir -p /etc/containers
  printf '%s\n[containers]\n%s\n' "$mark" "$line" | as_root tee "$conf" >/dev/null
  # The API service reads containers.conf when it starts: restart it.
  say "restarting podman's API service to read $conf"
  as_root kill "$pid"
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  ensure_service
}

ensure_base_image() {
  podman image exists "$BASE_IMAGE" && return
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || fail "$BASE_IMAGE is not in Docker's store: run scripts/provision.sh first"
  say "copying $BASE_IMAGE from Docker's image store into podman's"
  docker save "$BASE_IMAGE" | podman load >/dev/null || fail "podman load of $BASE_IMAGE"
  # `podman load` names a docker-archive image localhost/... when the tag has no registry; tag the short name too.
  podman image exists "$BASE_IMAGE" || podman tag "localhost/$BASE_IMAGE" "$BASE_IMAGE"
}

ensure_health_pump() {
  # Without systemd, podman never runs the healthchecks it was given: the pump runs them.
  if [ -f "$STATE_DIR/health-pump.pid" ] && kill -0 "$(cat "$STATE_DIR/health-pump.pid")" 2>/dev/null; then return; fi
  say "starting the health pump (podman healthcheck run, every second; log: $STATE_DIR/health-pump.log)"
  nohup bash "$HERE/podman_health_pump.sh" >"$STATE_DIR/health-pump.log" 2>&1 &
  echo $! >"$STATE_DIR/health-pump.pid"
}

started=$(date +%s)
ensure_packages
ensure_service
ensure_conf
ensure_base_image
ensure_health_pump
say "ready in $(( $(date +%s) - started )) s: $(podman --version), socket unix://$PODMAN_SOCK, base image $BASE_IMAGE"
