"""Build the web UI on the host and copy web/dist into the running container.

Used only when ``reload.web_build`` is set: the container serves the image's
``/ragflow/web/dist`` otherwise (a checkout has no built UI, so devenv never
mounts over it).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Sequence

from ..core.errors import DevenvError
from ..engine import Engine

MAX_DIST_BYTES = 200 * 2**20


def build_and_copy(root: Path, argv: Sequence[str], engine: Engine, container: str) -> float:
    started = time.monotonic()
    web = root / "web"
    try:
        done = subprocess.run(list(argv), cwd=web, capture_output=True, text=True, timeout=900)
    except FileNotFoundError:
        raise DevenvError(f"{argv[0]} is not installed", fix="install Node.js, or change reload.web_build") from None
    except subprocess.TimeoutExpired:
        raise DevenvError(f"{' '.join(argv)} ran for more than 15 minutes") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise DevenvError(f"{' '.join(argv)} failed (exit {done.returncode}): {tail}")
    dist = web / "dist"
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(dist.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            total += len(data)
            if total > MAX_DIST_BYTES:
                raise DevenvError("web/dist is larger than 200 MiB; not copied")
            files[path.relative_to(dist).as_posix()] = data
    if not files:
        raise DevenvError("the build wrote nothing to web/dist", fix="check the build command in reload.web_build")
    engine.copy_in(container, "/ragflow/web/dist", files)
    return time.monotonic() - started
