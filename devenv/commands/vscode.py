"""``devenv vscode``: devenv's tasks and debugger configuration in the checkout's .vscode/.

What it adds (and nothing else):

* ``.vscode/tasks.json``: ``devenv: up`` and ``devenv: up (debug)``, background
  tasks whose problem matcher turns devenv's ``[devenv] error: <path>:<line>:
  <message>`` line into an entry in the Problems panel, and whose
  ``background`` patterns make the task "busy" from ``up:``/``change:`` to
  ``ready:``/``reload ok:``/``reload failed:``, so a ``preLaunchTask`` or a
  ``dependsOn`` waits until the stack is healthy. Plus ``devenv: down`` and
  ``devenv: verify``.
* ``.vscode/launch.json``: ``devenv: attach to RAGFlow server``, a debugpy
  attach to 127.0.0.1:<server.debug_port> whose path mappings follow the mounts
  (each package, or the whole checkout in ``mounts.mode = "checkout"``).

How it merges, never losing what the user wrote. VS Code writes these files as
JSON with comments (``//``, ``/* */``) and trailing commas, and users keep notes
in them, so a parse-and-dump rewrite would drop every comment. Instead:

1. A small tolerant reader (:func:`parse`) reads the file and remembers where
   every value starts and ends in the text.
2. The merge is a list of text edits (:func:`merge`): each existing entry with
   one of devenv's labels (tasks) or names (configurations) is replaced where it
   stands, in the file's indentation; missing ones are inserted after the last
   entry of the ``"tasks"``/``"configurations"`` array (before its ``]``), or the
   array itself is added before the closing ``}``. Everything outside devenv's
   own entries, comments included, stays byte for byte.
3. The result is read back and checked: the other keys and the user's entries
   must be exactly what they were, devenv's entries exactly what it wanted. Only
   if that check fails (a file shaped in a way the edits did not foresee) does
   devenv fall back to writing the merged data without comments, and then it
   first keeps the original as ``tasks.json.bak``/``launch.json.bak`` (``.bak2``, ...
   when one is there already) and says so.

A file that does not parse, or whose ``"tasks"`` is not a list, is left alone:
the command stops with the line and column, and writes nothing (neither file).
devenv's entries are devenv's: edits made inside them are replaced on the next
run. A second run with the same settings changes nothing and says so. Files are
written atomically, and only under the checkout's ``.vscode/``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Sequence

from ..app.context import AppContext
from ..app.fsio import atomic_write
from ..app.ui import PREFIX, TAG_CHANGE, TAG_ERROR, TAG_READY, TAG_RELOAD_FAILED, TAG_RELOAD_OK, TAG_UP
from ..core.errors import EXIT_OK, DevenvError
from ..core.jsonc import JsoncError, Target, merge
from ..core.plan import mounted_packages

TASKS_FILE = ".vscode/tasks.json"
LAUNCH_FILE = ".vscode/launch.json"
UP_TASK = "devenv: up"
DEBUG_TASK = "devenv: up (debug)"
ATTACH_NAME = "devenv: attach to RAGFlow server"
CONTAINER_ROOT = "/ragflow"

# The problem matcher's regexes. VS Code runs them as JavaScript regexes on the
# task terminal's text (colours already rendered away); they stay in the subset
# JavaScript and Python read alike, and tests run them on lines devenv prints.
_P = re.escape(PREFIX)  # \[devenv\]
ERROR_PATTERN = rf"^{_P} {TAG_ERROR}: ([^\s:/][^\s:]*):(\d+): (.*)$"  # file (checkout-relative), line, message
BEGINS_PATTERN = rf"^{_P} ({TAG_UP}|{TAG_CHANGE}):"
ENDS_PATTERN = rf"^{_P} ({TAG_READY}|{TAG_RELOAD_OK}|{TAG_RELOAD_FAILED}):"

ATTACH_NOTE = (f"Needs the stack started with `devenv up --debug` (the task \"{DEBUG_TASK}\"); "
               "debugpy listens on 127.0.0.1 only.")


# --- what devenv adds -----------------------------------------------------------------------

def problem_matcher() -> dict[str, Any]:
    """The matcher of the background tasks (see the module docstring)."""
    return {
        "owner": "devenv",
        "source": "devenv",
        "severity": "error",
        "fileLocation": ["relative", "${workspaceFolder}"],
        "pattern": {"regexp": ERROR_PATTERN, "file": 1, "line": 2, "message": 3},
        "background": {"activeOnStart": True, "beginsPattern": BEGINS_PATTERN, "endsPattern": ENDS_PATTERN},
    }


def _task(label: str, args: list[str], detail: str, *, background: bool = False) -> dict[str, Any]:
    task: dict[str, Any] = {
        "label": label,
        "detail": detail,
        "type": "process",
        "command": "devenv",
        "args": args,
        "options": {"cwd": "${workspaceFolder}"},
    }
    if background:
        task["isBackground"] = True
        task["problemMatcher"] = problem_matcher()
    else:
        task["problemMatcher"] = []  # [] rather than absent: VS Code would ask which matcher to use
    return task


def task_entries() -> list[dict[str, Any]]:
    """devenv's tasks, in the order they are added."""
    return [
        _task(UP_TASK, ["up"], "Start RAGFlow in dev mode, wait until healthy, reload on save", background=True),
        _task(DEBUG_TASK, ["up", "--debug"], "Like devenv: up, with the debugger port open on 127.0.0.1", background=True),
        _task("devenv: down", ["down"], "Stop and remove the containers (volumes, caches and logs are kept)"),
        _task("devenv: verify", ["verify"], "Prove the dev loop works: mounts live, restart, new process, healthy"),
    ]


def launch_entry(mode: str, packages: Sequence[str], port: int) -> dict[str, Any]:
    """The debugpy attach configuration for what is mounted where.

    >>> launch_entry("packages", ["api"], 5678)["pathMappings"]
    [{'localRoot': '${workspaceFolder}/api', 'remoteRoot': '/ragflow/api'}]
    """
    if mode == "packages" and packages:
        mappings = [{"localRoot": f"${{workspaceFolder}}/{p}", "remoteRoot": f"{CONTAINER_ROOT}/{p}"} for p in packages]
    else:  # the whole checkout is mounted (or nothing is: then this is still the best guess)
        mappings = [{"localRoot": "${workspaceFolder}", "remoteRoot": CONTAINER_ROOT}]
    return {
        "name": ATTACH_NAME,
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": "127.0.0.1", "port": port},
        "pathMappings": mappings,
        "justMyCode": False,
    }


def targets(mode: str, packages: Sequence[str], port: int) -> tuple[Target, Target]:
    return (
        Target(TASKS_FILE, "tasks", "label", "2.0.0", tuple(task_entries())),
        Target(LAUNCH_FILE, "configurations", "name", "0.2.0", (launch_entry(mode, packages, port),), {ATTACH_NAME: ATTACH_NOTE}),
    )


# --- the command ----------------------------------------------------------------------------

def run(app: AppContext, *, dry_run: bool = False) -> int:
    ws = app.workspace()
    mode = ws.settings["mounts.mode"]
    packages = mounted_packages(ws.settings, ws.detection, ws.checkout_dirs) if mode == "packages" else ()
    results = []
    for target in targets(mode, packages, ws.settings["server.debug_port"]):
        path = ws.root / target.rel
        before = _read(path)
        try:
            results.append((target, path, before, merge(before, target)))
        except JsoncError as e:
            raise DevenvError(f"{path} is not JSON with comments that devenv can read: {e}",
                              fix="fix it (VS Code marks the spot when you open it), or move it away and run `devenv vscode` again") from None
    for target, path, before, merged in results:  # all read and merged before anything is written
        if dry_run:
            app.ui.print(f"// {target.rel}{'' if merged.changed else ' (unchanged)'}")
            app.ui.print(merged.text.rstrip("\r\n"))
        elif not merged.changed:
            app.ui.info(f"{path} already has devenv's entries: unchanged")
        else:
            if not merged.preserved:
                backup = _free_backup(path)
                atomic_write(backup, before or "")
                app.ui.warn(f"{path}: could not keep its comments and layout; the original is {backup.name}")
            atomic_write(path, merged.text)
            app.ui.info(f"{'wrote' if before is None else 'updated'} {path}")
    if dry_run:
        app.ui.info("dry run: nothing written")
        return EXIT_OK
    app.ui.info(f'run the task "{UP_TASK}" (Terminal > Run Task); to debug, run "{DEBUG_TASK}", '
                f'then the launch configuration "{ATTACH_NAME}"')
    if shutil.which("devenv") is None:
        app.ui.warn("devenv is not on PATH here; VS Code's tasks run `devenv`, so start VS Code where it is")
    return EXIT_OK


def _read(path: Path) -> str | None:
    """The file's text with its line endings as they are (CRLF stays CRLF), or None."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, OSError) as e:
        raise DevenvError(f"cannot read {path}: {e}", fix="save it as UTF-8 text, or move it away") from None


def _free_backup(path: Path) -> Path:
    """``tasks.json.bak``, or ``tasks.json.bak2``, ... when an older backup is there: none is overwritten."""
    backup, n = path.with_name(path.name + ".bak"), 1
    while backup.exists():
        n += 1
        backup = path.with_name(f"{path.name}.bak{n}")
    return backup
