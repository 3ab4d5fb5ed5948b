#!/usr/bin/env bash
# Run podman's healthchecks where no systemd does it (CI containers, WSL without systemd).
# Podman schedules `podman healthcheck run` with systemd timers; without them a container's
# health stays "starting" and compose's `depends_on: condition: service_healthy` waits for ever.
# Every INTERVAL seconds, run the healthcheck of each running container that has one.
set -uo pipefail
INTERVAL="${DEVENV_HEALTH_PUMP_INTERVAL:-1}"
while true; do
  for id in $(podman ps -q --filter health=starting --filter health=healthy --filter health=unhealthy 2>/dev/null | sort -u); do
    podman healthcheck run "$id" >/dev/null 2>&1 &
  done
  wait
  sleep "$INTERVAL"
done
