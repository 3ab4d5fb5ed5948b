"""Wait until the stack is healthy: ping first, then healthz, with a deadline."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from ..core.plan import Plan
from ..engine import Engine
from .health import Health, HealthResult


@dataclass(frozen=True)
class GateResult:
    ok: bool
    seconds: float
    ping: HealthResult | None
    healthz: HealthResult | None
    reason: str = ""


def wait_healthy(plan: Plan, engine: Engine, deadline: float, stop: threading.Event | None = None) -> GateResult:
    """Poll until ping and healthz pass, the server container dies, or the deadline passes."""
    started = time.monotonic()
    health = Health(plan.health_url, plan.health)

    first_count: dict[str, int] = {}

    def alive() -> str | None:
        found = engine.containers(plan.project_name, plan.service)
        if not found:
            return f"the {plan.service} container does not exist"
        c = found[0]
        if c.state in ("exited", "dead"):
            return f"the {plan.service} container {c.name} exited (code {c.exit_code})"
        # With a restart policy (RAGFlow's `restart: unless-stopped`) a crashing container is never
        # "exited": it flips between restarting and running. Waiting out the deadline would hide that.
        if c.state == "restarting" or c.restart_count > first_count.setdefault(c.id, c.restart_count):
            return (f"the {plan.service} container {c.name} exited (code {c.exit_code}) and the engine keeps "
                    f"restarting it (restart count {c.restart_count})")
        return None

    try:
        ping = health.wait_ping(deadline, stop, interval=0.1, alive=alive)
        if not ping.ok:
            return GateResult(False, time.monotonic() - started, ping, None, ping.describe())
        healthz = health.healthz()
        while healthz is not None and not healthz.ok and time.monotonic() < deadline and not (stop and stop.is_set()):
            reason = alive()
            if reason:
                return GateResult(False, time.monotonic() - started, ping, healthz, reason)
            (stop.wait if stop else time.sleep)(0.5)
            healthz = health.healthz()
        if healthz is not None and not healthz.ok:
            return GateResult(False, time.monotonic() - started, ping, healthz, healthz.describe())
        return GateResult(True, time.monotonic() - started, ping, healthz)
    finally:
        health.close()
