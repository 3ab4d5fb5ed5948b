"""``devenv up``: plan, preflight, start, wait until healthy, then watch."""

from __future__ import annotations

import time
from pathlib import Path

from ..app import preflight as P
from ..app import state
from ..app.context import AppContext
from ..app.ui import TAG_READY, TAG_UP, UI, Progress
from ..app.workspace import Workspace
from ..core.errors import EXIT_OK, DevenvError, EngineError, UnhealthyError
from ..core.override import State
from ..core.plan import CACHE_DIR, Plan
from ..engine import ContainerState
from ..core.tracebacks import Failure
from ..loop.gate import StartMonitor, StartPhases, wait_healthy
from ..loop.session import watch_until_stopped


def run(app: AppContext, *, detach: bool = False, debug: bool = False, recreate: bool = False,
        force: bool = False, timeout: float | None = None) -> int:
    started = time.monotonic()
    ui = app.ui
    ws = app.workspace()
    if not detach:
        state.ensure_single_watcher(ws.root)
    engine = app.engine()
    plan = ws.plan(debug=debug)
    had_containers = bool(preflight(ws, plan, ui))
    for warning in plan.warnings:
        ui.warn(warning)
    result = ws.write_override(plan, force=force)
    ui.emit(TAG_UP, f"starting project {plan.project_name}: {plan.service} ({plan.release.label}) in dev mode")
    compose_began = time.time()
    try:
        with Progress(ui, "docker compose up") as progress:
            engine.compose_up(ws.target(), [], force_recreate=recreate, on_line=progress.update)
    except DevenvError:
        if not had_containers and result.state is State.MISSING:
            _roll_back(ws, result.created)
        raise
    if ws.image_unknown:
        plan = _with_baked_files(ws, plan, engine, ui)
    deadline = time.monotonic() + (timeout or ws.settings["server.start_timeout"])
    phases = StartPhases()
    if not plan.health_url:
        ui.warn(f"{plan.service} publishes no API port (9380) and server.health_url is not set: not checking health")
    else:
        ui.info(f"waiting for {plan.health_url} ({plan.health.ping or '/'}, then {plan.health.healthz or 'no healthz'})")
        with Progress(ui, f"{plan.service} starting") as progress:
            gate = wait_healthy(plan, engine, deadline, monitor=StartMonitor(plan, engine, compose_began, progress.status))
        phases = gate.phases
        state.update(ws.root, start=phases.as_json())
        if not gate.ok:
            raise _unhealthy(ws, plan, gate.reason, engine, gate.failure)
    ready = summary(ws, plan, time.monotonic() - started, phases)
    if detach:
        ui.emit(TAG_READY, ready)
        ui.info("not watching (--detach): run `devenv watch` to reload on save, `devenv down` to stop")
        return EXIT_OK
    watch_until_stopped(app, ws, plan, ready=ready)
    return EXIT_OK


def _with_baked_files(ws: Workspace, plan: Plan, engine, ui: UI) -> Plan:
    """The server image did not exist before this `up` built or pulled it: what did it bake?"""
    ws.image_unknown = False
    fresh = ws.plan(debug=plan.debug_port is not None)
    if fresh.baked == plan.baked:
        return plan
    ui.info(f"the new image bakes {len(fresh.baked)} file(s) under the mounted packages ({', '.join(fresh.baked[:3])}); "
            "recreating the server so they stay visible")
    ws.write_override(fresh)
    with Progress(ui, "docker compose up") as progress:
        engine.compose_up(ws.target(), [fresh.service], no_deps=True, on_line=progress.update)
    return fresh


def preflight(ws: Workspace, plan: Plan, ui: UI) -> list[ContainerState]:
    """Refuse to start when something is sure to fail; warn about what might.

    Returns the project's containers as they were before devenv touched anything.
    """
    engine = ws.engine
    check, _info = P.check_engine(engine)
    _enforce(check, ui, engine=True)
    _enforce(P.check_compose(engine), ui, engine=True)
    _enforce(P.check_line_endings(ws.root), ui)
    _enforce(P.check_release(ws.detection), ui)
    containers = engine.containers(plan.project_name)
    ours = {port for c in containers if c.running for (_cport, _ip, port) in c.ports}
    uses = P.published_ports(ws.model())
    if plan.debug_port:
        uses.append(P.PortUse("127.0.0.1", plan.debug_port, f"{plan.service} debugger"))
    for check in P.check_ports(uses, ours):
        _enforce(check, ui)
    return containers


def _enforce(check: P.Check, ui: UI, *, engine: bool = False) -> None:
    if check.status == P.FAIL:
        error = EngineError if engine else DevenvError
        raise error(check.message, fix=check.fix or None)
    if check.status == P.WARN:
        ui.warn(check.message + (f" (fix: {check.fix})" if check.fix else ""))


def _roll_back(ws: Workspace, created: list[Path]) -> None:
    """compose up failed on a stack devenv had never started: leave no trace of this attempt."""
    ws.override_path.unlink(missing_ok=True)
    for folder in sorted(created, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()  # only if still empty: never remove what something wrote
        except OSError:
            pass


def _unhealthy(ws: Workspace, plan: Plan, reason: str, engine, failure: Failure | None = None) -> UnhealthyError:
    found = engine.containers(plan.project_name, plan.service)
    log = engine.container_logs(found[0].id, tail=30) if found else ""
    lines = [line for line in log.splitlines() if line.strip()][-30:]
    details: list[str] = []
    if failure is not None:  # the traceback once, paths in the checkout, then the log's tail
        details += ["the traceback (paths in the checkout):"] + ["  " + line for line in failure.lines[-30:]]
        tail = [line for line in lines if line.strip() not in {f.strip() for f in failure.lines}][-10:]
        lines = tail
    if lines:
        details += ["last lines of the server's log:"] + ["  " + line for line in lines]
    fix = ("fix the error and run `devenv up` again (the stack keeps running: `devenv down` stops it)" if failure is not None
           else "read the log above; `devenv logs` shows more, `devenv doctor` checks the usual causes")
    return UnhealthyError(f"{plan.service} is not healthy: {reason}", fix=fix, details=details)


def summary(ws: Workspace, plan: Plan, seconds: float, phases: StartPhases | None = None) -> str:
    web = next((p for p in ws.model().services[plan.service].ports if p.target == 80 and p.published), None)
    split = phases.split() if phases is not None else ""
    parts = [f"{plan.service} healthy in {seconds:.1f} s ({plan.release.label}{'; ' + split if split else ''})",
             f"API {plan.health_url or '(not published)'}"]
    if web:
        parts.append(f"web http://{web.loopback_ip}:{web.published}")
    if plan.debug_port:
        parts.append(f"debugger 127.0.0.1:{plan.debug_port}")
    mounted = ", ".join(plan.packages) if plan.mode == "packages" else "the whole checkout"
    parts.append(f"mounted {mounted}; caches in {CACHE_DIR}")
    return "; ".join(parts)
