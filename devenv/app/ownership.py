"""Root-owned files in the checkout, found on the host and given back through the engine.

See :mod:`devenv.core.ownership` for why they appear. ``devenv down`` gives them back after the
containers stop (nothing writes any more), ``devenv reclaim`` does it on its own (for a stack
stopped some other way), ``devenv doctor`` counts them. A devenv run as root, or on an engine
whose containers write as the user (Docker Desktop, rootless), finds none and runs nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..core.errors import DevenvError
from ..core.ownership import bind_target, give_back_argv, writable_binds
from ..core.plan import Plan
from ..engine import Engine
from .workspace import Workspace

EXAMPLES = 3


@dataclass
class Foreign:
    """Entries under the scanned folders that the user does not own."""

    count: int = 0
    examples: list[str] = field(default_factory=list)  # checkout-relative
    folders: list[str] = field(default_factory=list)  # the scanned folders that hold some
    more: bool = False  # the scan stopped at its limit

    def describe(self) -> str:
        count = f"{self.count}{'+' if self.more else ''}"
        return f"{count} file(s) in {', '.join(self.folders)} are not yours (e.g. {', '.join(self.examples)})"


def by_hand(root: Path, folders: Sequence[str]) -> str:
    """The fix when the engine cannot give them back."""
    return f"sudo chown -R {os.getuid()}:{os.getgid()} {' '.join(folders)} (in {root})"


def applies() -> bool:
    """Only a non-root user on a POSIX host can be locked out of files the engine wrote."""
    return os.name == "posix" and os.geteuid() != 0


def scan(root: Path, folders: Sequence[str], uid: int, limit: int | None = None) -> Foreign:
    """Entries (files, folders, links) under ``folders`` of ``root`` not owned by ``uid``; the walk
    never follows links and stops after ``limit`` found."""
    found = Foreign()
    for rel in folders:
        before = found.count
        for path in _walk(root / rel):
            try:
                owner = path.lstat().st_uid
            except OSError:
                continue  # gone meanwhile
            if owner == uid:
                continue
            found.count += 1
            if len(found.examples) < EXAMPLES:
                found.examples.append(path.relative_to(root).as_posix())
            if limit is not None and found.count >= limit:
                found.more = True
                break
        if found.count > before:
            found.folders.append(rel)
        if found.more:
            break
    return found


def _walk(top: Path):
    """``top`` and everything under it, not following links; unreadable folders are still yielded
    (they are what the user cannot delete into)."""
    if not top.is_dir() or top.is_symlink():
        return
    stack = [top]
    yield top
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            path = Path(entry.path)
            yield path
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)


def folders_of(ws: Workspace, plan: Plan) -> tuple[str, ...]:
    return writable_binds(plan, ws.model().services[plan.service])


def give_back(ws: Workspace, plan: Plan, engine: Engine) -> tuple[int, Foreign]:
    """Chown what the containers left root-owned back to this user, through a throwaway container of
    the server's image. Returns how many entries were changed and what is still not the user's."""
    uid, gid = os.getuid(), os.getgid()
    folders = [rel for rel in folders_of(ws, plan) if scan(ws.root, [rel], uid, limit=1).count]
    if not folders:
        return 0, Foreign()
    image = _image(ws, plan, engine)
    binds = [(str(ws.root / rel), bind_target(i)) for i, rel in enumerate(folders)]
    out = engine.run_once(image, give_back_argv(len(binds), uid, gid), binds)
    changed = sum(1 for line in out.splitlines() if line.startswith("/"))
    return changed, scan(ws.root, folders, uid)


def _image(ws: Workspace, plan: Plan, engine: Engine) -> str:
    """The server's image: the one its container runs, else the one compose would use."""
    found = engine.containers(plan.project_name, plan.service)
    image = found[0].image if found and found[0].image else ws.model().services[plan.service].image
    if not image or not engine.image_present(image):
        raise DevenvError(f"cannot give the files back: the server's image ({image or 'none'}) is not on this engine",
                          fix=by_hand(ws.root, folders_of(ws, plan)))
    return image
