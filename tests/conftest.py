"""Test layers: pure unit tests, CLI tests, watcher tests on real folders, and
real-engine tests marked ``engine``.

Real-engine tests skip on a laptop without Docker, and fail instead of
skipping when ``CI`` is set: a CI run that silently skipped them would prove
nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

import pytest


@lru_cache(maxsize=1)
def engine_problem() -> str | None:
    """Why the real-engine layer cannot run here, or None when it can."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=20)
        if info.returncode != 0:
            return "the Docker engine is not reachable: " + (info.stderr.strip().splitlines() or ["?"])[-1]
        compose = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True, timeout=20)
        if compose.returncode != 0:
            return "compose v2 is not installed"
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"docker did not answer: {e}"
    return None


REALRF = os.environ.get("REALRF", "/tmp/realrf")
REALRF_IMAGE = "infiniflow/ragflow:v0.22.0"


@lru_cache(maxsize=1)
def realstack_problem() -> str | None:
    """Why the real-RAGFlow layer cannot run here (the kit is built by scripts/realstack.sh), or None."""
    problem = engine_problem()
    if problem:
        return problem
    if not os.path.isfile(os.path.join(REALRF, "ragflow", ".realrf-checkout")):
        return f"the real-RAGFlow kit is not built ({REALRF}/ragflow; run `bash scripts/realstack.sh`)"
    image = subprocess.run(["docker", "image", "inspect", REALRF_IMAGE], capture_output=True, timeout=20)
    if image.returncode != 0:
        return f"the real-RAGFlow image {REALRF_IMAGE} is not built (run `bash scripts/realstack.sh`)"
    return None


PODMAN_SOCK = os.environ.get("DEVENV_PODMAN_SOCK", "/run/podman/podman.sock")


@lru_cache(maxsize=1)
def podman_problem() -> str | None:
    """Why the Podman layer cannot run here (scripts/provision_podman.sh sets it up), or None."""
    problem = engine_problem()
    if problem:
        return problem
    if not os.path.exists(PODMAN_SOCK):
        return f"no Podman API socket at {PODMAN_SOCK} (run `bash scripts/provision_podman.sh`)"
    version = subprocess.run(["docker", "-H", f"unix://{PODMAN_SOCK}", "version", "--format", "{{.Server.Version}}"],
                             capture_output=True, text=True, timeout=30)
    if version.returncode != 0:
        return f"Podman's API service does not answer on {PODMAN_SOCK}: {version.stderr.strip()[-200:]}"
    return None


NONROOT_USER = os.environ.get("DEVENV_TEST_USER", "devenv-ci")
NONROOT_VENV = os.environ.get("DEVENV_TEST_VENV", "/opt/devenv-nonroot/venv")


@lru_cache(maxsize=1)
def nonroot_problem() -> str | None:
    """Why devenv cannot be run as a non-root user here (scripts/provision_nonroot.sh sets one up), or None."""
    problem = engine_problem()
    if problem:
        return problem
    if os.name != "posix" or os.geteuid() != 0:
        return "the tests run as a non-root user themselves: the layer switches to its own user as root"
    import pwd

    try:
        pwd.getpwnam(NONROOT_USER)
    except KeyError:
        return f"no user {NONROOT_USER} (run `bash scripts/provision_nonroot.sh`)"
    if not os.access(os.path.join(NONROOT_VENV, "bin", "python"), os.X_OK):
        return f"no venv at {NONROOT_VENV} (run `bash scripts/provision_nonroot.sh`)"
    return None


LAYERS = {"engine": engine_problem, "realstack": realstack_problem, "podman": podman_problem, "nonroot": nonroot_problem}
LAYER_NAMES = {"engine": "real-engine", "realstack": "real-RAGFlow", "podman": "Podman", "nonroot": "non-root"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for marker, check in LAYERS.items():
        problem = check() if any(marker in item.keywords for item in items) else None
        if problem is None:
            continue
        for item in items:
            if marker in item.keywords:
                if os.environ.get("CI"):
                    item.add_marker(pytest.mark.usefixtures("_layers_required"))
                else:
                    item.add_marker(pytest.mark.skip(reason=f"{marker} layer cannot run: {problem}"))


@pytest.fixture
def _layers_required(request: pytest.FixtureRequest) -> None:
    """With CI set, a test of a layer that cannot run here fails, naming why."""
    for marker, check in LAYERS.items():
        problem = check() if marker in request.node.keywords else None
        if problem:
            pytest.fail(f"CI is set but the {LAYER_NAMES[marker]} layer cannot run: {problem}", pytrace=False)
