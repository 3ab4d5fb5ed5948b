"""``devenv doctor``: every check devenv knows, each with pass, warn or fail and the fix."""

from __future__ import annotations

import os
from pathlib import Path

from ..app import preflight as P
from ..app.context import AppContext
from ..app.ui import to_json
from ..core.errors import EXIT_FAILED, EXIT_OK, DevenvError
from ..core.override import State, render
from ..core.plan import CACHE_DIR


def run(app: AppContext, *, as_json: bool = False) -> int:
    checks = collect(app)
    if as_json:
        app.ui.print(to_json([c.as_json() for c in checks]))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = {P.PASS: "ok  ", P.WARN: "warn", P.FAIL: "FAIL"}[c.status]
            app.ui.print(f"{mark}  {c.name:<{width}}  {c.message}")
            if c.fix and c.status != P.PASS:
                app.ui.print(f"      {'':<{width}}  fix: {c.fix}")
    return EXIT_FAILED if any(c.status == P.FAIL for c in checks) else EXIT_OK


def collect(app: AppContext) -> list[P.Check]:
    engine = app.engine()
    checks: list[P.Check] = []
    engine_check, info = P.check_engine(engine)
    checks.append(engine_check)
    checks.append(_context())
    checks.append(P.check_compose(engine))
    try:
        ws = app.workspace()
    except DevenvError as e:
        checks.append(P.Check("checkout", P.FAIL, e.message, e.fix or ""))
        return checks
    det = ws.detection
    checks.append(P.Check("checkout", P.PASS, f"{ws.root}: RAGFlow {det.release.label}, packages {', '.join(det.packages) or '(none)'}"))
    checks.append(P.check_line_endings(ws.root))
    checks.append(P.check_release(det))
    plan = None
    try:
        plan = ws.plan()
        checks.append(P.Check("compose files", P.PASS, f"load; server service {plan.service}, project {plan.project_name}"))
    except DevenvError as e:
        checks.append(P.Check("compose files", P.FAIL, e.message, e.fix or ""))
    if plan is not None:
        checks.append(_override(ws, plan))
        if info is not None:
            ours = {port for c in engine.containers(plan.project_name) if c.running for (_cp, _ip, port) in c.ports}
            checks.extend(P.check_ports(P.published_ports(ws.model()), ours))
            checks.append(_image(engine, det.image, info))
            checks.append(P.check_networks(engine.networks(plan.project_name)))
            host = os.environ.get("DOCKER_HOST", "")
            checks.extend(P.check_podman(ws.model(), info, P.Host.local(), server_init=plan.init,
                                         local=not host or host.startswith("unix://")))
    checks.append(_inotify(ws.root, ws.settings["watch.ignore"]))
    checks.append(P.check_disk(ws.root, info))
    checks.append(_caches(ws.root))
    if plan is not None:
        checks.append(_ownership(ws, plan))
    return checks


def _ownership(ws, plan) -> P.Check:
    from ..app import ownership

    if not ownership.applies():
        return P.Check("file owners", P.PASS, "devenv runs as root: every file the containers write can be deleted")
    found = ownership.scan(ws.root, ownership.folders_of(ws, plan), os.getuid(), limit=10000)
    if not found.count:
        return P.Check("file owners", P.PASS, "every file the containers wrote through the mounts is yours")
    return P.Check("file owners", P.WARN, f"{found.describe()}: written by the containers as root, you cannot delete "
                   "them (rm -rf of the checkout fails)",
                   "devenv reclaim (gives them back through the engine, no sudo); devenv down does it too")


def _context() -> P.Check:
    host = os.environ.get("DOCKER_HOST")
    if host:
        remote = not host.startswith(("unix://", "npipe://"))
        status = P.WARN if remote else P.PASS
        return P.Check("docker host", status, f"DOCKER_HOST={host}" + (" is remote: bind mounts need the files on that host" if remote else ""),
                       "use a local engine for dev mode (unset DOCKER_HOST)" if remote else "")
    from ..engine.failures import current_context

    return P.Check("docker host", P.PASS, f"docker context {current_context()!r}")


def _override(ws, plan) -> P.Check:
    state = ws.override_state(render(plan))
    if state is State.CURRENT:
        return P.Check("override", P.PASS, f"{ws.override_path.name} is up to date")
    if state is State.MISSING:
        return P.Check("override", P.PASS, "not generated yet (devenv up or devenv plan writes it)")
    if state is State.STALE:
        return P.Check("override", P.WARN, f"{ws.override_path.name} is out of date", "devenv plan (or devenv up) regenerates it")
    return P.Check("override", P.FAIL, f"{ws.override_path.name} was edited by hand or not written by devenv",
                   "move the changes into devenv.toml, then devenv plan --force (keeps a .bak)")


def _image(engine, image: str, info) -> P.Check:
    if not image:
        return P.Check("image", P.WARN, "RAGFLOW_IMAGE is not set in docker/.env", "set it to the release you checked out")
    try:
        present = engine.image_present(image)
    except DevenvError as e:
        return P.Check("image", P.WARN, e.message)
    if present:
        return P.Check("image", P.PASS, f"{image} is present locally")
    mirrors = ", ".join(info.registry_mirrors) or "none"
    return P.Check("image", P.WARN, f"{image} is not pulled yet (registry mirrors: {mirrors}); the first up pulls several GB",
                   "if pulls from Docker Hub are slow or blocked, add registry-mirrors to the engine's daemon.json, "
                   "or use one of the mirror RAGFLOW_IMAGE lines in docker/.env")


def _inotify(root: Path, extra: list[str]) -> P.Check:
    from ..watch.ignore import load_ignore_rules
    from ..watch.limits import watches_in_use
    from ..watch.watcher import pruned_folders

    folders = len(pruned_folders(root, load_ignore_rules(root, extra=tuple(extra))))
    return P.check_inotify(folders, watches_in_use())


def _caches(root: Path) -> P.Check:
    cache = root / CACHE_DIR
    if not cache.exists():
        return P.Check("caches", P.PASS, f"{CACHE_DIR} will be created by devenv up")
    bad = [p.name for p in cache.iterdir() if p.is_dir() and not os.access(p, os.W_OK)]
    if bad:
        return P.Check("caches", P.FAIL, f"{CACHE_DIR}/{bad[0]} is not writable by you (created by root?)",
                       "devenv reclaim (gives it back through the engine)")
    return P.Check("caches", P.PASS, f"{CACHE_DIR} is writable")
