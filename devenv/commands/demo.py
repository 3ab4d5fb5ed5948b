"""``devenv demo [DIR]``: copy the bundled RAGFlow-shaped demo checkout to try devenv."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..app.context import AppContext
from ..core.errors import EXIT_OK, DevenvError


def bundled_demo() -> Path:
    """The demo shipped in the wheel (devenv/_compose/demo), or the repo's compose/demo in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_compose" / "demo", here.parent / "compose" / "demo"):
        if (candidate / "docker" / "docker-compose.yml").is_file():
            return candidate
    raise DevenvError("the bundled demo is missing from this installation", fix="reinstall devenv")


def run(app: AppContext, *, directory: Path) -> int:
    target = directory.resolve()
    if target.exists() and any(target.iterdir()):
        raise DevenvError(f"{target} exists and is not empty", fix="choose a new folder: devenv demo ./another-folder")
    source = bundled_demo()
    ignore = shutil.ignore_patterns("__pycache__", ".devenv", "ragflow-logs", "docker-compose.devenv.yml*")
    tmp = target.with_name(f".{target.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source, tmp, ignore=ignore)
    entrypoint = tmp / "docker" / "entrypoint.sh"
    entrypoint.chmod(entrypoint.stat().st_mode | 0o111)  # a wheel may not keep the executable bit
    if target.exists():
        target.rmdir()
    tmp.rename(target)  # all or nothing: no half-copied demo
    app.ui.info(f"copied the demo checkout to {target}")
    app.ui.print("next:\n"
                 f"  devenv -C {target} up        # builds the small demo image on first use, then watches\n"
                 f"  edit {target / 'api/apps/demo_app.py'} (MARK = ...) and watch it reload\n"
                 f"  curl http://127.0.0.1:9380/v1/demo/code\n"
                 f"  devenv -C {target} down")
    return EXIT_OK
