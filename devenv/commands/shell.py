"""``devenv shell [SERVICE]``: an interactive shell in the service's container."""

from __future__ import annotations

from ..context import AppContext
from ..errors import DevenvError

# A constant: bash when the image has it, else sh. Nothing from the user goes into it.
SHELL = ["sh", "-c", 'exec "$(command -v bash || echo sh)"']


def run(app: AppContext, *, service: str | None = None) -> int:
    ws = app.workspace()
    name = service or ws.plan().service
    running = [c for c in app.engine().containers(ws.model().name, name) if c.running]
    if not running:
        raise DevenvError(f"no running container for service {name}", fix="start the stack with `devenv up`")
    return app.engine().interactive(running[0].id, SHELL, workdir="/ragflow")
