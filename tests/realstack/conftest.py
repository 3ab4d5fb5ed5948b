"""The real tier: devenv on RAGFlow v0.22.0's real code, locked dependencies and entrypoint.

The shared kit (built by ``scripts/realstack.sh``; its README lists every stand-in) leaves a
checkout in ``$REALRF/ragflow`` and the images. Each test module gets a copy of that checkout
with its own compose project name and free ports for every published port, so it never meets
the kit's own stack or another run. A real start takes 40-100 s, so one stack serves a whole
module: ``devenv up`` runs (watching) for the module and the tests go in order.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REALRF
from tests.e2e.conftest import DemoStack, atomic_save, free_port

START_TIMEOUT = 600  # seconds: a first start on a fresh machine (empty volumes and bytecode cache)
RELOAD_TIMEOUT = 240


class RealStack(DemoStack):
    """A copy of the kit's checkout, with its own project name and ports."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.project = "devenv-real-" + uuid.uuid4().hex[:8]
        self.env["COMPOSE_PROJECT_NAME"] = self.project
        env_text = (root / "docker" / ".env").read_text()
        for name in re.findall(r"^(\w+_PORT)=\d+", env_text, flags=re.M):  # every published port moves
            self.env[name] = str(free_port())
        self.api_port = int(self.env["SVR_HTTP_PORT"])
        self.env.pop("DEVENV_DEMO_BASE_IMAGE", None)

    def compose(self, *args: str, check: bool = True):
        files = ["-f", str(self.root / "docker" / "docker-compose.yml"), "-f", str(self.root / "docker" / "docker-compose.realrf.yml")]
        override = self.root / "docker" / "docker-compose.devenv.yml"
        if override.exists():
            files += ["-f", str(override)]
        import subprocess

        result = subprocess.run(["docker", "compose", "--project-directory", str(self.root / "docker"), *files, *args],
                                env=self.env, capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)}: {result.stderr}")
        return result

    def ping(self) -> str | None:
        import http.client

        try:
            status, body = self.get("/v1/system/ping", timeout=3)
        except (OSError, http.client.HTTPException):  # a server killed mid-answer (a reload) is "not up"
            return None
        return body if status == 200 else None

    def wait_ping_body(self, body: str, timeout: float = RELOAD_TIMEOUT) -> float:
        """Seconds until ping answers ``body``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.ping() == body:
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"ping did not answer {body!r} within {timeout} s (last: {self.ping()!r})")

    def set_ping(self, body: str) -> None:
        """Make /v1/system/ping answer ``body`` (RAGFlow's api/apps/system_app.py), saved as an editor saves."""
        path = self.root / "api" / "apps" / "system_app.py"
        text = re.sub(r'return "[^"]*", 200', f'return "{body}", 200', path.read_text(), count=1)
        atomic_save(path, text)


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    source = Path(REALRF) / "ragflow"
    root = tmp_path_factory.mktemp("real") / "ragflow checkout"
    shutil.copytree(source, root, symlinks=True, ignore=shutil.ignore_patterns(
        ".devenv", "ragflow-logs", "docker-compose.devenv.yml*", "huqie.txt.trie", "__pycache__", "history_data_agent"))
    stack = RealStack(root)
    try:
        yield stack
    finally:
        stack.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def process_pids(stack: RealStack) -> dict[str, int]:
    """script -> pid of the Python processes in the server container, read from /proc by the test itself."""
    out = stack.exec("sh", "-c", "for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null; echo \" $(basename $p)\"; done")
    found: dict[str, int] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1].endswith("/warm.py"):  # devenv's warm start: the shim names the script
            parts = parts[:1] + parts[2:]  # (its parents say --serve: not a process the loop runs)
        if len(parts) >= 3 and parts[0].startswith("python") and parts[1].endswith(".py"):
            found.setdefault(parts[1], int(parts[-1]))
    return found


__all__ = ["RealStack", "process_pids", "START_TIMEOUT", "RELOAD_TIMEOUT", "os"]
