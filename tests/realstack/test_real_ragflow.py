"""devenv on RAGFlow v0.22.0's real code: up, reloads, verify, a crash loop, down.

One stack for the module (a real start takes 40-100 s); the tests run in file order and each
leaves the stack healthy for the next. Every claim is read back from the stack itself: the
HTTP answers, /proc in the container, the engine's containers and volumes.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from tests.e2e.conftest import atomic_save
from tests.realstack.conftest import RELOAD_TIMEOUT, START_TIMEOUT, RealStack, process_pids

pytestmark = pytest.mark.realstack

SERVER, EXECUTOR, SYNC = "api/ragflow_server.py", "rag/svr/task_executor.py", "rag/svr/sync_data_source.py"
TRIE = "rag/res/huqie.txt.trie"


@pytest.fixture(scope="module")
def up(real: RealStack):
    watch = real.start_watch("up")
    ready = watch.wait_for("ready:", timeout=START_TIMEOUT)
    return real, watch, ready


def test_up_reaches_healthy_with_the_start_split_and_the_running_processes(up):
    real, watch, ready = up
    assert re.search(r"healthy in [\d.]+ s \(v0\.22\.0; container [\d.]+ s, imports [\d.]+ s, init [\d.]+ s, health [\d.]+ s\)", ready), ready
    assert real.ping() is not None  # answers 200
    # v0.22.0 starts no admin server: devenv names what runs, read from the container
    assert any("reloads: " in line and "(admin not running)" in line for line in watch.lines), watch.lines
    status = json.loads(real.devenv("status", "--json", check=True).stdout)
    running = {p["script"]: p for p in status["processes"] if p["running"]}
    assert set(running) == {SERVER, EXECUTOR, SYNC}, status["processes"]
    assert all(p["pid"] == process_pids(real)[s] for s, p in running.items())  # the pids the container shows
    assert set(status["start"]) == {"container", "imports", "listening", "healthy"} and status["start"]["healthy"] > 0


def test_the_trie_the_image_baked_stays_visible_and_unchanged(up):
    real, _watch, _ready = up
    image_size = real.docker("run", "--rm", "--entrypoint", "stat", "infiniflow/ragflow:v0.22.0", "-c", "%s", f"/ragflow/{TRIE}").strip()
    assert real.exec("stat", "-c", "%s", f"/ragflow/{TRIE}").strip() == image_size != "0"
    assert (real.root / TRIE).stat().st_size == 0  # only devenv's empty mount point: no 55 MB written into the checkout
    logs = real.docker("logs", real.container())
    assert "Build trie" not in logs  # no process rebuilt it
    plan = real.devenv("plan", check=True).stdout
    assert f"/ragflow/{TRIE}" in plan and "baked into the image" in plan


def test_an_api_apps_edit_is_served_without_escalation(up):
    real, watch, _ready = up
    mark = watch.mark()
    before = process_pids(real)
    real.set_ping("pong-api")
    seconds = real.wait_ping_body("pong-api")
    line = watch.wait_for("reload ok:", after=mark, timeout=RELOAD_TIMEOUT)
    assert "escalated" not in line and "restart processes server" in line, line
    after = process_pids(real)
    assert after[SERVER] != before[SERVER] and after[EXECUTOR] == before[EXECUTOR] and after[SYNC] == before[SYNC]
    print(f"api/apps edit served in {seconds:.1f} s; devenv: {line}")


def test_a_rag_edit_restarts_what_runs_without_escalation(up):
    real, watch, _ready = up
    mark = watch.mark()
    before = process_pids(real)
    started = real.inspect()["State"]["StartedAt"]
    path = real.root / "rag" / "nlp" / "query.py"
    atomic_save(path, path.read_text() + f"\n# devenv realstack edit {time.time()}\n")
    line = watch.wait_for("reload ok:", after=mark, timeout=RELOAD_TIMEOUT)
    assert "escalated" not in line and "admin not running (not restarted)" in line, line
    after = process_pids(real)
    assert all(after[s] != before[s] for s in (SERVER, EXECUTOR, SYNC)), (before, after)
    assert real.inspect()["State"]["StartedAt"] == started  # the container was not restarted
    assert real.ping() == "pong-api"


def test_verify_proves_a_reload_without_escalation(up):
    real, _watch, _ready = up
    result = real.devenv("verify", timeout=RELOAD_TIMEOUT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "escalated" not in result.stdout + result.stderr


def test_a_bad_save_is_reported_once_and_the_next_good_save_recovers(up):
    real, watch, _ready = up
    path = real.root / "api" / "apps" / "system_app.py"
    good = path.read_text()
    mark = watch.mark()
    atomic_save(path, good.replace('return "pong-api", 200', 'return "pong-api", 200 +', 1))  # a syntax error
    failed = watch.wait_for("reload failed:", after=mark, timeout=RELOAD_TIMEOUT)
    assert "api/apps/system_app.py" in failed and "SyntaxError" in failed, failed
    time.sleep(8)  # the loop keeps relaunching the broken server meanwhile: said once, not on every relaunch
    assert watch.count("reload failed:", after=mark) == 1, watch.lines[mark:]
    tracebacks = [line for line in watch.lines[mark:] if line.strip().startswith("SyntaxError")]
    assert len(tracebacks) == 1, watch.lines[mark:]
    mark = watch.mark()
    atomic_save(path, good.replace('return "pong-api", 200', 'return "pong-fixed", 200', 1))
    real.wait_ping_body("pong-fixed")
    line = watch.wait_for("reload ok:", after=mark, timeout=RELOAD_TIMEOUT)
    assert "escalated" not in line, line


def test_down_stops_everything_and_keeps_the_volumes(up):
    real, watch, _ready = up
    watch.stop()
    result = real.devenv("down", timeout=120)
    assert result.returncode == 0, result.stderr
    assert real.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={real.project}").strip() == ""
    volumes = real.docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={real.project}").split()
    assert any(v.endswith("mysql_data") for v in volumes), volumes
