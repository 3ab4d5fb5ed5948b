"""``devenv up``: plan, preflight, start, wait until healthy, then watch."""

from __future__ import annotations

import time
from pathlib import Path

from ..app import preflight as P
from ..app import state
from ..app.context import AppContext
from ..app.lock import STARTING, WATCHING, CheckoutLock
from ..app.owner import ensure_ours
from ..app.ui import TAG_READY, TAG_UP, UI, Progress
from ..app.workspace import Workspace
from ..core.errors import EXIT_OK, DevenvError, EngineError, Interrupted, UnhealthyError
from ..core.override import State
from ..core.plan import CACHE_DIR, Plan
from ..core.tracebacks import Failure
from ..engine import ContainerState, Engine, EngineInfo
from ..loop.gate import StartMonitor, StartPhases, wait_healthy
from ..loop.session import watch_until_stopped


def run(app: AppContext, *, detach: bool = False, debug: bool = False, recreate: bool = False,
        force: bool = False, timeout: float | None = None) -> int:
    started = time.monotonic()
    ws = app.workspace()
    with CheckoutLock(ws.root, "up") as lock:
        return _up(app, ws, lock, started, detach=detach, debug=debug, recreate=recreate, force=force, timeout=timeout)


def _up(app: AppContext, ws: Workspace, lock: CheckoutLock, started: float, *, detach: bool, debug: bool,
        recreate: bool, force: bool, timeout: float | None) -> int:
    ui = app.ui
    engine = app.engine()
    plan = ws.plan(debug=debug)
    containers, info = preflight(ws, plan, ui)
    had_containers = bool(containers)
    for warning in plan.warnings:
        ui.warn(warning)
    result = ws.write_override(plan, force=force)
    lock.set_phase(STARTING)  # under way: from now on .devenv/lock names this command to any other
    keep = keep_running(info, containers, recreate=recreate, override_changed=result.state is not State.CURRENT)
    ui.emit(TAG_UP, f"starting project {plan.project_name}: {plan.service} ({plan.release.label}) in dev mode")
    if keep:
        ui.info("Podman: the containers that run are kept as they are (compose would recreate them all there); "
                "`devenv up --recreate` applies compose file changes")
    compose_began = time.time()
    try:
        try:
            with Progress(ui, "docker compose up") as progress:
                engine.compose_up(ws.target(), [], force_recreate=recreate, no_recreate=keep, on_line=progress.update)
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
    except KeyboardInterrupt:
        raise interrupted_while_starting(plan, engine) from None
    ready = summary(ws, plan, time.monotonic() - started, phases)
    if detach:
        ui.emit(TAG_READY, ready)
        ui.info("not watching (--detach): run `devenv watch` to reload on save, `devenv down` to stop")
        return EXIT_OK
    lock.set_phase(WATCHING)
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


def keep_running(info: EngineInfo | None, containers: list[ContainerState], *, recreate: bool, override_changed: bool) -> bool:
    """Whether ``compose up`` must leave the project's existing containers alone (``--no-recreate``).

    On Podman, compose sees every container's networks as changed (Podman's Docker API reports
    network ids that do not match) and recreates the whole stack on each ``up``: a database restart
    for nothing. So when the stack already runs there and devenv's override did not change, keep it.

    >>> from devenv.engine import EngineInfo
    >>> podman = EngineInfo("4.3.1", "1.41", "debian", "h", True, (), "", "")
    >>> keep_running(podman, [], recreate=False, override_changed=False)
    False
    """
    if info is None or not info.is_podman or recreate or override_changed:
        return False
    return any(c.running for c in containers)


def preflight(ws: Workspace, plan: Plan, ui: UI) -> tuple[list[ContainerState], EngineInfo | None]:
    """Refuse to start when something is sure to fail; warn about what might.

    Returns the project's containers as they were before devenv touched anything, and what the
    engine said about itself.
    """
    engine = ws.engine
    check, info = P.check_engine(engine)
    _enforce(check, ui, engine=True)
    _enforce(P.check_compose(engine), ui, engine=True)
    _enforce(P.check_line_endings(ws.root), ui)
    _enforce(P.check_release(ws.detection), ui)
    containers = ensure_ours(engine.containers(plan.project_name), plan.project_name, ws.project_dir, "up")
    _repair_networks(engine, plan.project_name, ui)  # only once the stack is known to be this checkout's
    ours = {port for c in containers if c.running for (_cport, _ip, port) in c.ports}
    uses = P.published_ports(ws.model())
    if plan.debug_port:
        uses.append(P.PortUse("127.0.0.1", plan.debug_port, f"{plan.service} debugger"))
    for check in P.check_ports(uses, ours):
        _enforce(check, ui)
    return containers, info


def _repair_networks(engine, project: str, ui: UI) -> None:
    """Remove the empty duplicates of the project's networks, which make every compose `up` fail."""
    remove, stuck = P.networks_to_remove(engine.networks(project))
    if stuck:
        raise EngineError(f"network {stuck[0]} exists more than once and containers use several copies; compose refuses it as ambiguous",
                          fix=f"devenv down (then remove what is left: docker network ls --filter name={stuck[0]}), then devenv up")
    for n in remove:
        engine.remove_network(n.id)
    if remove:
        names = ", ".join(sorted({n.name for n in remove}))
        ui.warn(f"removed {len(remove)} empty duplicate network(s) named {names} (left by two `up` at once)")


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


def interrupted_while_starting(plan: Plan, engine: Engine) -> Interrupted:
    """Ctrl-C during `up`: say what the engine runs now and the two ways on."""
    try:
        found = engine.containers(plan.project_name)
    except (DevenvError, KeyboardInterrupt):
        found = []
    running = sorted(c.service for c in found if c.running)
    other = sorted(f"{c.service} ({c.state})" for c in found if not c.running)
    if not found:
        state_text = "no container of it exists"
    else:
        state_text = "; ".join(part for part in (
            f"running: {', '.join(running)}" if running else "",
            f"not running: {', '.join(other)}" if other else "") if part)
    return Interrupted(
        f"interrupted while starting project {plan.project_name}; {state_text}",
        fix="`devenv down` stops and removes them (volumes kept), or `devenv up` starts again and watches",
    )


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
