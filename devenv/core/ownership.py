"""Files the server container writes through its binds, and how to give them back to the user.

On a Linux engine that runs containers as real root (rootful Docker or Podman, no user-namespace
remapping), what RAGFlow's processes write through a bind (bytecode, uv and Hugging Face caches,
logs, anything a process writes into a mounted package) lands on the host owned by root. A
non-root user then cannot delete the sub-folders, and `rm -rf` of the checkout fails. Only root
can chown, and the engine is root: devenv gives the files back through a throwaway container of
the server's image (no network), which runs :func:`give_back_argv` on the binds below.

Docker Desktop, rootless engines and a devenv run as root never see such files, so nothing runs
there: the host is scanned first (see :mod:`devenv.app.ownership`).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from .model import ServiceSpec
from .plan import Plan, relative_to_root

MOUNT_ROOT = "/devenv-give-back"  # where the throwaway container sees the binds: /devenv-give-back/0, /1, ...


def writable_binds(plan: Plan, server: ServiceSpec) -> tuple[str, ...]:
    """Checkout-relative folders the server container may write into: devenv's writable binds and
    the server's own (its logs). Read-only binds, bound files, other services' binds (a database's
    data folder belongs to the database's user) and paths outside the checkout are left out.

    >>> from devenv.core.model import VolumeSpec
    >>> from devenv.core.plan import Mount
    >>> class P:  # the fields this reads
    ...     root = "/src/rf"
    ...     mounts = (Mount("bind", "api", "/ragflow/api", ""), Mount("bind", ".devenv/hooks", "/h", "", read_only=True),
    ...               Mount("volume", "v", "/ragflow/.venv", ""), Mount("bind", "/var/run/x.sock", "/x", ""))
    ...     host_dirs = ("api", ".devenv/hooks", "docker/ragflow-logs", "docker/mysql-data", "docker/nginx")
    >>> server = ServiceSpec("ragflow", volumes=(VolumeSpec("bind", "/src/rf/docker/ragflow-logs", "/ragflow/logs"),
    ...     VolumeSpec("bind", "/src/rf/docker/nginx", "/etc/nginx/conf.d", read_only=True),
    ...     VolumeSpec("bind", "/src/rf/docker/entrypoint.sh", "/ragflow/entrypoint.sh")))
    >>> writable_binds(P(), server)
    ('api', 'docker/ragflow-logs')
    """
    ours = [m.source for m in plan.mounts if m.kind == "bind" and not m.read_only]
    stack = [relative_to_root(v.source.replace("$$", "$"), plan.root) for v in server.volumes
             if v.type == "bind" and not v.read_only]
    folders = set(plan.host_dirs)  # the folders devenv creates up front: bound files are not written into
    return tuple(rel for rel in dict.fromkeys(ours + stack) if rel in folders and rel not in ("", ".")
                 and not PurePosixPath(rel).is_absolute() and not rel.startswith("../"))


def give_back_argv(count: int, uid: int, gid: int) -> list[str]:
    """``find`` over the throwaway container's binds: every entry not owned by ``uid`` is printed
    (devenv counts the lines) and chowned to ``uid:gid``; symlinks themselves, never their targets;
    never another filesystem mounted below.

    >>> give_back_argv(2, 1000, 1000)  # doctest: +NORMALIZE_WHITESPACE
    ['find', '/devenv-give-back/0', '/devenv-give-back/1', '-xdev', '!', '-uid', '1000', '-print',
     '-exec', 'chown', '-h', '1000:1000', '{}', '+']
    """
    return ["find", *(bind_target(i) for i in range(count)), "-xdev", "!", "-uid", str(uid), "-print",
            "-exec", "chown", "-h", f"{uid}:{gid}", "{}", "+"]


def bind_target(index: int) -> str:
    return f"{MOUNT_ROOT}/{index}"
