"""Which checkout owns a running stack.

Compose names a stack by its project name alone, and RAGFlow's default is ``docker`` for
every checkout: ``up`` in a second checkout would silently take over the first one's
containers (recreate them with the second checkout's mounts), and the first one's
``status`` and ``verify`` would then describe someone else's code. Compose labels every
container with the project folder it was started from (``com.docker.compose.project.working_dir``,
also for stacks started without devenv), so devenv compares that with this checkout and refuses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from ..core.errors import DevenvError
from ..engine import WORKING_DIR_LABEL, ContainerState


class ForeignStackError(DevenvError):
    """The project's containers were started from another checkout."""


def _same(a: str, b: Path) -> bool:
    return a == str(b) or os.path.realpath(a) == os.path.realpath(b)


def other_owner(containers: Iterable[ContainerState], project_dir: Path) -> str | None:
    """The project folder another checkout started these containers from, or None when they are ours
    (or carry no label: nothing to compare)."""
    for c in containers:
        where = c.labels.get(WORKING_DIR_LABEL)
        if where and not _same(where, project_dir):
            return where
    return None


def ensure_ours(containers: list[ContainerState], project: str, project_dir: Path, command: str) -> list[ContainerState]:
    """Raise :class:`ForeignStackError` (exit 2) when another checkout's stack runs under ``project``."""
    other = other_owner(containers, project_dir)
    if other is None:
        return containers
    checkout = Path(other).parent if Path(other).name == project_dir.name else Path(other)
    raise ForeignStackError(
        f"project {project!r} belongs to another checkout ({checkout}); `devenv {command}` here would act on its containers",
        fix=f"give this checkout its own project name: add COMPOSE_PROJECT_NAME=<name> to {project_dir / '.env'} "
            f"(or export it); or stop the other one first: devenv -C '{checkout}' down",
    )
