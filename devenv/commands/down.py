"""``devenv down``: stop and remove the containers; keep volumes, caches and logs."""

from __future__ import annotations

import sys

from ..app.context import AppContext
from ..core.errors import EXIT_OK, EXIT_USAGE, DevenvError
from ..core.plan import CACHE_DIR


def run(app: AppContext, *, volumes: bool = False, yes: bool = False) -> int:
    ws = app.workspace()
    model = ws.model()
    engine = app.engine()
    if volumes and not yes:
        names = ", ".join(sorted(model.volumes)) or "(none)"
        if not sys.stdin.isatty():
            raise DevenvError(f"--volumes deletes the named volumes ({names}) and needs confirmation",
                              fix="add --yes to confirm without a prompt")
        answer = input(f"Delete the named volumes of project {model.name} ({names}), with their data? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            app.ui.info("nothing deleted")
            return EXIT_USAGE
    target = ws.target(with_override=ws.override_path.is_file())
    engine.compose_down(target, volumes=volumes)
    kept = "named volumes deleted" if volumes else "named volumes kept"
    app.ui.info(f"stopped project {model.name}; {kept}; caches ({CACHE_DIR}) and logs kept")
    return EXIT_OK
