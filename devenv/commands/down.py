"""``devenv down``: stop a watcher of this checkout, then stop and remove the containers;
keep volumes, caches and logs."""

from __future__ import annotations

import os
import sys

from ..app import ownership, state
from ..app.context import AppContext
from ..app.lock import CheckoutLock, Holder, stop_watcher
from ..app.owner import ensure_ours
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

    def note(holder: Holder) -> None:  # the watcher prints why it stopped
        state.update(ws.root, stopped_by={"pid": os.getpid(), "command": "down", "watcher": holder.pid})

    lock = CheckoutLock(ws.root, "down")
    stopped = stop_watcher(lock, before=note)  # takes the lock
    with lock:
        if stopped is not None:
            app.ui.info(f"stopped the watcher (devenv {stopped.command}, process {stopped.pid})")
        ensure_ours(engine.containers(model.name), model.name, ws.project_dir, "down")
        target = ws.target(with_override=ws.override_path.is_file())
        engine.compose_down(target, volumes=volumes)
        kept = "named volumes deleted" if volumes else "named volumes kept"
        app.ui.info(f"stopped project {model.name}; {kept}; caches ({CACHE_DIR}) and logs kept")
        _give_back(app, ws, engine)
    return EXIT_OK


def _give_back(app: AppContext, ws, engine) -> None:
    """Nothing writes any more: give the user back what the containers wrote as root."""
    if not ownership.applies():
        return
    try:
        changed, left = ownership.give_back(ws, ws.plan(), engine)
    except DevenvError as e:
        app.ui.warn(f"files the containers wrote as root stay root's: {e.message}" + (f" (fix: {e.fix})" if e.fix else ""))
        return
    if changed:
        app.ui.info(f"gave back {changed} file(s) the containers wrote as root (yours again: the checkout can be deleted)")
    if left.count:
        app.ui.warn(f"{left.describe()}; fix: {ownership.by_hand(ws.root, left.folders)}")
