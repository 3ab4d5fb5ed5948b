"""The guards around a stack (issue 13): duplicate networks, a stack owned by another
checkout, a restart with nothing running, and a watcher that stops when the stack is removed.
The engine is the FakeEngine here; tests/e2e/test_concurrency.py proves each on a real one."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

import pytest

from devenv.app import state
from devenv.app.owner import ForeignStackError, ensure_ours, other_owner
from devenv.app.preflight import FAIL, PASS, check_networks, networks_to_remove
from devenv.app.ui import UI
from devenv.commands.up import _repair_networks
from devenv.core.errors import EngineError
from devenv.engine import WORKING_DIR_LABEL, ContainerState, NetworkState
from tests.fakes import FakeEngine


def box(service: str = "ragflow-cpu", state_: str = "running", working_dir: str | None = None) -> ContainerState:
    labels = {WORKING_DIR_LABEL: working_dir} if working_dir else {}
    return ContainerState(f"id-{service}", f"p-{service}-1", service, state_, None, None, 0, 0, "img", labels=labels)


# --- duplicate networks ----------------------------------------------------------------------

def test_one_copy_of_each_network_is_kept_the_one_in_use():
    nets = [NetworkState("a", "p_ragflow", 0, "2026-01-01"), NetworkState("b", "p_ragflow", 3, "2026-01-02"),
            NetworkState("c", "p_ragflow", 0, "2026-01-03"), NetworkState("d", "p_default", 0)]
    remove, stuck = networks_to_remove(nets)
    assert sorted(n.id for n in remove) == ["a", "c"] and stuck == []
    assert check_networks(nets).status == FAIL and "p_ragflow exists 3 times" in check_networks(nets).message
    assert check_networks(nets[1:2] + nets[3:]).status == PASS


def test_all_empty_keeps_the_oldest_and_two_in_use_is_not_guessed():
    remove, _ = networks_to_remove([NetworkState("new", "n", 0, "2026-02"), NetworkState("old", "n", 0, "2026-01")])
    assert [n.id for n in remove] == ["new"]
    remove, stuck = networks_to_remove([NetworkState("a", "n", 1), NetworkState("b", "n", 2)])
    assert remove == [] and stuck == ["n"]


def test_up_removes_the_empty_duplicates_and_says_so():
    engine = FakeEngine()
    engine.networks_result = [NetworkState("a", "p_ragflow", 1, "1"), NetworkState("b", "p_ragflow", 0, "2")]
    err = io.StringIO()
    _repair_networks(engine, "p", UI(out=io.StringIO(), err=err))
    assert [c.args for c in engine.calls if c.name == "remove_network"] == [("b",)]
    assert "removed 1 empty duplicate network(s) named p_ragflow" in err.getvalue()
    engine.networks_result = [NetworkState("a", "n", 1), NetworkState("b", "n", 1)]
    with pytest.raises(EngineError, match="ambiguous"):
        _repair_networks(engine, "p", UI(out=io.StringIO(), err=io.StringIO()))


# --- a stack owned by another checkout -----------------------------------------------------------

def test_containers_from_another_project_folder_belong_to_another_checkout(tmp_path):
    ours, theirs = tmp_path / "a" / "docker", tmp_path / "b" / "docker"
    assert other_owner([box(working_dir=str(ours))], ours) is None
    assert other_owner([box()], ours) is None  # no label: nothing to compare
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert other_owner([box(working_dir=str(tmp_path / "link" / "docker"))], ours) is None  # the same folder by another path
    with pytest.raises(ForeignStackError) as e:
        ensure_ours([box(working_dir=str(ours)), box("mysql", working_dir=str(theirs))], "docker", ours, "up")
    assert e.value.exit_code == 2 and str(tmp_path / "b") in e.value.message
    assert "COMPOSE_PROJECT_NAME" in (e.value.fix or "")


@pytest.mark.parametrize("command", [["up", "--detach"], ["watch"], ["down"], ["restart"], ["status"], ["verify"]])
def test_every_stack_command_refuses_a_stack_of_another_checkout(devenv, checkout, tmp_path, command):
    root = checkout("v0.24.0")
    (root / "docker" / "entrypoint.sh").chmod(0o755)
    devenv.engine.containers_result = [box(working_dir=str(tmp_path / "elsewhere" / "docker"))]
    if command == ["watch"]:
        assert devenv("-C", root, "plan").exit_code == 0
    result = devenv("-C", root, *command)
    assert result.exit_code == 2, result.output
    assert "belongs to another checkout" in result.output and str(tmp_path / "elsewhere") in result.output
    assert not {"compose_up", "compose_down", "compose_restart"} & set(devenv.engine.names())


# --- restart with nothing running ------------------------------------------------------------------

@pytest.mark.parametrize("args", [["restart", "--container"], ["restart"], ["restart", "mysql"]])
def test_restart_with_the_stack_down_fails_at_once_and_stores_nothing(devenv, checkout, args):
    root = checkout("v0.24.0")
    started = time.monotonic()
    result = devenv("-C", root, *args)
    assert time.monotonic() - started < 5
    assert result.exit_code == 2, result.output
    assert "nothing to restart" in result.output and "devenv up" in result.output
    assert "compose_restart" not in devenv.engine.names()
    assert "last_reload" not in state.load(Path(root))


# --- the watcher and a removed stack ------------------------------------------------------------------

def test_a_watcher_stops_when_the_whole_stack_is_removed(checkout):
    from devenv.app.workspace import open_workspace
    from devenv.loop.session import WatchSession

    root = checkout("v0.24.0")
    engine = FakeEngine()
    ws = open_workspace(root, engine, {})
    err = io.StringIO()
    session = WatchSession(ws, ws.plan(), engine, UI(out=io.StringIO(), err=err), threading.Event())
    session.reloader.reload_timeout = 0.3  # the fake never brings the server back; do not wait for it
    engine.containers_result = [box("mysql")]  # the server is gone, the rest is there: bring it back
    session.idle_check()
    assert "compose_up" in engine.names() and not session.stop.is_set()
    engine.calls.clear()
    engine.containers_result = []  # nothing of the project left: someone ran `down`
    session.idle_check()
    assert session.stop.is_set() and session.stack_removed
    assert "compose_up" not in engine.names()
    assert "was removed" in err.getvalue()
