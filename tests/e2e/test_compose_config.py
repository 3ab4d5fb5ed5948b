"""Real compose v2 reads devenv's override for each release's fixture.

``devenv -C FIXTURE plan`` runs as a user runs it (``python -m devenv`` with
the real engine), then ``docker compose ... config --format json`` loads the
stack with the override and the test checks what compose will actually do:
the package binds, init, the host folders. Skips without Docker; fails in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devenv.core.model import ComposeModel
from devenv.core.override import OVERRIDE_NAME
from devenv.core.plan import image_volume
from tests.fixtures import EXPECTED, RECORDED_CONFIG, RELEASES, make_checkout, recorded_form

pytestmark = pytest.mark.engine

PROTECTED = {"/ragflow", "/ragflow/.venv", "/ragflow/web", "/ragflow/web/dist", "/ragflow/conf"}


def clean_env() -> dict[str, str]:
    """The test runner's environment without what would change the fixture's stack."""
    drop = ("COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "DEVICE", "DOC_ENGINE", "RAGFLOW_IMAGE")
    return {k: v for k, v in os.environ.items() if not k.startswith("DEVENV_") and k not in drop}


def devenv(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "devenv", *map(str, args)], capture_output=True, text=True,
                          timeout=180, env=clean_env())


def compose_config(root: Path, profiles: tuple[str, ...], *, override: bool = True) -> dict:
    docker = root / "docker"
    argv = ["docker", "compose", "--project-directory", str(docker), "-f", str(docker / "docker-compose.yml")]
    if override:
        argv += ["-f", str(docker / OVERRIDE_NAME)]
    for profile in profiles:
        argv += ["--profile", profile]
    done = subprocess.run([*argv, "config", "--format", "json"], capture_output=True, text=True, timeout=120, env=clean_env())
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def tree(root: Path) -> dict[str, bytes | None]:
    return {p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


@pytest.fixture
def fixture_root(tmp_path: Path):
    def make(release: str) -> Path:
        return make_checkout(tmp_path / "ragflow été 数据" / release, release)  # a space and non-ASCII, as users have

    return make


@pytest.mark.parametrize("release", RELEASES)
def test_compose_reads_the_override(fixture_root, release: str) -> None:
    root = fixture_root(release)
    exp = EXPECTED[release]
    done = devenv("-C", root, "plan")
    assert done.returncode == 0, done.stderr
    assert (root / "docker" / OVERRIDE_NAME).is_file()

    stack = compose_config(root, exp.profiles, override=False)["services"][exp.service]
    config = compose_config(root, exp.profiles)
    svc = config["services"][exp.service]
    assert svc["init"] is True
    assert svc["stop_grace_period"] == "2s"
    assert svc["labels"]["dev.devenv.managed"] == "true"
    mounts = {v["target"]: v for v in svc["volumes"]}
    for pkg in exp.packages:
        bind = mounts[f"/ragflow/{pkg}"]
        assert bind["type"] == "bind" and bind["source"] == str(root / pkg)
        assert Path(bind["source"]).is_dir()
    models = mounts["/ragflow/rag/res/deepdoc"]
    tagged = image_volume("devenv-deepdoc-models", svc["image"])  # the image's tag in the volume's name
    assert models["type"] == "volume" and models["source"] == tagged
    assert tagged in config["volumes"]
    assert mounts["/root/.cache/uv"]["source"] == str(root / ".devenv" / "cache" / "uv")
    # the stack's own mounts are all still there, unchanged
    for v in stack["volumes"]:
        assert mounts[v["target"]] == v
    # nothing hides what the image baked
    assert not {t for t, v in mounts.items() if v["type"] == "bind"} & PROTECTED
    # every host folder or file compose will bind exists, so Docker creates none as root
    for v in svc["volumes"]:
        if v["type"] == "bind" and v["source"].startswith(str(root)):
            assert Path(v["source"]).exists(), v["source"]
    env = svc["environment"]
    assert env["PYTHONPYCACHEPREFIX"] == "/root/.cache/devenv-pycache" and env["PYTHONDONTWRITEBYTECODE"] == ""

    check = devenv("-C", root, "plan", "--check")
    assert check.returncode == 0, check.stderr


def test_debug_port_on_loopback(fixture_root) -> None:
    root = fixture_root("v0.24.0")
    done = devenv("-C", root, "plan", "--debug")
    assert done.returncode == 0, done.stderr
    ports = compose_config(root, ("elasticsearch", "cpu"))["services"]["ragflow-cpu"]["ports"]
    debug = [p for p in ports if p["target"] == 5678]
    assert debug == [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 5678, "published": "5678", "protocol": "tcp"}]


def test_v020_debug_adds_no_second_mapping(fixture_root) -> None:
    root = fixture_root("v0.20.0")
    done = devenv("-C", root, "plan", "--debug")
    assert done.returncode == 0, done.stderr
    assert "already publishes port 5678" in done.stderr
    ports = compose_config(root, ("elasticsearch",))["services"]["ragflow"]["ports"]
    assert [p.get("host_ip", "") for p in ports if p["target"] == 5678] == [""]


def test_broken_yaml_through_the_real_engine_writes_nothing(fixture_root) -> None:
    root = fixture_root("v0.24.0")
    (root / "docker" / "docker-compose.yml").write_text("services:\n  ragflow-cpu:\n    image: x\n   volumes: [\n")
    before = tree(root)
    done = devenv("-C", root, "plan")
    assert done.returncode == 2, done.stderr  # EXIT_USAGE: a compose file that does not load is bad input
    assert "[devenv] error: the compose files do not load: " in done.stderr
    assert "yaml: line" in done.stderr  # compose's own message
    assert "fix: the YAML error is in docker/docker-compose.yml (line 4: " in done.stderr
    assert tree(root) == before


def test_unknown_profile_through_the_real_engine_writes_nothing(fixture_root) -> None:
    root = fixture_root("v0.24.0")
    before = tree(root)
    env = {**clean_env(), "DEVENV_COMPOSE_PROFILES": "cpu,nosuch"}
    done = subprocess.run([sys.executable, "-m", "devenv", "-C", str(root), "plan"], capture_output=True, text=True,
                          timeout=180, env=env)
    assert done.returncode == 2 and "unknown compose profile 'nosuch'" in done.stderr
    assert tree(root) == before


def test_the_recorded_config_still_describes_what_compose_prints(fixture_root) -> None:
    """tests/data/compose-config-v0.24.json against this machine's compose; DEVENV_UPDATE_GOLDEN=1 re-records it."""
    root = make_checkout(fixture_root("v0.24.0").parent / "ragflow", "v0.24.0")
    docker = root / "docker"
    done = subprocess.run(["docker", "compose", "--project-directory", str(docker), "-f", str(docker / "docker-compose.yml"),
                           "config", "--format", "json"], capture_output=True, text=True, timeout=120, env=clean_env())
    assert done.returncode == 0, done.stderr
    now = recorded_form(done.stdout, root)
    if os.environ.get("DEVENV_UPDATE_GOLDEN") == "1":
        RECORDED_CONFIG.write_text(now, encoding="utf-8")
    recorded = json.loads(RECORDED_CONFIG.read_text(encoding="utf-8"))
    assert ComposeModel.from_json(json.loads(now)) == ComposeModel.from_json(recorded)
