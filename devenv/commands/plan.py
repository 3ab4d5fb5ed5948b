"""``devenv plan``: write the override, create the host folders, show what is mounted where."""

from __future__ import annotations

from ..app.context import AppContext
from ..app.ui import table
from ..core.errors import EXIT_OK, CheckFailed
from ..core.override import State, render
from ..core.plan import Plan


def run(app: AppContext, *, to_stdout: bool = False, check: bool = False, force: bool = False, debug: bool = False) -> int:
    ws = app.workspace()
    plan = ws.plan(debug=debug)
    text = render(plan)
    if to_stdout:
        app.ui.print(text.rstrip("\n"))
        return EXIT_OK
    if check:
        state = ws.override_state(text)
        if state is State.CURRENT:
            app.ui.info(f"{ws.override_path} is up to date")
            return EXIT_OK
        raise CheckFailed(f"{ws.override_path} is {state.value}: it is not what devenv would generate now",
                          fix="run `devenv plan --force` (it was edited by hand; your copy is kept as .bak)"
                          if state in (State.EDITED, State.FOREIGN) else "run `devenv plan`")
    for warning in plan.warnings:
        app.ui.warn(warning)
    result = ws.write_override(plan, force=force)
    verb = {State.MISSING: "wrote", State.CURRENT: "unchanged:", State.STALE: "updated"}.get(result.state, "replaced")
    app.ui.info(f"{verb} {ws.override_path}")
    for path in result.created:
        app.ui.info(f"created {path}")
    app.ui.print(describe(plan))
    return EXIT_OK


def describe(plan: Plan) -> str:
    """The plan as a reader wants it: what is mounted where, and why."""
    rows = [(m.source if m.kind == "bind" else f"volume {m.source}", m.target + (" (ro)" if m.read_only else ""), m.why) for m in plan.mounts]
    lines = [
        f"service {plan.service} in project {plan.project_name} ({plan.release.label}, mode {plan.mode})",
        "",
        table(rows, ("host (relative to the checkout)", "container", "why")),
    ]
    if plan.kept:
        lines += ["", "kept from the stack: " + "; ".join(plan.kept)]
    extras = [f"init: {str(plan.init).lower()}", f"stop_grace_period: {plan.stop_grace_period}"]
    extras += [f"{k}={v!r}" for k, v in plan.environment]
    if plan.ports:
        extras.append("ports: " + ", ".join(plan.ports))
    lines += ["also: " + ", ".join(extras)]
    return "\n".join(lines)
