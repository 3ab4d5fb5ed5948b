"""``devenv restart [SERVICE]``: the fast path for the server, or a whole service."""

from __future__ import annotations

from ..app.context import AppContext
from ..app.ui import TAG_RELOAD_FAILED, TAG_RELOAD_OK
from ..core import rules as R
from ..core.errors import EXIT_FAILED, EXIT_OK, ConfigError
from ..loop.reloader import Reloader


def run(app: AppContext, *, service: str | None = None, whole: bool = False) -> int:
    ws = app.workspace()
    plan = ws.plan()
    name = service or plan.service
    if name not in ws.model().services:
        raise ConfigError(f"no service {name!r} in project {plan.project_name}", fix=f"use one of: {', '.join(sorted(ws.model().services))}")
    reloader = Reloader(plan, ws.target(), app.engine(), ws.root, reload_timeout=ws.settings["server.reload_timeout"],
                        kill_after=ws.settings["reload.kill_after"])
    try:
        if name == plan.service:
            names = frozenset(p.name for p in plan.processes)
            action = R.RESTART if whole or not names else R.SIGNAL
            report = reloader.run(R.Decision(action, names))
            app.ui.emit(TAG_RELOAD_OK if report.ok else TAG_RELOAD_FAILED, report.summary())
            if report.failure:
                for line in report.failure.lines[-30:]:
                    app.ui.detail(line)
            return EXIT_OK if report.ok else EXIT_FAILED
        app.engine().compose_restart(ws.target(), [name])
        app.ui.info(f"restarted {name}")
        return EXIT_OK
    finally:
        reloader.close()
