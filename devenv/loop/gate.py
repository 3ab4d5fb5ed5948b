"""Wait until the stack is healthy: ping first, then healthz, with a deadline.

A real RAGFlow takes 40-100 s to start, so the wait also says what the server is
doing (the last line of its log, the time so far), splits the start into phases
(container up, imports done, listening, healthy), and fails early, with the
traceback, when a Python process crash-loops inside a container that stays
``running`` (the entrypoint's restart loops hide that from the engine).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from ..core.plan import API_PORT, Plan
from ..core.tracebacks import Failure, last_failure
from ..engine import ContainerState, Engine
from .health import Health, HealthResult
from .processes import ProcessProbe

# RAGFlow's server logs its banner and version right after its imports, before it touches the database.
IMPORTS_DONE = re.compile(r"RAGFlow version:")
_STAMP = re.compile(r"^\s*(\d{4}-\d\d-\d\d[ T][\d:,.]+\s*)?(INFO|WARNING|ERROR|DEBUG)?\s*(\d+\s+)?")
POLL_PROCS = 0.5  # seconds between looks at the container's processes and log while starting


@dataclass
class StartPhases:
    """Seconds from ``compose up`` to each milestone of a start (None: not reached or not seen)."""

    container: float | None = None  # the server container runs
    imports: float | None = None  # the server logged its banner: its imports are done
    listening: float | None = None  # the API port is open inside the container
    healthy: float | None = None  # ping and healthz answer

    def split(self) -> str:
        """``container 1.2 s, imports 30.1 s, init 6.0 s, health 1.1 s``: time spent in each phase."""
        parts, last = [], 0.0
        for label, at in (("container", self.container), ("imports", self.imports), ("init", self.listening),
                          ("health", self.healthy)):
            if at is None:
                continue
            parts.append(f"{label} {max(0.0, at - last):.1f} s")
            last = at
        return ", ".join(parts)

    def as_json(self) -> dict[str, float | None]:
        return {k: None if v is None else round(v, 2) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class GateResult:
    ok: bool
    seconds: float
    ping: HealthResult | None
    healthz: HealthResult | None
    reason: str = ""
    failure: Failure | None = None
    phases: StartPhases = field(default_factory=StartPhases)


class StartMonitor:
    """What the server is doing while devenv waits: phases, a status text, and crash loops."""

    def __init__(self, plan: Plan, engine: Engine, began: float, on_status: Callable[[str], None] | None = None) -> None:
        self.plan, self.engine, self.began = plan, engine, began  # ``began``: wall time of compose up
        self.on_status = on_status or (lambda _text: None)
        self.probe = ProcessProbe(engine, {p.name: p.script for p in plan.processes})
        self.phases = StartPhases()
        self.failure: Failure | None = None
        self.phase_text = "starting"
        self._next = 0.0
        self._log_since: float | None = None

    def tick(self, container: ContainerState) -> str | None:
        """Look again (at most every POLL_PROCS s); a reason to give up, or None."""
        now = time.time()
        if now < self._next or not container.running:
            return None
        self._next = now + POLL_PROCS
        if self.phases.container is None:
            at = container.started_at.timestamp() if container.started_at else now
            self.phases.container = max(0.0, at - self.began)
            self._log_since = max(at, self.began) - 1
        self._read_log(container, now)
        server = next((p.script for p in self.plan.processes if p.name == "server"), None)
        loop = self.probe.poll(container, now)
        if loop is not None:
            self.failure = last_failure(self.engine.container_logs(container.id, since=loop.first_exit - 2, tail=400))
            where = (f": {self.failure.message} at {self.failure.location}" if self.failure else
                     ": no Python traceback in its log (killed by a signal, or a crash in native code)")
            return f"{loop.script} crashed {loop.exits} times in a row (its loop keeps relaunching it){where}"
        if self.phases.listening is None and server in self.probe.tracker.scripts and self.probe.listening(container, API_PORT):
            self.phases.listening = now - self.began
        self.on_status(f"{now - self.began:.0f} s: {self.phase_text}")
        return None

    def _read_log(self, container: ContainerState, now: float) -> None:
        since = self._log_since if self._log_since is not None else self.began
        text = self.engine.container_logs(container.id, since=since, tail=200)
        self._log_since = now
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if self.phases.imports is None and any(IMPORTS_DONE.search(line) for line in lines):
            self.phases.imports = now - self.began
        if lines:
            self.phase_text = _STAMP.sub("", lines[-1])[:90] or self.phase_text


def wait_healthy(plan: Plan, engine: Engine, deadline: float, stop: threading.Event | None = None,
                 monitor: StartMonitor | None = None) -> GateResult:
    """Poll until ping and healthz pass, the server container dies, a process crash-loops, or the deadline passes."""
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
        return monitor.tick(c) if monitor is not None else None

    def result(ok: bool, ping: HealthResult | None, healthz: HealthResult | None, reason: str = "") -> GateResult:
        phases = monitor.phases if monitor is not None else StartPhases()
        if ok and monitor is not None:
            phases.healthy = time.time() - monitor.began
        return GateResult(ok, time.monotonic() - started, ping, healthz, reason,
                          monitor.failure if monitor is not None else None, phases)

    try:
        ping = health.wait_ping(deadline, stop, interval=0.1, alive=alive)
        if ping.ok and monitor is not None and monitor.phases.listening is None:
            monitor.phases.listening = time.time() - monitor.began  # it answered before devenv saw the port open
        if not ping.ok:
            return result(False, ping, None, ping.detail if monitor is not None and monitor.failure else ping.describe())
        healthz = health.healthz()
        while healthz is not None and not healthz.ok and time.monotonic() < deadline and not (stop and stop.is_set()):
            reason = alive()
            if reason:
                return result(False, ping, healthz, reason)
            (stop.wait if stop else time.sleep)(0.5)
            healthz = health.healthz()
        if healthz is not None and not healthz.ok:
            return result(False, ping, healthz, healthz.describe())
        return result(True, ping, healthz)
    finally:
        health.close()
