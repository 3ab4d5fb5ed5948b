"""The inotify watch budget, in one place: the watcher and ``devenv doctor`` both ask here.

Each watched folder costs one watch of the user's ``fs.inotify.max_user_watches``,
which every program of that user shares (IDEs and other watchers hold theirs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

INOTIFY_FIX = "sudo sysctl fs.inotify.max_user_watches=524288 (add it to /etc/sysctl.conf to keep it)"
MAX_USER_WATCHES = Path("/proc/sys/fs/inotify/max_user_watches")
# Programs start and stop: leave a tenth of the limit free on top of what is in use now.
HEADROOM = 0.9


def read_max_user_watches(path: Path = MAX_USER_WATCHES) -> int | None:
    """The per-user inotify watch limit, or None where it cannot be read (not Linux)."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def inotify_watches(pid: str = "self") -> int:
    """Inotify watches a process holds, from the kernel: one "inotify wd:" line each in its fdinfo."""
    count = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return 0
    for fd in fds:
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                count += sum(line.startswith("inotify wd:") for line in info)
        except OSError:
            continue
    return count


def watches_in_use() -> int:
    """Watches held now by every process of this user (the limit is per user)."""
    if not os.path.isdir("/proc"):
        return 0
    uid = os.getuid()
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}").st_uid != uid:
                continue
        except OSError:
            continue
        total += inotify_watches(pid)
    return total


@dataclass(frozen=True)
class Budget:
    """Whether ``folders`` more watches fit, with what is already in use.

    >>> Budget(700, 8192).fits, Budget(8000, 8192).fits, Budget(700, 8192, in_use=7000).fits
    (True, False, False)
    >>> Budget(10, None).fits
    True
    """

    folders: int
    limit: int | None
    in_use: int = 0

    @property
    def fits(self) -> bool:
        return self.limit is None or self.folders + self.in_use < HEADROOM * self.limit

    @property
    def needed(self) -> int:
        """The limit that would fit, with the headroom."""
        return int((self.folders + self.in_use) / HEADROOM) + 1

    def describe(self) -> str:
        used = f", {self.in_use} in use by running programs" if self.in_use else ""
        return f"{self.folders} folders to watch{used}, limit {self.limit if self.limit is not None else 'unknown'}"
