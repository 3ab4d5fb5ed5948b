"""``devenv logs [-f] [SERVICE]``: a service's logs, secrets masked.

compose ends ``logs -f`` when the container stops; a container that comes back
(a restart, a reload that restarted it) is followed again, saying so.
"""

from __future__ import annotations

import time

from ..app.context import AppContext
from ..core.errors import EXIT_OK, ConfigError
from ..engine import Engine

COME_BACK = 10.0  # seconds a stopped container may take to run again before `logs -f` ends


def run(app: AppContext, *, service: str | None = None, follow: bool = False, tail: str = "200") -> int:
    ws = app.workspace()
    model = ws.model()
    name = service or ws.plan().service
    if name not in model.services:
        raise ConfigError(f"no service {name!r} in project {model.name}", fix=f"use one of: {', '.join(sorted(model.services))}")
    target = ws.target(with_override=ws.override_path.is_file())
    engine = app.engine()
    since: float | None = None
    try:
        while True:
            began = time.monotonic()
            for line in engine.compose_logs(target, [name], follow=follow, tail=tail if since is None else None, since=since):
                app.ui.print(line)
            if not follow:
                break
            since = time.time()
            if time.monotonic() - began < 1:
                time.sleep(0.5)  # compose gave up at once: do not spin
            if not _runs_again(engine, model.name, name, since + COME_BACK):
                app.ui.info(f"the {name} container stopped; no more logs (`devenv up` starts it)")
                break
            app.ui.info(f"the {name} container restarted; following its new output")
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _runs_again(engine: Engine, project: str, service: str, deadline: float) -> bool:
    while True:
        if any(c.running for c in engine.containers(project, service)):
            return True
        if time.time() >= deadline:
            return False
        time.sleep(0.2)
