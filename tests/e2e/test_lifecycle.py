"""The lifecycle commands on a real engine: status, logs, restart, verify and doctor, each checked
against what the engine itself says (``docker inspect``) rather than against devenv's own output."""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime, timezone

import pytest

pytestmark = pytest.mark.engine

PACKAGES = ["api", "rag", "deepdoc", "agent", "common"]
SERVER = "ragflow-cpu"


def _inspect_time(text: str) -> datetime:
    """docker inspect's RFC 3339 time with nanoseconds, to the microsecond devenv keeps."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{frac[:6].ljust(6, '0')}").replace(tzinfo=timezone.utc)


def _project_containers(demo) -> dict[str, dict]:
    """docker inspect of every container of the project, by compose service."""
    ids = demo.docker("ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={demo.project}").split()
    assert ids, "the project has no containers"
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in json.loads(demo.docker("inspect", *ids))}


def _wait_settled(demo, timeout: float = 90) -> dict[str, dict]:
    """Wait until every container runs and every healthcheck says healthy, so nothing changes under a comparison."""
    deadline = time.monotonic() + timeout
    while True:
        found = _project_containers(demo)
        if all(c["State"]["Status"] == "running" and (c["State"].get("Health") or {}).get("Status", "healthy") == "healthy"
               for c in found.values()):
            return found
        if time.monotonic() > deadline:
            raise AssertionError("the stack did not settle: " + ", ".join(
                f"{s}={c['State']['Status']}/{(c['State'].get('Health') or {}).get('Status')}" for s, c in found.items()))
        time.sleep(0.5)


def _wait_healthy(demo, service: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        info = demo.inspect(service)
        if (info["State"].get("Health") or {}).get("Status") == "healthy":
            return info
        assert time.monotonic() < deadline, f"{service} not healthy within {timeout} s: {info['State']}"
        time.sleep(0.5)


# --- status -------------------------------------------------------------------------------------

def test_status_json_matches_docker_inspect_field_by_field(running):
    demo = running
    _wait_settled(demo)
    data = json.loads(demo.devenv("status", "--json", check=True).stdout)
    engine = _project_containers(demo)

    assert data["project"] == demo.project
    assert data["checkout"] == str(demo.root)
    assert data["server_service"] == SERVER
    assert sorted(s["service"] for s in data["services"]) == sorted(engine) == ["es01", "mysql", SERVER]
    for entry in data["services"]:
        raw = engine[entry["service"]]
        state = raw["State"]
        assert entry["container"] == raw["Name"].lstrip("/")
        assert raw["Id"].startswith(entry["id"]) and len(entry["id"]) == 12
        assert entry["state"] == state["Status"] == "running"
        assert entry["health"] == (state.get("Health") or {}).get("Status")
        assert entry["restart_count"] == raw["RestartCount"]
        assert entry["exit_code"] == state["ExitCode"]
        assert datetime.fromisoformat(entry["started_at"]) == _inspect_time(state["StartedAt"])
        assert 0 <= entry["uptime_seconds"] <= (datetime.now(timezone.utc) - _inspect_time(state["StartedAt"])).total_seconds() + 1
        published = sorted(f"{b['HostIp'] or '0.0.0.0'}:{b['HostPort']}->{key.split('/')[0]}"
                           for key, binds in (raw["NetworkSettings"]["Ports"] or {}).items() for b in binds or ())
        assert sorted(entry["ports"]) == published
        assert entry["dev_mode"] is (raw["Config"]["Labels"].get("dev.devenv.managed") == "true")
    # The healthchecked dependency and the server as the engine reports them.
    by_service = {s["service"]: s for s in data["services"]}
    assert by_service["mysql"]["health"] == "healthy" and by_service[SERVER]["health"] is None
    assert by_service[SERVER]["dev_mode"] is True and by_service["mysql"]["dev_mode"] is False
    assert sorted(by_service[SERVER]["ports"]) == sorted([f"127.0.0.1:{demo.web_port}->80", f"127.0.0.1:{demo.api_port}->9380"])

    # The server container's mounts: source, destination and rw exactly as the engine has them.
    server = engine[SERVER]
    want = sorted((m["Type"], m["Source"], m["Destination"], m["RW"]) for m in server["Mounts"])
    got = sorted((m["type"], m["source"], m["destination"], m["rw"]) for m in data["mounts"])
    assert got == want
    assert ("bind", str(demo.root / "api"), "/ragflow/api", True) in got
    assert data["watching"] is False and data["reloads"] == 0  # --detach: nobody watches
    assert set(data["caches"]) >= {"uv", "pip", "pycache"}

    # Wall time of five calls, as a user sees it (a fresh interpreter each time). Recorded, not asserted.
    times = []
    for _ in range(5):
        started = time.perf_counter()
        demo.devenv("status", "--json", check=True)
        times.append(time.perf_counter() - started)
    print(f"status --json wall time, 5 runs: {', '.join(f'{t:.2f}' for t in times)} s "
          f"(min {min(times):.2f}, median {sorted(times)[2]:.2f})")


# --- logs ---------------------------------------------------------------------------------------

def test_logs_of_the_server_of_a_named_service_and_of_an_unknown_one(running):
    demo = running
    server = demo.devenv("logs", check=True)
    assert re.search(r"ragflow_server v0\.24\.0 started pid=\d+", server.stdout), server.stdout
    assert "entrypoint: starting the API server" in server.stdout
    assert "fake mysql" not in server.stdout

    mysql = demo.devenv("logs", "mysql", check=True)
    assert "fake mysql: listening on 3306" in mysql.stdout, mysql.stdout
    assert "ragflow_server" not in mysql.stdout
    assert "demo-Secr3t-5f3a9c" not in mysql.stdout + mysql.stderr  # the password never shows

    unknown = demo.devenv("logs", "nope")
    assert unknown.returncode == 2, unknown
    assert "no service 'nope'" in unknown.stderr
    assert "es01, mysql, ragflow-cpu" in unknown.stderr  # the list to choose from
    assert unknown.stderr.count("[devenv] error:") == 1 and "Traceback" not in unknown.stderr


# --- restart ------------------------------------------------------------------------------------

def test_restart_gives_a_new_server_process_in_the_same_container(running):
    demo = running
    before, container = demo.code(), demo.inspect()
    result = demo.devenv("restart", check=True)
    assert "[devenv] reload ok:" in result.stderr and "ping ok" in result.stderr, result.stderr
    after = demo.code()  # reload ok means ping answered: no wait needed
    assert after["pid"] != before["pid"] and after["started"] > before["started"]
    now = demo.inspect()
    assert now["Id"] == container["Id"]
    assert now["State"]["StartedAt"] == container["State"]["StartedAt"] and now["RestartCount"] == container["RestartCount"]


def test_restart_container_restarts_it_and_it_becomes_healthy(running):
    demo = running
    before = demo.inspect()
    result = demo.devenv("restart", "--container", check=True)
    assert "[devenv] reload ok:" in result.stderr and "restart the container" in result.stderr, result.stderr
    assert "ping ok" in result.stderr and "healthz ok" in result.stderr
    after = demo.inspect()
    assert after["Id"] == before["Id"], "restart --container recreated the container"
    assert _inspect_time(after["State"]["StartedAt"]) > _inspect_time(before["State"]["StartedAt"])
    assert after["State"]["Running"] is True
    assert demo.get("/v1/system/ping") == (200, "pong")
    status, body = demo.get("/v1/system/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_restart_another_service(running):
    demo = running
    before = demo.inspect("mysql")
    server_before = demo.inspect()
    result = demo.devenv("restart", "mysql", check=True)
    assert "restarted mysql" in result.stderr
    after = _wait_healthy(demo, "mysql")
    assert after["Id"] == before["Id"]
    assert _inspect_time(after["State"]["StartedAt"]) > _inspect_time(before["State"]["StartedAt"])
    assert demo.inspect()["State"]["StartedAt"] == server_before["State"]["StartedAt"], "restarting mysql touched the server"
    # The server sees its database again.
    deadline = time.monotonic() + 30
    while demo.get("/v1/system/healthz")[0] != 200:
        assert time.monotonic() < deadline, "healthz did not recover after mysql restarted"
        time.sleep(0.5)


# --- verify -------------------------------------------------------------------------------------

def test_verify_reports_every_package_live(running):
    demo = running
    text = demo.devenv("verify", check=True)
    lines = text.stdout.splitlines()
    for pkg in PACKAGES:
        assert any(re.match(rf"mount {pkg}\s+live \(host write seen in \d+ ms\)$", line) for line in lines), text.stdout
    assert re.search(r"^restart\s+ok: pid \d+->\d+", text.stdout, re.M), text.stdout
    assert lines[-1] == "verified"

    as_json = demo.devenv("verify", "--json", check=True)
    data = json.loads(as_json.stdout)
    assert data["verified"] is True and data["service"] == SERVER
    assert sorted(data["mounts"]) == sorted(PACKAGES)
    assert all(m["live"] for m in data["mounts"].values()), data["mounts"]
    assert data["restart"]["ok"] is True and data["restart"]["error"] is None
    assert not list(demo.root.rglob(".devenv-verify-*")), "verify left its probe files behind"


def test_verify_says_not_live_on_a_stack_started_without_devenv(demo):
    """The honest broken mount: plain `docker compose up` without devenv's override, so the container
    runs the image's copies of the packages and a host write never reaches it."""
    assert not (demo.root / "docker" / "docker-compose.devenv.yml").exists()
    subprocess.run(["docker", "compose", "--project-directory", str(demo.root / "docker"),
                    "-f", str(demo.root / "docker" / "docker-compose.yml"), "up", "-d"],
                   env=demo.env, check=True, capture_output=True, timeout=300)
    deadline = time.monotonic() + 90
    while True:
        try:
            if demo.get("/v1/system/ping") == (200, "pong"):
                break
        except OSError:
            pass
        assert time.monotonic() < deadline, "the plain stack did not answer"
        time.sleep(0.5)
    assert not any(m["Destination"] == "/ragflow/api" for m in demo.inspect()["Mounts"])

    text = demo.devenv("verify")
    assert text.returncode == 1, text
    for pkg in PACKAGES:
        assert re.search(rf"^mount {pkg}\s+NOT LIVE \(the container does not see the host's writes\)$", text.stdout, re.M), text.stdout
    assert text.stdout.splitlines()[-1] == "NOT verified"

    as_json = demo.devenv("verify", "--json")
    assert as_json.returncode == 1
    data = json.loads(as_json.stdout)
    assert data["verified"] is False
    assert sorted(data["mounts"]) == sorted(PACKAGES) and not any(m["live"] for m in data["mounts"].values())
    assert not list(demo.root.rglob(".devenv-verify-*"))


# --- doctor -------------------------------------------------------------------------------------

def test_doctor_passes_on_the_running_stack(running):
    demo = running
    text = demo.devenv("doctor", check=True)
    lines = text.stdout.splitlines()
    checks = [line for line in lines if not line.startswith(" ")]
    assert checks and not any(line.startswith("FAIL") for line in checks), text.stdout
    for name in ("engine", "compose", "checkout", "line endings", "release", "compose files", "override", "ports", "image"):
        assert re.search(rf"^ok\s+{name}\s", text.stdout, re.M), f"no pass line for {name}:\n{text.stdout}"
    assert re.search(rf"^ok\s+compose files\s+load; server service {SERVER}, project {demo.project}$", text.stdout, re.M)
    assert re.search(r"^ok\s+override\s+docker-compose\.devenv\.yml is up to date$", text.stdout, re.M)
    assert re.search(r"^ok\s+ports\s+every published port is free$", text.stdout, re.M)  # its own ports do not count

    as_json = demo.devenv("doctor", "--json", check=True)
    data = json.loads(as_json.stdout)
    assert isinstance(data, list) and data
    assert all(set(c) == {"name", "status", "message", "fix"} for c in data)
    assert {c["status"] for c in data} <= {"pass", "warn"}
    # The same checks, in the same order, as the text output.
    assert len(data) == len(checks), (data, checks)
    for check, line in zip(data, checks):
        mark = {"pass": "ok  ", "warn": "warn"}[check["status"]]
        assert line.startswith(f"{mark}  {check['name']} ") and line.endswith(check["message"]), (check, line)
