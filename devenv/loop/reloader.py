"""Carry out a reload decision and prove it took effect.

For every reload devenv checks three things before it says "reload ok":
the container sees the same bytes as the host for the changed files, the
restarted process is a new one, and the health endpoint answers. The
probe agent (:mod:`devenv.probe`) makes the first two cost about a
millisecond each; health is one reused HTTP client.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..core import rules as R
from ..engine.protocol import Agent
from ..engine import ContainerState, Engine, Target
from ..core.errors import DevenvError, EngineError
from .health import Health
from ..core.plan import Plan
from ..core.tracebacks import Failure, last_failure

MAX_HASHED = 64  # changed files whose bytes are compared host vs container
POLL = 0.02  # seconds between probes while waiting for a restart
COME_BACK = 12.0  # seconds a signalled process may take to reappear before the container restarts
MOUNT_LAG = 2.0  # seconds the container may lag behind the host's bytes (Docker Desktop file sharing)


@dataclass
class ReloadReport:
    """The outcome of one reload, printed as one line."""

    paths: tuple[str, ...]
    action: str
    ok: bool = False
    seconds: float | None = None  # from the (last) save to healthy
    details: list[str] = field(default_factory=list)
    error: str | None = None
    failure: Failure | None = None
    interrupted: bool = False
    escalated: bool = False
    finished_at: float = field(default_factory=time.time)

    def summary(self) -> str:
        shown = ", ".join(self.paths[:3]) + (f" (+{len(self.paths) - 3} more)" if len(self.paths) > 3 else "")
        parts = [f"{shown or '(manual)'} -> {self.action}"]
        if self.seconds is not None:
            parts.append(f"{self.seconds:.2f} s save->healthy")
        parts += self.details
        if self.error:
            parts.append(self.error)
        return "; ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "paths": list(self.paths[:20]), "path_count": len(self.paths), "action": self.action, "ok": self.ok, "seconds": self.seconds,
            "details": self.details, "error": self.error, "escalated": self.escalated,
            "failure": None if self.failure is None else {"location": self.failure.location, "message": self.failure.message},
            "finished_at": self.finished_at,
        }


class Reloader:
    """Executes decisions against the server container of one plan."""

    def __init__(self, plan: Plan, target: Target, engine: Engine, root: Path, *, stop: threading.Event | None = None,
                 reload_timeout: float = 180, replan: Callable[[], tuple[Plan, Target]] | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.engine = engine
        self.root = root
        self.stop = stop or threading.Event()
        self.reload_timeout = reload_timeout
        self.replan = replan
        self.log = log or (lambda _text: None)
        self.health: Health | None = None
        self._use(plan, target)
        self.last_failure: Failure | None = None

    def _use(self, plan: Plan, target: Target) -> None:
        """Work on ``plan`` from now on (and what derives from it)."""
        if self.health is not None:
            self.health.close()
        self.plan, self.target = plan, target
        self.health = Health(plan.health_url, plan.health) if plan.health_url else None
        self.scripts = {p.name: p.script for p in plan.processes}

    # --- entry point -------------------------------------------------------------------
    def run(self, decision: R.Decision, saved_at: float | None = None) -> ReloadReport:
        """Carry out ``decision``; ``saved_at`` is the monotonic time of the last save."""
        saved_at = time.monotonic() if saved_at is None else saved_at
        report = ReloadReport(decision.paths, decision.describe())
        try:
            if decision.action == R.SIGNAL:
                self._signal(decision, saved_at, report)
            elif decision.action == R.SYNC:
                self._sync(decision, saved_at, report)
            elif decision.action == R.RESTART:
                self._restart(saved_at, report, reason="")
            elif decision.action == R.RECREATE:
                self._recreate(saved_at, report)
            else:
                report.ok = True
        except DevenvError as e:
            report.ok, report.error = False, e.message + (f" (fix: {e.fix})" if e.fix else "")
        report.finished_at = time.time()
        return report

    # --- the fast path: SIGTERM the Python processes, their loops relaunch them ---------
    def _signal(self, decision: R.Decision, saved_at: float, report: ReloadReport, *, force: bool = False) -> None:
        container = self.server_container()
        agent = self.engine.agent(container.id)
        names = sorted(n for n in decision.processes if n in self.scripts)
        scripts = [self.scripts[n] for n in names]
        expect = self.expected_hashes(decision.paths)
        signalled_at = time.time()
        request = {"op": "reload", "expect": expect, "scripts": scripts, "wait_ms": int(MOUNT_LAG * 1000), "force": force,
                   "relaunch_now": self.plan.fast_relaunch}
        try:
            answer = agent.request(request)
        except EngineError:
            if getattr(agent, "alive", True):
                raise
            # The container restarted (killed, engine restart) since the probe started: the probe died
            # with it and signalled nothing. One fresh probe, so this save is not lost.
            agent = self.engine.agent(container.id)
            answer = agent.request(request)
        if answer["mismatched"]:
            # A newer save may have landed since the hashes were taken: compare with the host's bytes now.
            now = self.expected_hashes(self._host_path(p) for p in answer["mismatched"])
            stale = [p for p in answer["mismatched"] if now.get(p) != answer["seen"].get(p)]
            if stale:
                report.error = (f"the container does not see the saved bytes of {self._host_path(stale[0])} "
                                "(the bind mount is not live: on Docker Desktop check file sharing for this folder)")
                return
            answer = agent.request({**request, "expect": now, "wait_ms": 0, "force": True})
        if expect:
            report.details.append(f"bytes match ({len(expect)} file{'s' if len(expect) != 1 else ''})")
        before = {(p["pid"], p["start"]) for p in answer["before"]}
        signalled = {p["script"] for p in answer["signalled"]}
        old_pids = {p["script"]: p["pid"] for p in answer["signalled"]}
        if not signalled:
            # Nothing to signal: the loop ended (a crash under `set -e`) or is between two tries.
            if not self._wait_for(agent, scripts, before, deadline=time.monotonic() + 2.5):
                self._restart(saved_at, report, reason=f"no running {', '.join(names)} process to restart")
                return
        outcome = self._await_restart(agent, container, scripts, before, saved_at, signalled_at, report)
        if outcome and old_pids:
            report.details.insert(0, "pid " + ", ".join(f"{old_pids[s]}->{outcome.get(s, '?')}" for s in old_pids if s in outcome))

    def _wait_for(self, agent: Agent, scripts: Sequence[str], before: set, deadline: float) -> bool:
        while time.monotonic() < deadline and not self.stop.is_set():
            if any((p["pid"], p["start"]) not in before for p in agent.request({"op": "procs", "scripts": list(scripts)})["procs"]):
                return True
            self.stop.wait(POLL * 5)
        return False

    def _await_restart(self, agent: Agent, container: ContainerState, scripts: Sequence[str], before: set,
                       saved_at: float, signalled_at: float, report: ReloadReport) -> dict[str, int] | None:
        """Wait until every signalled process is new and the server answers; detect crashes."""
        server = self.scripts.get("server")
        deadline = time.monotonic() + self.reload_timeout
        come_back = time.monotonic() + COME_BACK
        seen_server: set[int] = set()
        new: dict[str, int] = {}
        while True:
            if self.stop.is_set():
                report.interrupted, report.error = True, "interrupted"
                return None
            procs = agent.request({"op": "procs", "scripts": list(scripts) + ([server] if server and server not in scripts else [])})["procs"]
            current = {p["script"]: p["pid"] for p in procs if (p["pid"], p["start"]) not in before}
            new.update(current)
            server_pids = {p["pid"] for p in procs if p["script"] == server and (p["pid"], p["start"]) not in before}
            if server in scripts and seen_server and not (seen_server & server_pids):
                self._crashed(container, signalled_at, report)
                return None
            seen_server |= server_pids
            everyone_back = all(s in new for s in scripts)
            if everyone_back and (server not in scripts or server_pids):
                result = self.health.ping() if self.health else None
                if result is None or result.ok:
                    self._finish(report, saved_at)
                    return new
            if not everyone_back and time.monotonic() > come_back:
                missing = [s for s in scripts if s not in new]
                self._restart(saved_at, report, reason=f"{', '.join(missing)} did not come back within {COME_BACK:.0f} s")
                return None
            if time.monotonic() > deadline:
                report.error = f"the server did not answer {self.health.ping_url if self.health else ''} within {self.reload_timeout:.0f} s"
                self._attach_failure(container, signalled_at, report)
                return None
            self.stop.wait(POLL)

    def _finish(self, report: ReloadReport, saved_at: float) -> None:
        report.seconds = time.monotonic() - saved_at
        report.ok = True
        if self.health:
            report.details.append("ping ok")
            hz = self.health.healthz()
            if hz is not None:
                report.details.append("healthz ok" if hz.ok else f"healthz {hz.status or 'no answer'} ({hz.detail or 'not ok'})")
        self.last_failure = None

    def _crashed(self, container: ContainerState, since: float, report: ReloadReport) -> None:
        report.error = "the server exited while starting"
        self._attach_failure(container, since, report)

    def _attach_failure(self, container: ContainerState, since: float, report: ReloadReport) -> None:
        deadline = time.monotonic() + 1.0
        failure = None
        while failure is None and time.monotonic() < deadline:  # the log may trail the exit slightly
            failure = last_failure(self.engine.container_logs(container.id, since=since - 1, tail=400))
            if failure is None:
                self.stop.wait(0.1)
        if failure is not None:
            report.failure = failure
            report.error = f"{report.error}: {failure.message} at {failure.location}"

    # --- heavier actions -------------------------------------------------------------------
    def _restart(self, saved_at: float, report: ReloadReport, *, reason: str) -> None:
        """Restart the server container (fast with init: true), then wait for health."""
        if reason:
            report.escalated = True
            report.details.append(f"escalated: {reason}; restarted the container")
        started = time.time()
        self.engine.compose_restart(self.target, [self.plan.service], timeout=2)
        self.await_container(saved_at, started, report)

    def _recreate(self, saved_at: float, report: ReloadReport) -> None:
        if self.replan is not None:
            self._use(*self.replan())  # raises on a broken compose file: reported, watching goes on
        started = time.time()
        self.engine.compose_up(self.target, [], on_line=self.log)  # apply compose/.env changes to every service
        self.engine.compose_up(self.target, [self.plan.service], force_recreate=True, no_deps=True, on_line=self.log)
        self.await_container(saved_at, started, report)

    def _sync(self, decision: R.Decision, saved_at: float, report: ReloadReport) -> None:
        container = self.server_container()
        if self.plan.mode == "packages":  # pyproject.toml and uv.lock are the image's: bring the host's in
            files = {n: (self.root / n).read_bytes() for n in ("pyproject.toml", "uv.lock") if (self.root / n).is_file()}
            self.engine.copy_in(container.id, "/ragflow", files)
        code, output = self.engine.exec(container.id, ["uv", "sync", "--frozen"], workdir="/ragflow")
        if code != 0:
            tail = " | ".join(output.strip().splitlines()[-3:])
            report.error = f"uv sync failed (exit {code}): {tail}"
            return
        report.details.append("uv sync done")
        self._signal(decision, saved_at, report, force=True)

    def await_container(self, saved_at: float, started: float, report: ReloadReport) -> None:
        deadline = time.monotonic() + self.reload_timeout
        container = None
        while time.monotonic() < deadline and not self.stop.is_set():
            container = self.find_container()
            if container is not None and container.running and container.started_at and container.started_at.timestamp() >= started - 1:
                break
            self.stop.wait(0.1)
        if self.stop.is_set():
            # Ctrl-C: compose (shielded) finished its change; devenv only stops waiting for the result.
            report.interrupted, report.error = True, "interrupted"
            return
        if container is None or not container.running:
            report.error = "the container is not running after the restart"
            return
        report.details.append(f"container {container.name} started {container.started_at:%H:%M:%S}")
        if self.health is None:
            self._finish(report, saved_at)
            return

        def alive() -> str | None:
            c = self.find_container()
            return None if c is not None and c.state in ("running", "restarting") else "the container exited"

        result = self.health.wait_ping(deadline, self.stop, interval=0.05, alive=alive)
        if result.ok:
            self._finish(report, saved_at)
        elif self.stop.is_set():
            report.interrupted, report.error = True, "interrupted"
        else:
            report.error = f"not healthy: {result.describe()}"
            self._attach_failure(container, started, report)

    # --- helpers ----------------------------------------------------------------------------
    def find_container(self) -> ContainerState | None:
        found = [c for c in self.engine.containers(self.plan.project_name, self.plan.service)]
        running = [c for c in found if c.running]
        return (running or found or [None])[0]

    def server_container(self) -> ContainerState:
        c = self.find_container()
        if c is None or not c.running:
            state = "does not exist" if c is None else f"is {c.state} (exit code {c.exit_code})"
            raise EngineError(f"the {self.plan.service} container {state}", fix="start the stack with `devenv up`")
        return c

    def container_path(self, rel: str) -> str | None:
        """Where the container sees a checkout file, or None when it is not mounted."""
        if self.plan.mode == "checkout":
            return "/ragflow/" + rel
        top = next((p for p in self.plan.packages if rel == p or rel.startswith(p + "/")), None)
        return "/ragflow/" + rel if top else None

    def _host_path(self, container_path: str) -> str:
        return container_path[len("/ragflow/"):] if container_path.startswith("/ragflow/") else container_path

    def expected_hashes(self, paths: Iterable[str]) -> dict[str, str | None]:
        """sha256 of the host's bytes for changed, mounted files (None: deleted)."""
        expect: dict[str, str | None] = {}
        for rel in paths:
            target = self.container_path(rel)
            if target is None:
                continue
            try:
                expect[target] = hashlib.sha256((self.root / rel).read_bytes()).hexdigest()
            except FileNotFoundError:
                expect[target] = None
            except (IsADirectoryError, PermissionError, OSError):
                continue
            if len(expect) >= MAX_HASHED:
                break
        return expect

    def close(self) -> None:
        if self.health is not None:
            self.health.close()
