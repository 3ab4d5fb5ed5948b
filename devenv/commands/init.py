"""``devenv init``: write a commented devenv.toml describing what was detected."""

from __future__ import annotations

import json
from typing import Any

from ..app.context import AppContext
from ..app.fsio import atomic_write, find_checkout, read_checkout, read_text
from ..core.config import CONFIG_FILE, KEYS
from ..core.detect import Detection, detect
from ..core.errors import EXIT_OK, DevenvError


def run(app: AppContext, *, force: bool = False) -> int:
    root = find_checkout(app.project or _cwd())
    det = detect(read_checkout(root, app.environ))
    path = root / CONFIG_FILE
    existing = read_text(path)
    if existing is not None and not force:
        raise DevenvError(f"{path} already exists; devenv init does not overwrite it",
                          fix="edit it, or run `devenv init --force` (the old file is kept as devenv.toml.bak)")
    if existing is not None:
        atomic_write(path.with_name(CONFIG_FILE + ".bak"), existing)
    atomic_write(path, render_config(det))
    app.ui.info(f"wrote {path}: every setting is commented out, so detection decides until you change one")
    return EXIT_OK


def _cwd():
    from pathlib import Path

    return Path.cwd()


def detected_values(det: Detection) -> dict[str, Any]:
    """The values detection chose, keyed like devenv.toml."""
    return {
        "compose.files": list(det.compose_files),
        "compose.profiles": list(det.profiles),
        "compose.service": det.server_candidates[0],
        "compose.release": det.release.label if det.release.version and det.release.source == "image tag" else None,
        "mounts.packages": list(det.packages),
        "server.health_url": f"http://127.0.0.1:{det.api_port}" if det.api_port else None,
    }


def render_config(det: Detection) -> str:
    """The commented devenv.toml text.

    Every key is present, commented out, showing the detected value or the
    default, with its help and its environment variable.
    """
    found = detected_values(det)
    lines = [
        "# devenv.toml: dev-mode settings for this RAGFlow checkout.",
        "# Every key below is commented out: detection (or the default) decides until you set one.",
        "# Precedence: command-line argument, then the DEVENV_* variable, then this file, then detection.",
        f"# Detected: RAGFlow {det.release.label}; server service {det.server_candidates[0]};",
        f"#   profiles {','.join(det.profiles) or '(none)'}; packages {', '.join(det.packages) or '(none)'}.",
    ]
    section = ""
    for key in KEYS:
        head, name = key.name.split(".", 1)
        if head != section:
            section = head
            lines += ["", f"[{section}]"]
        value = found.get(key.name, key.default)
        note = "detected" if key.name in found and found[key.name] is not None else "default"
        lines.append(f"# {key.help} (env {key.env_var})")
        if value is None:
            lines.append(f"# {name} = ...")
        else:
            lines.append(f"# {name} = {toml_value(value)}  # {note}")
    lines += [
        "",
        "# Extra reload rules, tried before the built-in ones. Actions: signal (SIGTERM the named",
        "# processes: server, task_executor, data_sync, admin, mcp), restart, recreate, sync, web, none.",
        "# [[rules]]",
        '# paths = ["admin/**/*.py"]',
        '# action = "signal"',
        '# processes = ["admin"]',
        "",
    ]
    return "\n".join(lines)


def toml_value(value: Any) -> str:
    """A TOML literal for the simple values devenv.toml holds.

    >>> toml_value(["a", "b"]), toml_value(True), toml_value(150)
    ('["a", "b"]', 'true', '150')
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)
