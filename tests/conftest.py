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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problem = engine_problem() if any("engine" in item.keywords for item in items) else None
    if problem is None:
        return
    for item in items:
        if "engine" in item.keywords:
            if os.environ.get("CI"):
                item.add_marker(pytest.mark.usefixtures("_engine_required"))
            else:
                item.add_marker(pytest.mark.skip(reason=f"no real engine: {problem}"))


@pytest.fixture
def _engine_required() -> None:
    problem = engine_problem()
    if problem:
        pytest.fail(f"CI is set but the real-engine layer cannot run: {problem}", pytrace=False)
