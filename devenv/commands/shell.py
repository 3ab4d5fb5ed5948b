"""``devenv shell [SERVICE]``: an interactive shell in the service's container."""

from __future__ import annotations

from ..app.context import AppContext
from ..core.errors import DevenvError


def run(app: AppContext, *, service: str | None = None) -> int:
    ws = app.workspace()
    name = service or ws.plan().service
    engine = app.engine()
    running = [c for c in engine.containers(ws.model().name, name) if c.running]
    if not running:
        raise DevenvError(f"no running container for service {name}", fix="start the stack with `devenv up`")
    container = running[0].id
    has_bash, _ = engine.exec(container, ["test", "-x", "/bin/bash"])
    return engine.interactive(container, ["/bin/bash"] if has_bash == 0 else ["/bin/sh"], workdir="/ragflow")
