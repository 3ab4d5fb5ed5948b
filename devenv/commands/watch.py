"""``devenv watch``: reload a stack that `devenv up --detach` started."""

from __future__ import annotations

from ..app.context import AppContext
from ..app.lock import WATCHING, CheckoutLock
from ..app.owner import ensure_ours
from ..app.workspace import Workspace
from ..core.errors import EXIT_OK, DevenvError
from ..core.override import State, render
from ..loop.session import watch_until_stopped


def run(app: AppContext) -> int:
    ws = app.workspace()
    with CheckoutLock(ws.root, "watch") as lock:
        return _watch(app, ws, lock)


def _watch(app: AppContext, ws: Workspace, lock: CheckoutLock) -> int:
    plan = ws.plan()
    current = ws.override_state(render(plan))
    if current in (State.EDITED, State.FOREIGN):
        raise ws.edited_error(current)  # what `devenv up` would say: it would refuse too
    if current is not State.CURRENT:
        raise DevenvError(f"{ws.override_path} is missing or out of date", fix="run `devenv up` (it plans, starts and watches)")
    containers = ensure_ours(app.engine().containers(plan.project_name), plan.project_name, ws.project_dir, "watch")
    running = [c for c in containers if c.service == plan.service and c.running]
    if not running:
        raise DevenvError(f"the {plan.service} container is not running", fix="run `devenv up`")
    lock.set_phase(WATCHING)
    watch_until_stopped(app, ws, plan, ready=f"watching {plan.service} (already running)")
    return EXIT_OK
