"""devenv's run state in .devenv/state.json: the watcher's pid and the last reload.

Written atomically after each reload so `devenv status` (another process)
can show it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Collection

from ..core.plan import STATE_DIR
from ..core.dotenv import mask_values
from .fsio import atomic_write, read_text
from .ui import json_safe

STATE_FILE = "state.json"


def state_path(root: Path) -> Path:
    return root / STATE_DIR / STATE_FILE


def load(root: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_text(state_path(root)) or "{}")
    except (ValueError, OSError):
        return {}
    return data if isinstance(data, dict) else {}


STATE_MODE = 0o600  # it may hold a server's error text: readable by its owner only


def update(root: Path, *, secrets: Collection[str] = (), **changes: Any) -> None:
    """Merge ``changes`` into the state file, with ``secrets`` masked, readable by its owner only.

    The mode is set on the temporary file before it is renamed, so the state is never
    readable by others, not even for a moment.
    """
    data = load(root)
    data.update(changes)
    text = json.dumps(json_safe(data), indent=2, default=str) + "\n"
    atomic_write(state_path(root), mask_values(text, secrets), mode=STATE_MODE)


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
