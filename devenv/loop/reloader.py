"""Carry out a reload decision and prove it took effect.

For every reload devenv checks three things before it says "reload ok":
the container sees the same bytes as the host for the changed files, the
restarted process is a new one, and the health endpoint answers. The
agent (:mod:`devenv.container.agent`) makes the first two cost about a
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
from ..core.errors import DevenvError, EngineError
from ..core.plan import Plan
from ..core.tracebacks import Failure, last_failure
from ..engine import ContainerState, Engine, Target
from ..engine.protocol import Agent
from .health import Health
from .processes import CrashLoop, ProcessProbe

MAX_HASHED = 64  # changed files whose bytes are compared host vs container
POLL = 0.02  # seconds between probes while waiting for a restart
GONE_FOR = 0.3  # seconds every new server must stay out of the process table before it counts as dead
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
    cause: str = "(manual)"  # what asked for it when no file did: `devenv restart`, or the idle check

    def summary(self) -> str:
        shown = ", ".join(self.paths[:3]) + (f" (+{len(self.paths) - 3} more)" if len(self.paths) > 3 else "")
        parts = [f"{shown or self.cause} -> {self.action}"]
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
            "finished_at": self.finished_at, "cause": None if self.paths else self.cause,
        }


def uv_sync_failure(code: int, output: str) -> str:
    """One line for a failed ``uv sync``: its last distinct lines (stdout and stderr arrive merged,
    and uv repeats its error on both), or the fix when the image has no uv at all.

    >>> uv_sync_failure(2, "error: lock is stale\\nerror: lock is stale\\n")
    'uv sync failed (exit 2): error: lock is stale'
    """
    if code in (126, 127) or "executable file not found" in output:
        return (f"uv sync failed (exit {code}): the image has no uv; "
                "set reload.uv_sync = false in devenv.toml and rebuild the image after dependency changes")
    lines = list(dict.fromkeys(line.strip() for line in output.splitlines() if line.strip()))
    return f"uv sync failed (exit {code})" + (": " + " | ".join(lines[-3:]) if lines else "")


class _Failed(Exception):
    """A reload step found the reload failed (the container keeps what it has)."""

    def __init__(self, error: str, failure: Failure | None = None) -> None:
        super().__init__(error)
        self.error, self.failure = error, failure


class _Escalate(Exception):
    """The fast path cannot finish: restart the container instead, saying why."""

    def __init__(self, reason: str, details: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.reason, self.details = reason, list(details)  # what the fast path proved before


class _Recreate(Exception):
    """A mount of the container is dead: only a new container sees the host's folder again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Interrupted(Exception):
    """``stop`` was set (Ctrl-C): leave what is under way to finish, stop waiting for it."""


class Reloader:
    """Executes decisions against the server container of one plan.

    Each step returns the details it proved (``"bytes match (1 file)"``, ``"pid 10->20"``)
    or raises: :class:`_Failed` ends the reload with its error, :class:`_Escalate`
    restarts the container instead, :class:`_Interrupted` stops waiting. Only
    :meth:`run` turns them into the :class:`ReloadReport`.
    """

    def __init__(self, plan: Plan, target: Target, engine: Engine, root: Path, *, stop: threading.Event | None = None,
                 reload_timeout: float = 180, replan: Callable[[], tuple[Plan, Target]] | None = None,
                 log: Callable[[str], None] | None = None, kill_after: float = 0.0) -> None:
        self.engine = engine
        self.root = root
        self.stop = stop or threading.Event()
        self.reload_timeout = reload_timeout
        self.kill_after = kill_after  # seconds before an old process that ignores SIGTERM's urgency is killed
        self.replan = replan
        self.log = log or (lambda _text: None)
        self.health: Health | None = None
        self.probe: ProcessProbe | None = None
        self._use(plan, target)
        self.last_failure: Failure | None = None
        self._killed: list[str] = []
        self._podman: bool | None = None  # asked of the engine at the first recreate

    def _use(self, plan: Plan, target: Target) -> None:
        """Work on ``plan`` from now on (and what derives from it)."""
        if self.health is not None:
            self.health.close()
        self.plan, self.target = plan, target
        self.health = Health(plan.health_url, plan.health) if plan.health_url else None
        self.scripts = {p.name: p.script for p in plan.processes}
        self.killable = {p.script for p in plan.processes if p.exit_ignored}
        if self.probe is None or self.probe.tracker.scripts != list(self.scripts.values()):
            self.probe = ProcessProbe(self.engine, self.scripts)

    @property
    def tracker(self):
        assert self.probe is not None
        return self.probe.tracker

    # --- entry point -------------------------------------------------------------------
    def run(self, decision: R.Decision, saved_at: float | None = None) -> ReloadReport:
        """Carry out ``decision``; ``saved_at`` is the monotonic time of the last save."""
        saved_at = time.monotonic() if saved_at is None else saved_at
        report = ReloadReport(decision.paths, decision.describe())
        try:
            try:
                if decision.action == R.SIGNAL:
                    patched, refused = self._patch(decision) if self.plan.patch else (None, "")
                    if patched is not None:
                        report.action, details = patched
                        report.details += details
                    else:
                        report.details += ([f"in-place patch refused: {refused}; restarted"] if refused else []) + self._signal(decision)
                elif decision.action == R.SYNC:
                    report.details += self._sync(decision)
                elif decision.action == R.RESTART:
                    report.details += self._restart()
                elif decision.action == R.RECREATE:
                    report.details += self._recreate()
                else:
                    report.ok = True
                    return report
            except _Escalate as e:
                report.escalated = True
                report.details += e.details
                report.details.append(f"escalated: {e.reason}; restarted the container")
                report.details += self._restart()
            except _Recreate as e:
                report.escalated = True
                report.details.append(f"{e.reason}; recreated the container")
                report.details += self._recreate()
            report.details += self._healthy(saved_at, report)
        except _Failed as e:
            report.error, report.failure = e.error, e.failure
        except _Interrupted:
            report.interrupted, report.error = True, "interrupted"
        except DevenvError as e:
            report.error = e.message + (f" (fix: {e.fix})" if e.fix else "")
        finally:
            report.finished_at = time.time()
        return report

    # --- the fastest path: swap new function bodies into the running processes ----------
    def _patch(self, decision: R.Decision) -> tuple[tuple[str, list[str]] | None, str]:
        """``((action, details), "")`` when every process took the saved files in place; ``(None, why)``
        when the processes must restart instead (``why`` empty: the patch was not tried)."""
        paths = list(decision.paths)
        if not paths or any(not p.endswith(".py") for p in paths):
            return None, ""
        container = self.server_container()
        agent = self._agent(container)
        names, _skipped = self._running(container, agent, decision.processes)  # one that does not run starts with the new code
        if not names:
            return None, ""
        expect = self.expected_hashes(paths)
        if len(expect) != len(paths) or any(h is None for h in expect.values()):
            return None, "a file was deleted or is not mounted"
        scripts = [self.scripts[n] for n in names]
        answer = agent.request({"op": "patch", "expect": expect, "scripts": scripts, "wait_ms": int(MOUNT_LAG * 1000)},
                               timeout=60)
        if not answer.get("ok"):
            where = f"{self._host_path(answer['path'])}: " if answer.get("path") else ""
            return None, where + str(answer.get("refused", "refused"))
        swapped: dict[str, set[str]] = {}
        for proc in answer["processes"]:
            for entry in proc.get("files", []):
                if "patched" in entry and entry.get("sha256") != expect.get(entry["path"]):
                    return None, f"{proc['script']} compiled other bytes of {self._host_path(entry['path'])}"
                swapped.setdefault(proc["script"], set()).update(entry.get("patched", []))
        by_script = {v: k for k, v in self.scripts.items()}
        done = [f"{by_script.get(s, s)} {len(f)} function{'s' if len(f) != 1 else ''}" for s, f in sorted(swapped.items()) if f]
        matched = f"bytes match ({len(expect)} file{'s' if len(expect) != 1 else ''})"
        action = f"patch {', '.join(names)} in place"
        if not done:
            return (action, [f"no function changed in {', '.join(names)} (comments, blank lines): nothing to restart", matched]), ""
        return (action, [f"swapped in place: {', '.join(done)} (same pid, no restart)", matched]), ""

    # --- the fast path: SIGTERM the Python processes, their loops relaunch them ---------
    def _signal(self, decision: R.Decision, *, force: bool = False) -> list[str]:
        container = self.server_container()
        agent = self._agent(container)
        names, skipped = self._running(container, agent, decision.processes)
        if not names:
            # The change is only for processes this container does not run (v0.22.0 starts no admin
            # server unless asked): nothing to restart, and nothing to wait for.
            return [f"{', '.join(skipped)} not running here: nothing to restart"]
        scripts = [self.scripts[n] for n in names]
        self.tracker.expect_exit(names)
        expect = self.expected_hashes(decision.paths)
        signalled_at = time.time()
        request = {"op": "reload", "expect": expect, "scripts": scripts, "wait_ms": int(MOUNT_LAG * 1000), "force": force,
                   "relaunch_now": self.plan.fast_relaunch}
        try:
            answer = agent.request(request)
        except EngineError:
            if getattr(agent, "alive", True):
                raise
            # The container restarted (killed, engine restart) since the agent started: the agent died
            # with it and signalled nothing. One fresh agent, so this save is not lost.
            agent = self.engine.agent(container.id)
            answer = agent.request(request)
        dead = [d for d in answer.get("dead", []) if not d.startswith("/ragflow/rag/res/")]
        if dead:
            where = ", ".join(self._host_path(d) for d in dead)
            raise _Recreate(f"the bind mount of {where} is dead (the folder was deleted and made again on the host; "
                            "the container still sees the deleted one)")
        if answer["mismatched"]:
            # A newer save may have landed since the hashes were taken: compare with the host's bytes now.
            now = self.expected_hashes(self._host_path(p) for p in answer["mismatched"])
            stale = [p for p in answer["mismatched"] if now.get(p) != answer["seen"].get(p)]
            if stale:
                raise _Failed(f"the container does not see the saved bytes of {self._host_path(stale[0])} "
                              "(the bind mount is not live: on Docker Desktop check file sharing for this folder)")
            answer = agent.request({**request, "expect": now, "wait_ms": 0, "force": True})
        details = [f"bytes match ({len(expect)} file{'s' if len(expect) != 1 else ''})"] if expect else []
        before = {(p["pid"], p["start"]) for p in answer["before"]}
        old_pids = {p["script"]: p["pid"] for p in answer["signalled"]}
        if not old_pids and not self._wait_for(agent, scripts, before, deadline=time.monotonic() + 2.5):
            # Nothing to signal, and nothing came back: the loop ended (a crash under `set -e`).
            raise _Escalate(f"no running {', '.join(names)} process to restart", details)
        old = [p for p in answer["signalled"] if p["script"] in self.killable]
        try:
            new = self._await_restart(agent, container, scripts, before, signalled_at, old)
        except _Escalate as e:
            raise _Escalate(e.reason, details) from None
        if self._killed:
            details.append(f"killed {', '.join(self._killed)} {self.kill_after:g} s after SIGTERM (replaced anyway)")
        if old_pids:
            details.insert(0, "pid " + ", ".join(f"{old_pids[s]}->{new[s]}" for s in old_pids if s in new))
        if skipped:
            details.append(f"{', '.join(skipped)} not running (not restarted)")
        if self.plan.warm and new:
            details += self._warm_details(agent, {self.scripts[n]: n for n in names}, new)
        return details

    def warm_status(self) -> list[dict[str, Any]] | None:
        """The warm parents in the server container: kind, state, hits, fallbacks and resident memory."""
        if not self.plan.warm:
            return None
        container = self.find_container()
        if container is None or not container.running:
            return None
        try:
            answer = self.engine.agent(container.id).request({"op": "warm"})
        except EngineError:
            return None
        keep = ("script", "pid", "alive", "rss_kb", "state", "reason", "hits", "fallbacks", "preloaded", "preload_s")
        return [{k: p.get(k) for k in keep} for p in answer.get("parents", []) if p.get("alive") or p.get("state") == "refused"]

    def _warm_details(self, agent: Agent, names: dict[str, str], new: dict[str, int]) -> list[str]:
        """How each restarted process started: warm (forked from its parent) or cold, and why."""
        last: dict[str, Any] = {}
        for _ in range(10):  # a shim notes its start a moment after the process appears
            try:
                last = agent.request({"op": "warm"}).get("last", {})
            except EngineError:
                return []
            if all((last.get(s) or {}).get("pid") == pid for s, pid in new.items()):
                break
            self.stop.wait(0.05)
        out = []
        for script, pid in sorted(new.items()):
            seen = last.get(script)
            name = names.get(script, script)
            if not seen or seen.get("pid") != pid:
                out.append(f"{name} started cold (not through devenv's warm start)")
            elif seen.get("mode") == "warm":
                out.append(f"{name} warm (forked in {seen.get('fork_ms', 0):.0f} ms)")
            else:
                out.append(f"{name} cold: {seen.get('reason', 'unknown')}")
        return out
    def _agent(self, container: ContainerState) -> Agent:
        """The container's agent, alive: one cached for a container that restarted since died with it."""
        agent = self.engine.agent(container.id)
        try:
            agent.request({"op": "ping"}, timeout=5)
        except EngineError:
            if getattr(agent, "alive", True):
                raise
            agent = self.engine.agent(container.id)  # the engine starts a fresh one for a dead agent
        return agent

    def _running(self, container: ContainerState, agent: Agent, wanted: frozenset[str]) -> tuple[list[str], list[str]]:
        """Of the processes a decision names, those this container runs (or ran: a dead loop is escalated)."""
        assert self.probe is not None
        self.tracker.for_container(self.probe.container_key(container))
        answer = agent.request({"op": "procs", "scripts": self.tracker.scripts})
        self.tracker.observe(answer["procs"], time.time(), loops=answer.get("loops"))
        names = sorted(n for n in wanted if n in self.scripts)
        return [n for n in names if self.tracker.ever_ran(n)], [n for n in names if not self.tracker.ever_ran(n)]

    def poll_processes(self) -> tuple[ContainerState, CrashLoop] | None:
        """Between reloads: a process that crash-loops on its own (None when all is well or unknown)."""
        assert self.probe is not None
        container = self.find_container()
        if container is None or not container.running:
            return None
        found = self.probe.poll(container, time.time())
        return (container, found) if found else None

    def crash_failure(self, container: ContainerState, loop: CrashLoop) -> Failure | None:
        """The traceback the crash-looping process left in the log since its first exit."""
        return last_failure(self.engine.container_logs(container.id, since=loop.first_exit - 2, tail=400))

    def _wait_for(self, agent: Agent, scripts: Sequence[str], before: set, deadline: float) -> bool:
        while time.monotonic() < deadline and not self.stop.is_set():
            if any((p["pid"], p["start"]) not in before for p in agent.request({"op": "procs", "scripts": list(scripts)})["procs"]):
                return True
            self.stop.wait(POLL * 5)
        return False

    def _await_restart(self, agent: Agent, container: ContainerState, scripts: Sequence[str], before: set,
                       signalled_at: float, old: Sequence[dict] = ()) -> dict[str, int]:
        """Wait until every signalled process is new and the server answers ping; returns their new pids.

        ``old``: signalled processes that may be killed after ``kill_after`` s. RAGFlow's SIGTERM handler
        sleeps 1 s, then the interpreter takes 3-12 s to shut down; the process is being replaced anyway,
        and its loop (``& wait``) ignores how it ended.
        """
        server = self.scripts.get("server")
        deadline = time.monotonic() + self.reload_timeout
        come_back = time.monotonic() + COME_BACK
        kill_at = time.time() + self.kill_after if self.kill_after > 0 and old else None
        self._killed = []
        seen_server: set[int] = set()
        gone_since = 0.0
        new: dict[str, int] = {}
        while True:
            if self.stop.is_set():
                raise _Interrupted()
            asked = list(scripts) + ([server] if server and server not in scripts else [])
            answer = agent.request({"op": "procs", "scripts": asked})
            procs = answer["procs"]
            self.tracker.observe(procs, time.time(), only=asked, loops=answer.get("loops"))
            current = {p["script"]: p["pid"] for p in procs if (p["pid"], p["start"]) not in before}
            new.update(current)
            if kill_at is not None and time.time() >= kill_at:
                kill_at = None
                alive = {(p["pid"], p["start"]) for p in procs}
                lingering = [p for p in old if (p["pid"], p["start"]) in alive]
                if lingering:
                    killed = agent.request({"op": "kill", "procs": [{"pid": p["pid"], "start": p["start"]} for p in lingering]})["killed"]
                    self._killed = [p["script"].rsplit("/", 1)[-1] for p in lingering if p["pid"] in killed]
            server_pids = {p["pid"] for p in procs if p["script"] == server and (p["pid"], p["start"]) not in before}
            # Every new server seen is gone: it died while starting, unless that is a moment's blip of
            # the process table (a process in execve, a warm start's shim forking). Only a gap that lasts
            # counts: a loop relaunches a dead server after its `sleep 1`, so nothing is missed.
            if server in scripts and seen_server and not (seen_server & server_pids):
                gone_since = gone_since or time.monotonic()
                if time.monotonic() - gone_since >= GONE_FOR:
                    raise self._failed("the server exited while starting", container, signalled_at)
            else:
                gone_since = 0.0
            seen_server |= server_pids
            everyone_back = all(s in new for s in scripts)
            if everyone_back and (server not in scripts or server_pids):
                result = self.health.ping() if self.health else None
                if result is None or result.ok:
                    return new
            if not everyone_back and time.monotonic() > come_back:
                missing = [s for s in scripts if s not in new]
                raise _Escalate(f"{', '.join(missing)} did not come back within {COME_BACK:.0f} s")
            if time.monotonic() > deadline:
                ping_url = self.health.ping_url if self.health else ""
                raise self._failed(f"the server did not answer {ping_url} within {self.reload_timeout:.0f} s", container, signalled_at)
            self.stop.wait(POLL)

    def _healthy(self, saved_at: float, report: ReloadReport) -> list[str]:
        """The reload is done: time it, and say what health answers."""
        report.seconds = time.monotonic() - saved_at
        report.ok = True
        self.last_failure = None
        if not self.health:
            return []
        details = ["ping ok"]
        hz = self.health.healthz()
        if hz is not None:
            details.append("healthz ok" if hz.ok else f"healthz {hz.status or 'no answer'} ({hz.detail or 'not ok'})")
        return details

    def _failed(self, error: str, container: ContainerState, since: float) -> _Failed:
        """A failed reload, with the traceback the server's log shows since ``since``."""
        deadline = time.monotonic() + 1.0
        failure = None
        while failure is None and time.monotonic() < deadline:  # the log may trail the exit slightly
            failure = last_failure(self.engine.container_logs(container.id, since=since - 1, tail=400))
            if failure is None:
                self.stop.wait(0.1)
        if failure is None:
            return _Failed(error)
        return _Failed(f"{error}: {failure.message} at {failure.location}", failure)

    # --- heavier actions -------------------------------------------------------------------
    def _restart(self) -> list[str]:
        """Restart the server container (fast with init: true), then wait until it runs and answers."""
        started = time.time()
        self.engine.compose_restart(self.target, [self.plan.service], timeout=2)
        return self._container_up(started)

    def _recreate(self) -> list[str]:
        if self.replan is not None:
            self._use(*self.replan())  # raises on a broken compose file: reported, watching goes on
        started = time.time()
        # Apply compose/.env changes to every service, except on Podman: compose sees every container's
        # networks as changed there and would recreate the whole stack (databases included, the server
        # twice), as `up` avoids too; `devenv up --recreate` applies such changes there.
        self.engine.compose_up(self.target, [], no_recreate=self._on_podman(), on_line=self.log)
        self.engine.compose_up(self.target, [self.plan.service], force_recreate=True, no_deps=True, on_line=self.log)
        return self._container_up(started)

    def _on_podman(self) -> bool:
        if self._podman is None:
            try:
                self._podman = self.engine.info().is_podman
            except EngineError:
                self._podman = False
        return self._podman

    def _sync(self, decision: R.Decision) -> list[str]:
        container = self.server_container()
        if self.plan.mode == "packages":  # pyproject.toml and uv.lock are the image's: bring the host's in
            files = {n: (self.root / n).read_bytes() for n in ("pyproject.toml", "uv.lock") if (self.root / n).is_file()}
            self.engine.copy_in(container.id, "/ragflow", files)
        code, output = self.engine.exec(container.id, ["uv", "sync", "--frozen"], workdir="/ragflow")
        if code != 0:
            raise _Failed(uv_sync_failure(code, output))
        return ["uv sync done"] + self._signal(decision, force=True)

    def await_container(self, saved_at: float, started: float, report: ReloadReport) -> None:
        """Wait for a container (re)started at ``started`` to run and answer; fills ``report``."""
        try:
            report.details += self._container_up(started)
            report.details += self._healthy(saved_at, report)
        except _Failed as e:
            report.error, report.failure = e.error, e.failure
        except _Interrupted:
            report.interrupted, report.error = True, "interrupted"

    def _container_up(self, started: float) -> list[str]:
        """Wait until the server container started at ``started`` or later runs, then answers ping."""
        deadline = time.monotonic() + self.reload_timeout
        container = None
        while time.monotonic() < deadline and not self.stop.is_set():
            container = self.find_container()
            if container is not None and container.running and container.started_at and container.started_at.timestamp() >= started - 1:
                break
            self.stop.wait(0.1)
        if self.stop.is_set():
            # Ctrl-C: compose (shielded) finished its change; devenv only stops waiting for the result.
            raise _Interrupted()
        if container is None or not container.running:
            raise _Failed("the container is not running after the restart")
        details = [f"container {container.name} started {container.started_at:%H:%M:%S}"]
        if self.health is None:
            return details

        def alive() -> str | None:
            c = self.find_container()
            return None if c is not None and c.state in ("running", "restarting") else "the container exited"

        result = self.health.wait_ping(deadline, self.stop, interval=0.05, alive=alive)
        if self.stop.is_set():
            raise _Interrupted()
        if not result.ok:
            raise self._failed(f"not healthy: {result.describe()}", container, started)
        return details

    # --- helpers ----------------------------------------------------------------------------
    def find_container(self) -> ContainerState | None:
        found = [c for c in self.engine.containers(self.plan.project_name, self.plan.service)]
        running = [c for c in found if c.running]
        return (running or found or [None])[0]  # type: ignore[list-item]

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
