"""``devenv logs [-f] [SERVICE]``: a service's logs, secrets masked."""

from __future__ import annotations

from ..app.context import AppContext
from ..core.errors import EXIT_OK, ConfigError


def run(app: AppContext, *, service: str | None = None, follow: bool = False, tail: str = "200") -> int:
    ws = app.workspace()
    model = ws.model()
    name = service or ws.plan().service
    if name not in model.services:
        raise ConfigError(f"no service {name!r} in project {model.name}", fix=f"use one of: {', '.join(sorted(model.services))}")
    target = ws.target(with_override=ws.override_path.is_file())
    try:
        for line in app.engine().compose_logs(target, [name], follow=follow, tail=tail):
            app.ui.print(line)
    except KeyboardInterrupt:
        pass
    return EXIT_OK
