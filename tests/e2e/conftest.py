"""The real-engine layer: a copy of the bundled demo checkout, driven through devenv.

Every test gets its own copy (in a folder whose name has a space and non-ASCII
characters), its own compose project name and free host ports, so tests never
see each other's containers. devenv runs as a user runs it: ``python -m devenv``
in a subprocess. Teardown removes the project's containers and volumes with
compose itself (devenv down keeps volumes by design).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "compose" / "demo"
BASE_IMAGE = "devenv-base:bookworm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def atomic_save(path: Path, text: str) -> None:
    """Save like an editor: write a temporary file, then rename it over the target."""
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Watch:
    """A running ``devenv up`` (or ``watch``) whose output lines are collected as they come."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: "queue.Queue[str]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self._queue.put(line.rstrip("\n"))

    def _drain(self) -> None:
        while True:
            try:
                self.lines.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def wait_for(self, prefix: str, *, after: int = 0, timeout: float = 60) -> str:
        """The first line from index ``after`` on that starts with ``[devenv] <prefix>``."""
        deadline = time.monotonic() + timeout
        want = f"[devenv] {prefix}"
        while time.monotonic() < deadline:
            exited = self.proc.poll() is not None
            if exited:
                self._reader.join(timeout=2)  # read the last lines before deciding
            self._drain()
            for line in self.lines[after:]:
                if line.startswith(want):
                    return line
            if exited:
                raise AssertionError(f"devenv exited ({self.proc.returncode}) before {want!r}:\n" + "\n".join(self.lines))
            time.sleep(0.05)
        self._drain()
        raise AssertionError(f"no {want!r} within {timeout} s:\n" + "\n".join(self.lines))

    def count(self, prefix: str, after: int = 0) -> int:
        self._drain()
        return sum(1 for line in self.lines[after:] if line.startswith(f"[devenv] {prefix}"))

    def mark(self) -> int:
        self._drain()
        return len(self.lines)

    def interrupt(self, timeout: float = 15) -> float:
        """Ctrl-C; returns the seconds devenv took to exit."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=timeout)
        self._reader.join(timeout=2)
        self._drain()
        return time.monotonic() - started

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class DemoStack:
    """A demo checkout with its own project name and ports."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = "devenv-e2e-" + uuid.uuid4().hex[:8]
        self.api_port, self.web_port = free_port(), free_port()
        self.env = dict(os.environ)
        self.env.update({
            "COMPOSE_PROJECT_NAME": self.project,
            "SVR_HTTP_PORT": str(self.api_port),
            "SVR_WEB_HTTP_PORT": str(self.web_port),
            "DEVENV_DEMO_BASE_IMAGE": os.environ.get("DEVENV_DEMO_BASE_IMAGE", BASE_IMAGE),
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",
        })
        self.env.pop("DEVENV_PROJECT", None)
        self._watches: list[Watch] = []

    # --- running devenv ------------------------------------------------------------
    def devenv(self, *args: str, check: bool = False, timeout: float = 300, env: dict | None = None,
               input: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "devenv", "-C", str(self.root), *args], env=env or self.env,
                                capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"devenv {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def start_watch(self, *args: str) -> Watch:
        proc = subprocess.Popen([sys.executable, "-m", "devenv", "-C", str(self.root), *args], env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        watch = Watch(proc)
        self._watches.append(watch)
        return watch

    # --- looking at the stack --------------------------------------------------------
    def get(self, path: str, timeout: float = 2) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}{path}", timeout=timeout) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def code(self) -> dict:
        return json.loads(self.get("/v1/demo/code")[1])

    def wait_mark(self, mark: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = self.code()
                if last.get("mark") == mark:  # type: ignore[union-attr]
                    return last  # type: ignore[return-value]
            except (OSError, ValueError) as e:
                last = e
            time.sleep(0.05)
        raise AssertionError(f"mark {mark!r} not served within {timeout} s (last: {last})")

    def docker(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {result.stderr}")
        return result.stdout

    def container(self, service: str = "ragflow-cpu") -> str:
        ids = self.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.project}",
                          "--filter", f"label=com.docker.compose.service={service}").split()
        assert ids, f"no container for {service}"
        return ids[0]

    def inspect(self, service: str = "ragflow-cpu") -> dict:
        return json.loads(self.docker("inspect", self.container(service)))[0]

    def exec(self, *argv: str, service: str = "ragflow-cpu") -> str:
        return self.docker("exec", self.container(service), *argv)

    def logs(self, service: str = "ragflow-cpu") -> str:
        """The container's log so far, its stdout and stderr."""
        done = subprocess.run(["docker", "logs", self.container(service)], capture_output=True, text=True, timeout=60)
        return done.stdout + done.stderr

    def set_mark(self, mark: str) -> None:
        path = self.root / "api" / "apps" / "demo_app.py"
        text = path.read_text()
        import re

        atomic_save(path, re.sub(r'^MARK = ".*"$', f'MARK = "{mark}"', text, count=1, flags=re.M))

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        files = ["-f", str(self.root / "docker" / "docker-compose.yml")]
        override = self.root / "docker" / "docker-compose.devenv.yml"
        if override.exists():
            files += ["-f", str(override)]
        result = subprocess.run(["docker", "compose", "--project-directory", str(self.root / "docker"), *files, *args],
                                env=self.env, capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"docker compose {' '.join(args)}: {result.stderr}")
        return result

    def cleanup(self) -> None:
        for watch in self._watches:
            watch.stop()
        self.compose("down", "-v", "--remove-orphans", "-t", "1", check=False)


@pytest.fixture(scope="session")
def demo_images() -> None:
    """Build the demo's images once per run (layer cache: seconds), so a changed Dockerfile is never
    tested through a stale image that compose would reuse because its tag exists."""
    env = dict(os.environ, DEVENV_DEMO_BASE_IMAGE=os.environ.get("DEVENV_DEMO_BASE_IMAGE", BASE_IMAGE), DOCKER_BUILDKIT="0")
    result = subprocess.run(["docker", "compose", "--project-directory", str(DEMO / "docker"), "-f",
                             str(DEMO / "docker" / "docker-compose.yml"), "build", "-q"],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"building the demo images failed:\n{result.stderr}"


@pytest.fixture
def demo(tmp_path: Path, demo_images: None) -> Iterator[DemoStack]:
    root = tmp_path / "my checkout ü"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("__pycache__", ".devenv", "ragflow-logs", "docker-compose.devenv.yml*"))
    stack = DemoStack(root)
    try:
        yield stack
    finally:
        stack.cleanup()


@pytest.fixture
def running(demo: DemoStack) -> DemoStack:
    """The demo stack started with `devenv up --detach`, healthy."""
    demo.devenv("up", "--detach", check=True)
    return demo
