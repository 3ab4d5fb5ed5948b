"""A non-root member of the docker group (issue 13 item 1): what the containers write through
devenv's mounts (bytecode, logs) is root's on the host; `devenv down` and `devenv reclaim` give
it back through the engine, and the user can delete the checkout. devenv runs as that user
(`runuser`), with the checkout's own package first on PYTHONPATH; the user and its venv come
from scripts/provision_nonroot.sh."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import NONROOT_USER, NONROOT_VENV

from .conftest import DEMO, REPO, DemoStack, Watch

pytestmark = [pytest.mark.engine, pytest.mark.nonroot]


class NonRootStack(DemoStack):
    """The demo checkout in a folder of the user's, devenv run as that user."""

    def __init__(self, base: Path, user: pwd.struct_passwd) -> None:
        super().__init__(base / "my checkout")
        self.base, self.user = base, user
        self.env.update({"PYTHONPATH": str(base / "code"), "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name})

    def as_user(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.user.pw_name, "--", *argv]

    def devenv(self, *args: str, check: bool = False, timeout: float = 300, env: dict | None = None,
               input: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(self.as_user(f"{NONROOT_VENV}/bin/python", "-m", "devenv", "-C", str(self.root), *args),
                                env=env or self.env, cwd=self.base, capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"devenv {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def start_watch(self, *args: str) -> Watch:
        raise NotImplementedError("not needed here")

    def not_users(self) -> list[str]:
        """Entries of the checkout the user does not own (read as root)."""
        uid = self.user.pw_uid
        found = []
        for folder, dirs, files in os.walk(self.root):
            for name in [*dirs, *files]:
                path = Path(folder) / name
                if path.lstat().st_uid != uid:
                    found.append(path.relative_to(self.root).as_posix())
        return found

    def user_removes(self, path: Path) -> subprocess.CompletedProcess:
        return subprocess.run(self.as_user("rm", "-rf", str(path)), cwd=self.base, capture_output=True, text=True, timeout=60)

    def user_removes_checkout(self) -> subprocess.CompletedProcess:
        return self.user_removes(self.root)


@pytest.fixture
def nonroot(demo_images: None) -> Iterator[NonRootStack]:
    user = pwd.getpwnam(NONROOT_USER)
    base = Path(tempfile.mkdtemp(prefix="devenv-nonroot-"))
    os.chmod(base, 0o755)
    shutil.copytree(DEMO, base / "my checkout", ignore=shutil.ignore_patterns("__pycache__", ".devenv", "ragflow-logs", "docker-compose.devenv.yml*"))
    shutil.copytree(REPO / "devenv", base / "code" / "devenv", ignore=shutil.ignore_patterns("__pycache__"))
    for folder, dirs, files in os.walk(base):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.chown(name, user.pw_uid, user.pw_gid, follow_symlinks=False)
    stack = NonRootStack(base, user)
    try:
        yield stack
    finally:
        stack.cleanup()
        shutil.rmtree(base, ignore_errors=True)


def _started_and_written(stack: NonRootStack) -> list[str]:
    stack.devenv("up", "--detach", check=True)
    assert stack.get("/v1/system/ping") == (200, "pong")
    stack.set_mark("as-a-user")  # written by the user; the server's bytecode for it by root
    stack.devenv("restart", check=True)
    stack.wait_mark("as-a-user", timeout=30)
    left = stack.not_users()
    # The premise: the containers wrote root-owned files into the checkout through the mounts.
    assert any(p.startswith(".devenv/cache/pycache") for p in left), left
    assert any(p.startswith("docker/ragflow-logs/") for p in left), left
    return left


def test_down_gives_back_what_the_containers_wrote_and_the_user_can_delete_the_checkout(nonroot: NonRootStack) -> None:
    left = _started_and_written(nonroot)
    doctor = nonroot.devenv("doctor")
    line = next((entry for entry in doctor.stdout.splitlines() if "file owners" in entry), "")
    assert line.startswith("warn") and "are not yours" in line, doctor.stdout
    assert "fix: devenv reclaim" in doctor.stdout

    down = nonroot.devenv("down", check=True)
    assert "gave back" in down.stderr and "the checkout can be deleted" in down.stderr, down.stderr
    assert nonroot.not_users() == [], f"still root's after down (before: {len(left)})"
    assert nonroot.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={nonroot.project}").strip() == ""
    removed = nonroot.user_removes_checkout()
    assert removed.returncode == 0 and not nonroot.root.exists(), removed.stderr


def test_reclaim_gives_them_back_after_a_stop_devenv_did_not_make(nonroot: NonRootStack) -> None:
    _started_and_written(nonroot)
    nonroot.compose("down", "-t", "1")  # stopped by hand: devenv had no chance to give anything back
    assert nonroot.not_users()
    blocked = nonroot.user_removes(nonroot.root / ".devenv" / "cache" / "pycache")
    assert blocked.returncode != 0 and "Permission denied" in blocked.stderr  # the bug the user met

    reclaim = nonroot.devenv("reclaim", check=True)
    assert "gave back" in reclaim.stderr, reclaim.stderr
    assert nonroot.not_users() == []
    assert "file owners" in nonroot.devenv("doctor").stdout
    assert "nothing to give back" in nonroot.devenv("reclaim", check=True).stderr
    removed = nonroot.user_removes_checkout()
    assert removed.returncode == 0 and not nonroot.root.exists(), removed.stderr
