"""Fixture checkouts for the unit tests: ``checkout("v0.24.0")`` writes one under tmp_path."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from tests.fakes import Devenv
from tests.fixtures import make_checkout


@pytest.fixture
def checkout(tmp_path: Path) -> Callable[..., Path]:
    def make(release: str, name: str = "ragflow") -> Path:
        return make_checkout(tmp_path / name, release)

    return make


@pytest.fixture(autouse=True)
def _no_devenv_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DEVENV_* variable in the developer's shell must not change what the tests see."""
    import os

    for key in list(os.environ):
        if key.startswith("DEVENV_") and key != "DEVENV_UPDATE_GOLDEN" or key in ("COMPOSE_PROFILES", "DEVICE", "DOC_ENGINE", "RAGFLOW_IMAGE"):
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _host_ports_are_not_the_fake_stacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The FakeEngine's stack publishes no real port: whatever listens on this host's 9380 (a demo
    stack left running, another agent's) must not turn a unit test's `up` into "port in use".
    The real check is proven against a real listener in tests/e2e/test_preflight.py."""
    monkeypatch.setattr("devenv.app.preflight.port_in_use", lambda host_ip, port: None)


@pytest.fixture
def devenv(monkeypatch: pytest.MonkeyPatch) -> Devenv:
    """The CLI with a FakeEngine and a fixed environment: ``devenv("-C", root, "plan")``."""
    return Devenv(monkeypatch)
