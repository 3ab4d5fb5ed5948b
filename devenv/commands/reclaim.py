"""``devenv reclaim``: give back what the containers wrote as root in the checkout.

``devenv down`` does this after stopping the stack; this command is for a stack stopped some
other way (``docker compose down``, a reboot) or for a checkout about to be deleted.
"""

from __future__ import annotations

from ..app import ownership
from ..app.context import AppContext
from ..core.errors import EXIT_OK, DevenvError


def run(app: AppContext) -> int:
    ws = app.workspace()
    plan = ws.plan()
    if not ownership.applies():
        app.ui.info("devenv runs as root here: root may delete every file; nothing to give back")
        return EXIT_OK
    engine = app.engine()
    if any(c.running for c in engine.containers(plan.project_name, plan.service)):
        app.ui.warn(f"{plan.service} is running: what it writes from now on is root's again "
                    "(`devenv down` gives everything back once it has stopped)")
    changed, left = ownership.give_back(ws, plan, engine)
    folders = ownership.folders_of(ws, plan)
    where = f"the {len(folders)} folders the server writes into ({', '.join(folders[:3])}{', ...' if len(folders) > 3 else ''})"
    if left.count:
        raise DevenvError(f"gave back {changed} file(s), but {left.describe()}",
                          fix=ownership.by_hand(ws.root, left.folders))
    if changed:
        app.ui.info(f"gave back {changed} file(s) the containers wrote as root; everything in {where} is yours")
    else:
        app.ui.info(f"nothing to give back: everything in {where} is yours")
    return EXIT_OK
