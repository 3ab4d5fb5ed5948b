"""Filesystem adapter: finding and reading a checkout, atomic writes, folders.

Everything devenv writes goes through :func:`atomic_write` (a temporary file in
the same folder, flushed, then renamed over the target), so an interrupted run
never leaves a half-written file.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

from ..core.detect import FILES_TO_READ, MAIN_COMPOSE, CheckoutSnapshot
from ..core.errors import CheckoutError, DevenvError
from ..core.plan import STATE_DIR

_SKIP_LISTING = {".git", "node_modules", ".venv", "__pycache__", STATE_DIR}


def find_checkout(start: Path) -> Path:
    """The folder itself or its nearest parent holding docker/docker-compose.yml."""
    start = start.resolve()
    if start.is_file():
        raise CheckoutError(f"{start} is a file, not a folder", fix=f"pass the checkout folder: -C {start.parent}")
    if not start.is_dir():
        raise CheckoutError(f"{start} does not exist or is not a folder", fix="pass an existing RAGFlow checkout with -C DIR")
    for folder in (start, *start.parents):
        if (folder / MAIN_COMPOSE).is_file():
            return folder
    raise CheckoutError(
        f"{start} is not inside a RAGFlow checkout (no {MAIN_COMPOSE} here or above)",
        fix="cd into your RAGFlow checkout or pass -C DIR; to try devenv without one: devenv demo ./ragflow-demo",
    )


def read_checkout(root: Path, environ: Mapping[str, str], named: Iterable[str] = ()) -> CheckoutSnapshot:
    """Read what detection needs: two levels of folders and a few small files. ``named`` folders
    (``mounts.packages``, which may go deeper: ``rag/res/deepdoc``) are listed when they exist."""
    dirs: set[str] = set()
    for top in _subdirs(root):
        dirs.add(top.name)
        if top.name not in _SKIP_LISTING:
            dirs.update(f"{top.name}/{sub.name}" for sub in _subdirs(top))
    for rel in {posixpath.normpath(r.strip("/")) for r in named if r.strip("/")} - dirs:
        if not rel.startswith("..") and (root / rel).is_dir() and not (root / rel).is_symlink():
            dirs.add(rel)
    texts = {}
    for rel in FILES_TO_READ:
        text = read_text(root / rel)
        if text is not None:
            texts[rel] = text
    docker = root / "docker"
    docker_files = frozenset(p.name for p in docker.iterdir()) if docker.is_dir() else frozenset()
    return CheckoutSnapshot(str(root), frozenset(dirs), texts, docker_files, dict(environ))


def _subdirs(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise CheckoutError(f"{path} is not UTF-8 text", fix="save it as UTF-8") from None
    except OSError as e:
        raise CheckoutError(f"cannot read {path}: {e.strerror}", fix="check the file's permissions") from None


def atomic_write(path: Path, text: str, *, mode: int | None = None) -> None:
    """Write ``text`` to ``path`` so readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        elif path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


READ_ONLY_FIX = ("devenv writes docker/docker-compose.devenv.yml and .devenv/ in the checkout: "
                 "make the checkout writable by you (or work on a writable copy)")


def read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def ensure_state_dir(root: Path) -> Path:
    """Create .devenv/ with a .gitignore of its own, so git ignores it without touching the user's."""
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    marker = state / ".gitignore"
    if not marker.exists():
        atomic_write(marker, "# devenv's caches and logs; ignored by git without editing your .gitignore\n*\n")
    return state


def ensure_dirs(root: Path, rels: Iterable[str]) -> list[Path]:
    """Create missing folders (relative to ``root`` or absolute); return those created.

    Each must end up a writable folder: Docker would otherwise create it as an
    empty root-owned one, or refuse (Docker Desktop).
    """
    paths = [Path(rel) if Path(rel).is_absolute() else root / rel for rel in rels]
    for path in paths:  # every check before the first folder is made: a refusal writes nothing
        if path.is_dir():
            if not os.access(path, os.W_OK | os.X_OK):
                if read_only_fs(path):
                    raise DevenvError(f"cannot write {path}: read-only file system", fix=READ_ONLY_FIX)
                raise DevenvError(f"{path} is not writable by you", fix=f"fix its owner: sudo chown -R $(id -u):$(id -g) '{path}'")
        else:
            blocker = path if path.exists() else next((p for p in path.parents if p.exists()), None)
            if blocker is not None and not blocker.is_dir():
                raise DevenvError(f"{blocker} should be a folder but is a file", fix="move the file away, then try again")
    created: list[Path] = []
    for path in paths:
        if path.is_dir():
            continue
        try:
            path.mkdir(parents=True)
        except OSError as e:
            raise DevenvError(f"cannot create {path}: {e.strerror}", fix="check the permissions of its parent folder") from None
        created.append(path)
    return created


def missing_files(root: Path, rels: Iterable[str]) -> list[str]:
    """The stack's file binds whose source does not exist.

    The plan guesses "file" from a suffix; a folder found there is accepted
    (e.g. RAGFlow's ``./oceanbase/init.d``): compose binds whatever exists.
    """
    return [rel for rel in rels if not (Path(rel) if Path(rel).is_absolute() else root / rel).exists()]
