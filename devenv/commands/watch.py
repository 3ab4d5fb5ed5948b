"""``devenv watch``: reload a stack that `devenv up --detach` started."""

from __future__ import annotations

from ..app import state
from ..app.context import AppContext
from ..core.errors import EXIT_OK, DevenvError
from ..core.override import State, render
from ..loop.session import watch_until_stopped


def run(app: AppContext) -> int:
    ws = app.workspace()
    state.ensure_single_watcher(ws.root)
    plan = ws.plan()
    current = ws.override_state(render(plan))
    if current in (State.EDITED, State.FOREIGN):
        raise ws.edited_error(current)  # what `devenv up` would say: it would refuse too
    if current is not State.CURRENT:
        raise DevenvError(f"{ws.override_path} is missing or out of date", fix="run `devenv up` (it plans, starts and watches)")
    running = [c for c in app.engine().containers(plan.project_name, plan.service) if c.running]
    if not running:
        raise DevenvError(f"the {plan.service} container is not running", fix="run `devenv up`")
    watch_until_stopped(app, ws, plan, ready=f"watching {plan.service} (already running)")
    return EXIT_OK
