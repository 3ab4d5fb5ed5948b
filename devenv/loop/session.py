"""The watch loop: file events in, verified reloads out.

Signal handlers only set ``stop``; the loop waits with ``stop.wait`` and every
wait inside a reload honours it, so Ctrl-C ends the watch within a second
(a container change already under way is let finish: see devenv.engine.shield).
Saves that land during a reload accumulate in the debouncer and are applied
right after it: the running code always ends up matching the last save.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from ..app import state
from ..app.ui import TAG_CHANGE, TAG_ERROR, TAG_READY, TAG_RELOAD_FAILED, TAG_RELOAD_OK, UI
from ..app.workspace import Workspace
from ..core import rules as R
from ..core.config import CONFIG_FILE
from ..core.errors import DevenvError, EngineError
from ..core.plan import Plan
from ..engine import Engine, Target
from .reloader import Reloader, ReloadReport

if TYPE_CHECKING:
    from ..app.context import AppContext

IDLE_CHECK = 2.0  # seconds between checks of the server container while idle


class WatchSession:
    """``replan()`` re-reads the checkout after a configuration change and returns the
    fresh workspace and plan; the rules and the reloader follow them."""

    def __init__(self, ws: Workspace, plan: Plan, engine: Engine, ui: UI, stop: threading.Event,
                 replan: Callable[[], tuple[Workspace, Plan]] | None = None) -> None:
        self.ws, self.engine, self.ui, self.stop = ws, engine, ui, stop
        self._replan = replan
        self.reloader = Reloader(plan, ws.target(), engine, ws.root, stop=stop,
                                 reload_timeout=ws.settings["server.reload_timeout"], kill_after=ws.settings["reload.kill_after"],
                                 replan=self._replanned if replan else None,
                                 log=lambda line: ui.detail(line) if line else None)
        self._rules_for: tuple[Plan, list[R.PathRule]] | None = None
        self.reloads = 0
        self._engine_down = False
        self._container_reported: str | None = None
        self._printed_failure: tuple[str, str] | None = None
        self._saved_processes: list[tuple] | None = None
        self._rewatch = False
        self._fresh: tuple[Workspace, Plan] | None = None
        self.stack_removed = False

    def _replanned(self) -> tuple[Plan, Target]:
        assert self._replan is not None
        fresh, self._fresh = self._fresh, None  # read a moment ago by settings_only: no second `compose config`
        self.ws, plan = fresh or self._replan()
        return plan, self.ws.target()

    @property
    def plan(self) -> Plan:
        """The plan in force: the reloader's, which a recreate replaces."""
        return self.reloader.plan

    @property
    def known(self) -> list[str]:
        return [p.name for p in self.plan.processes]

    @property
    def rules(self) -> list[R.PathRule]:
        """The path rules for the plan in force (built again only when the plan changes)."""
        if self._rules_for is None or self._rules_for[0] is not self.plan:
            rules = R.default_rules(self.plan.packages or self.ws.detection.packages, self.plan.processes, self.ws.settings)
            self._rules_for = (self.plan, rules)
        return self._rules_for[1]

    def run(self, ready: str = "") -> None:
        from ..watch.debounce import Debouncer
        from ..watch.ignore import load_ignore_rules
        from ..watch.watcher import Watcher

        state.update(self.ws.root, watch_pid=os.getpid(), watch_started=time.time())
        first = True
        self._rewatch = True
        watcher: Watcher | None = None
        debouncer: Debouncer | None = None
        try:
            while self._rewatch and (first or not self.stop.is_set()):  # again each time devenv.toml changes only settings
                self._rewatch = False
                s = self.ws.settings
                ignore = load_ignore_rules(self.ws.root, extra=tuple(s["watch.ignore"]))
                fresh = Debouncer(quiet=s["watch.debounce_ms"] / 1000, max_wait=s["watch.max_wait_ms"] / 1000)
                polling = {"auto": None, "always": True, "never": False}[s["watch.polling"]]
                new = Watcher(self.ws.root, ignore, fresh.add, force_polling=polling,
                              log=lambda text: self.ui.warn(text.removeprefix("devenv watch: "))).start()
                if watcher is not None and debouncer is not None:
                    # The new watcher is in place before the old one stops, so a save made while the
                    # settings changed is seen by one or both (a path seen twice is one change).
                    watcher.stop()
                    carried = debouncer.take(math.inf)
                    for path, kind in carried.kinds.items() if carried is not None else ():
                        if not (ignore(path, False) or ignore(path, True)):  # the new rules decide
                            fresh.add(path, kind)
                watcher, debouncer = new, fresh
                if first:
                    self.ui.info(f"watching {watcher.watch_count} folders ({watcher.mode}); "
                                 f"reloads: {self.running_line()}; Ctrl-C stops watching")
                    if ready:
                        self.ui.emit(TAG_READY, ready)  # after the watcher runs: VS Code's "ready" means saves count
                else:
                    self.ui.info(f"watching {watcher.watch_count} folders ({watcher.mode}) with the new settings")
                first = False
                last_idle = time.monotonic()
                while not self.stop.is_set() and not self._rewatch:
                    batch = debouncer.next_batch(self.stop, timeout=IDLE_CHECK)
                    if batch is None:
                        if time.monotonic() - last_idle >= IDLE_CHECK:
                            self.idle_check()
                            last_idle = time.monotonic()
                        continue
                    self.handle(sorted(batch.paths), batch.last)
        finally:
            if watcher is not None:
                watcher.stop()
        state.update(self.ws.root, watch_pid=None)
        self.reloader.close()

    def settings_only(self) -> bool:
        """devenv.toml changed: when the container would come out the same (same override, compose files,
        profiles and service), apply the new settings to this watch and the reloads, and recreate nothing."""
        if self._replan is None:
            return False
        from ..core.override import render

        try:
            fresh, plan = self._replan()
        except DevenvError:
            return False  # the recreate path reports it
        old = self.plan
        if (render(plan), plan.compose_files, plan.profiles, plan.service) != (render(old), old.compose_files, old.profiles, old.service):
            self._fresh = (fresh, plan)  # the recreate that follows starts from it
            return False
        self.ws = fresh
        self.reloader._use(plan, fresh.target())
        self.reloader.reload_timeout = fresh.settings["server.reload_timeout"]
        self.reloader.kill_after = fresh.settings["reload.kill_after"]
        self._rewatch = True  # the watcher and the debouncer start again with the new settings
        self.ui.emit(TAG_RELOAD_OK, f"{CONFIG_FILE} -> settings applied to this watch; the container is unchanged (not recreated)")
        return True

    def running_line(self) -> str:
        """The processes a reload restarts: those the container runs now (read from it)."""
        try:
            self.reloader.poll_processes()
        except EngineError:
            pass
        running = self.reloader.tracker.running()
        absent = [n for n in self.known if n not in running]
        if not running:
            return ", ".join(self.known) or "container"
        return ", ".join(running) + (f" ({', '.join(absent)} not running)" if absent else "")

    def handle(self, paths: list[str], saved_at: float) -> ReloadReport | None:
        if "" in paths:  # the kernel's event queue overflowed: anything may have changed
            self.ui.warn("too many file events at once; reloading every process to be safe")
            decision = R.Decision(R.SIGNAL, frozenset(self.known), tuple(p for p in paths if p) or ("(overflow)",),
                                  ("event overflow",))
        else:
            decision = R.decide(paths, self.rules, self.known)
        for notice in decision.notices:
            self.ui.info(notice)
        if decision.web:
            self.web_changed(decision)
        if decision.action in (R.NONE, R.NOTICE, R.WEB):
            return None
        if decision.action == R.RECREATE and set(decision.paths) == {CONFIG_FILE} and self.settings_only():
            return None
        shown = ", ".join(decision.paths[:3]) + (f" (+{len(decision.paths) - 3} more)" if len(decision.paths) > 3 else "")
        self.ui.emit(TAG_CHANGE, f"{shown} -> {decision.describe()}")
        try:
            report = self.reloader.run(decision, saved_at)
        finally:
            self._fresh = None  # never a later reload's starting point
        self.reloads += 1
        self.print_report(report)
        state.update(self.ws.root, last_reload=report.as_json(), reloads=self.reloads, secrets=self.ui.secrets)
        return report

    def print_report(self, report: ReloadReport) -> None:
        if report.interrupted:
            self.ui.info("reload interrupted")
            return
        failure = report.failure
        if failure is not None:
            # The error line comes first and on every failed reload: VS Code's problem matcher
            # collects it within the cycle that the `reload failed` line ends. The traceback
            # itself is printed once per distinct failure; a fix clears it.
            self.ui.emit(TAG_ERROR, f"{failure.location}: {failure.message}")
            if failure.signature != self._printed_failure:
                for line in failure.lines[-30:]:
                    self.ui.detail(line)
                self._printed_failure = failure.signature
        else:
            self._printed_failure = None
        self.ui.emit(TAG_RELOAD_OK if report.ok else TAG_RELOAD_FAILED, report.summary())
        self._save_warm()
        if failure is not None:
            self.ui.info("waiting for the next save (the server will be restarted then)")

    def check_processes(self) -> None:
        """A process that crash-loops on its own (the loop relaunches it in a running container)."""
        try:
            found = self.reloader.poll_processes()
        except EngineError:
            return
        if found is None:
            self._save_processes()
            return
        container, loop = found
        report = ReloadReport((), "nothing restarted until the next save", cause=f"{loop.name} keeps exiting")
        report.failure = self.reloader.crash_failure(container, loop)
        if report.failure is not None and report.failure.signature == self._printed_failure:
            return  # the reload that caused it said so already; the next save restarts it
        report.error = (f"{loop.script} exited {loop.exits} times in a row and its loop keeps relaunching it"
                        + (f": {report.failure.message} at {report.failure.location}" if report.failure else
                           " (no traceback in the log: `devenv logs` shows it)"))
        self.print_report(report)
        self._save_processes()

    def _save_warm(self) -> None:
        """The warm parents and their memory, for `devenv status --json`."""
        try:
            parents = self.reloader.warm_status()
        except EngineError:
            return
        if parents is not None:
            state.update(self.ws.root, warm=parents)

    def _save_processes(self) -> None:
        snapshot = self.reloader.tracker.snapshot(time.time())
        key = [(p["name"], p["pid"], p["restarts"]) for p in snapshot]  # not the uptimes: no write every poll
        if key != self._saved_processes:
            self._saved_processes = key
            state.update(self.ws.root, processes=snapshot, processes_container=self.reloader.tracker.container)

    def web_changed(self, decision: R.Decision) -> None:
        build = self.ws.settings["reload.web_build"]
        if not build:
            self.ui.info("web/src changed: the container serves the image's web/dist; build the UI "
                         "(cd web && npm run build) or set reload.web_build in devenv.toml")
            return
        from .webui import build_and_copy

        try:
            seconds = build_and_copy(self.ws.root, build, self.engine, self.reloader.server_container().id)
            self.ui.emit(TAG_RELOAD_OK, f"web/src -> web UI built and copied in {seconds:.1f} s")
        except DevenvError as e:
            self.ui.emit(TAG_RELOAD_FAILED, f"web/src -> web UI build: {e.message}")

    def _project_has_containers(self) -> bool:
        try:
            return bool(self.engine.containers(self.plan.project_name))
        except EngineError:
            return True  # cannot tell: keep the old behaviour

    def idle_check(self) -> None:
        """Notice a server container killed, or an engine gone, and bring the stack back."""
        try:
            container = self.reloader.find_container()
        except EngineError as e:
            if not self._engine_down:
                self.ui.warn(f"{e.message}; devenv keeps watching and retries")
                self._engine_down = True
            return
        if self._engine_down:
            self.ui.info("the engine is back")
            self._engine_down = False
        if container is not None and container.state in ("running", "restarting"):
            self._container_reported = None
            self.check_processes()
            return
        if container is None and not self._project_has_containers():
            # `docker compose down` (or `devenv down` from elsewhere) removed the whole stack:
            # starting it again would undo what the user asked for.
            self.ui.warn(f"the stack of project {self.plan.project_name} was removed (docker compose down?); "
                         "stopped watching, not starting it again")
            self.stack_removed = True
            self.stop.set()
            return
        what = "is gone" if container is None else f"is {container.state} (exit code {container.exit_code})"
        if self._container_reported != what:
            self.ui.warn(f"the {self.plan.service} container {what}; starting it again")
            self._container_reported = what
        report = ReloadReport((), "start the container", cause=f"the {self.plan.service} container {what}")
        started = time.time()
        try:
            # --no-recreate: start what exists as it is, and leave the running dependencies alone
            # (on Podman compose would otherwise recreate them all).
            self.engine.compose_up(self.reloader.target, [self.plan.service], no_recreate=True, on_line=lambda line: None)
            self.reloader.await_container(time.monotonic(), started, report)
        except DevenvError as e:
            report.error = e.message
        self.print_report(report)


class StopEvent(threading.Event):
    """The watch's stop flag, and why it was set (shown when the watch ends)."""

    reason: str = ""


SIGNAL_REASONS: dict[int, str] = {
    signal.SIGINT: "Ctrl-C",
    signal.SIGTERM: "SIGTERM",
    signal.SIGHUP: "SIGHUP (the terminal closed)",
}


@contextmanager
def stop_on_signals() -> Iterator[StopEvent]:
    """First Ctrl-C, SIGTERM or SIGHUP sets the event; a second one abandons whatever is in flight.

    SIGHUP (the terminal or the ssh session closed) used to kill the watch without a word
    and leave its pid in the state file.
    """
    stop = StopEvent()

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.reason = SIGNAL_REASONS.get(signum, f"signal {signum}")
        stop.set()

    previous = {s: signal.signal(s, handler) for s in SIGNAL_REASONS}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def watch_until_stopped(app: "AppContext", ws: Workspace, plan: Plan, *, ready: str) -> None:
    """Watch and reload until Ctrl-C or SIGTERM (``devenv up`` and ``devenv watch``)."""
    engine = app.engine()
    if hasattr(engine, "shield"):
        engine.shield = True  # a Ctrl-C must not cut a compose recreate in half

    def replan() -> tuple[Workspace, Plan]:
        fresh = app.workspace()
        new_plan = fresh.plan(debug=plan.debug_port is not None)
        fresh.write_override(new_plan)
        return fresh, new_plan

    with stop_on_signals() as stop:
        session = WatchSession(ws, plan, engine, app.ui, stop, replan=replan)
        session.run(ready=ready)
    by = state.load(ws.root).get("stopped_by")
    if isinstance(by, dict) and by.get("watcher") == os.getpid():
        state.update(ws.root, stopped_by=None)
        app.ui.info(f"stopped watching: `devenv {by.get('command', 'down')}` (process {by.get('pid')}) is stopping the stack")
    elif session.stack_removed:
        app.ui.info("stopped watching; `devenv up` starts the stack again")
    else:
        why = f" ({stop.reason})" if stop.reason else ""
        app.ui.info(f"stopped watching{why}; the stack is still running (`devenv down` stops it, `devenv watch` resumes)")
