"""The demo flow on Podman 4.3 through its Docker-compatible socket: up, a reload, verify, down.

Compose v2 and devenv talk to Podman's API service (``DOCKER_HOST``); Podman 4.3 has no
``podman compose`` (4.7+ delegates to the same compose binary). ``scripts/provision_podman.sh``
installs Podman, starts its service and a health pump (no systemd here), and loads the base image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PODMAN_SOCK

from .conftest import BASE_IMAGE, DEMO, DemoStack

pytestmark = pytest.mark.podman


@pytest.fixture
def podman_demo(tmp_path: Path):
    root = tmp_path / "podman checkout"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("__pycache__", ".devenv", "ragflow-logs", "docker-compose.devenv.yml*"))
    stack = DemoStack(root)
    stack.env.update(DOCKER_HOST=f"unix://{PODMAN_SOCK}", DOCKER_BUILDKIT="0")
    build = subprocess.run(["docker", "compose", "--project-directory", str(DEMO / "docker"), "-f", str(DEMO / "docker" / "docker-compose.yml"),
                            "build", "-q"], env=dict(stack.env, DEVENV_DEMO_BASE_IMAGE=os.environ.get("DEVENV_DEMO_BASE_IMAGE", BASE_IMAGE)),
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, f"building the demo images on Podman failed:\n{build.stderr}"
    try:
        yield stack
    finally:
        stack.cleanup()


def podman_docker(stack: DemoStack, *args: str) -> str:
    return subprocess.run(["docker", *args], env=stack.env, capture_output=True, text=True, timeout=120, check=True).stdout


def test_the_demo_flow_on_podman(podman_demo):
    demo = podman_demo
    doctor = demo.devenv("doctor")
    assert "Podman" in doctor.stdout + doctor.stderr, doctor.stdout + doctor.stderr
    watch = demo.start_watch("up")
    ready = watch.wait_for("ready:", timeout=300)
    assert "healthy" in ready
    engine = json.loads(podman_docker(demo, "version", "--format", "{{json .Server}}"))
    assert "podman" in json.dumps(engine).lower()  # really Podman answering, not Docker
    at = watch.mark()
    demo.set_mark("on-podman")
    demo.wait_mark("on-podman", timeout=60)
    line = watch.wait_for("reload ok:", after=at, timeout=60)
    assert "restart processes server" in line and "escalated" not in line, line
    # A template edit recreates the server alone: the database keeps its container (compose on
    # Podman takes every container's networks for changed and recreated the whole stack).
    def ids() -> dict[str, str]:
        found = podman_docker(demo, "ps", "-q", "--filter", f"label=com.docker.compose.project={demo.project}").split()
        return {c["Config"]["Labels"]["com.docker.compose.service"]: c["Id"] for c in json.loads(podman_docker(demo, "inspect", *found))}
    before = ids()
    at = watch.mark()
    template = demo.root / "docker" / "service_conf.yaml.template"
    template.write_text(template.read_text() + "\n# edited on podman\n")
    line = watch.wait_for("reload ok:", after=at, timeout=180)
    assert "recreate" in line, line
    after = ids()
    assert after["ragflow-cpu"] != before["ragflow-cpu"]
    assert {s: c for s, c in after.items() if s != "ragflow-cpu"} == {s: c for s, c in before.items() if s != "ragflow-cpu"}
    verify = demo.devenv("verify", timeout=180)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    watch.stop()
    down = demo.devenv("down", timeout=180)
    assert down.returncode == 0, down.stderr
    left = podman_docker(demo, "ps", "-aq", "--filter", f"label=com.docker.compose.project={demo.project}").split()
    assert left == [], left
