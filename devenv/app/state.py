"""devenv's run state in .devenv/state.json: the watcher's pid and the last reload.

Written atomically after each reload so `devenv status` (another process)
can show it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..core.plan import STATE_DIR
from .fsio import atomic_write, read_text

STATE_FILE = "state.json"


def state_path(root: Path) -> Path:
    return root / STATE_DIR / STATE_FILE


def load(root: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_text(state_path(root)) or "{}")
    except (ValueError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


def update(root: Path, **changes: Any) -> None:
    data = load(root)
    data.update(changes)
    atomic_write(state_path(root), json.dumps(data, indent=2, default=str) + "\n")


def watcher_alive(data: dict[str, Any]) -> bool:
    """Whether the devenv process that wrote ``watch_pid`` is still running."""
    pid = data.get("watch_pid")
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.is_dir():  # Linux: a reused pid belongs to some other program
        try:
            return b"devenv" in cmdline.read_bytes()
        except OSError:
            return False
    return True
