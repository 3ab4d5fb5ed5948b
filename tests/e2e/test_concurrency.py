"""Issue 13 (2-5): one stack, one owner, on the real engine.

`down` against a running watcher, devenv commands started together on one checkout,
duplicate networks left by two `up` at once, two checkouts with one project name, and
`restart` with the stack down. Each test checks what the engine holds afterwards
(container ids and start times, `docker ps`, the networks), not only what devenv says.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time

import pytest

from .conftest import DEMO, DemoStack, Watch

pytestmark = pytest.mark.engine


def running_ids(demo: DemoStack) -> list[str]:
    """The project's running containers (what `docker ps` shows)."""
    return demo.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={demo.project}").split()


def started_at(demo: DemoStack) -> dict[str, str]:
    """Every container of the project: full id -> its StartedAt."""
    ids = demo.docker("ps", "-aq", "--no-trunc", "--filter", f"label=com.docker.compose.project={demo.project}").split()
    assert ids, f"no container in project {demo.project}"
    return {c["Id"]: c["State"]["StartedAt"] for c in json.loads(demo.docker("inspect", *ids))}


def networks_named(demo: DemoStack, name: str) -> list[str]:
    """Ids of the networks called exactly ``name`` (the name filter also matches substrings)."""
    out = demo.docker("network", "ls", "--no-trunc", "--filter", f"name={name}", "--format", "{{.ID}} {{.Name}}")
    return [nid for nid, n in (line.split(" ", 1) for line in out.splitlines()) if n == name]


def said(watches: list[Watch]) -> str:
    for w in watches:
        w.mark()
    return "\n---\n".join("\n".join(w.lines) for w in watches)


def output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


# --- item 2: `down` while `up` watches --------------------------------------------------------------

def test_down_stops_the_watching_up_and_the_stack_stays_down(demo):
    watch = demo.start_watch("up")
    watch.wait_for("ready:", timeout=180)
    assert running_ids(demo)
    down = subprocess.Popen([sys.executable, "-m", "devenv", "-C", str(demo.root), "down"], env=demo.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text, _ = down.communicate(timeout=120)
    assert down.returncode == 0, text
    assert f"stopped the watcher (devenv up, process {watch.proc.pid})" in text, text
    # `down` waited for the watcher's lock, so the watcher has exited by now (or is about to).
    assert watch.proc.wait(timeout=10) == 0
    watch.wait_for(f"info: stopped watching: `devenv down` (process {down.pid}) is stopping the stack", timeout=5)
    assert running_ids(demo) == []
    time.sleep(5)  # a watcher that had survived would have started the server again by now
    assert running_ids(demo) == []
    assert demo.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={demo.project}").split() == []
    assert watch.count("warn: the ragflow-cpu container") == 0, "\n".join(watch.lines)  # never "starting it again"


# --- item 3: commands started together; duplicate networks -----------------------------------------------

@pytest.mark.parametrize("command", ["watch", "up"])
def test_three_at_once_on_one_checkout_exactly_one_runs(running, command):
    demo = running
    before = started_at(demo)
    watches = [demo.start_watch(command) for _ in range(3)]
    deadline = time.monotonic() + 60
    while sum(w.proc.poll() is not None for w in watches) < 2:
        assert time.monotonic() < deadline, said(watches)
        time.sleep(0.1)
    time.sleep(1)  # a third one that was going to exit has done so
    alive = [w for w in watches if w.proc.poll() is None]
    refused = [w for w in watches if w.proc.poll() is not None]
    assert len(alive) == 1, [w.proc.returncode for w in watches]
    holder = alive[0]
    holder.wait_for("ready:" if command == "up" else "ready: watching", timeout=120)
    for w in refused:
        assert w.proc.returncode == 2, "\n".join(w.lines)
        w.mark()
        text = "\n".join(w.lines)
        assert f"devenv {command} (process {holder.proc.pid}, since " in text, text
        assert "one devenv command at a time changes a checkout's stack" in text, text
        assert "Traceback" not in text
    lock = json.loads((demo.root / ".devenv" / "lock").read_text())
    assert lock["pid"] == holder.proc.pid and lock["phase"] == "watching"
    assert started_at(demo) == before  # nobody recreated or restarted the stack
    assert holder.interrupt() < 15 and holder.proc.returncode == 0


def _compose_network(demo: DemoStack) -> tuple[str, str, dict[str, str]]:
    """The stack's one compose network: name, id, labels."""
    name = f"{demo.project}_ragflow"
    ids = networks_named(demo, name)
    assert len(ids) == 1, ids
    labels = json.loads(demo.docker("network", "inspect", ids[0], "--format", "{{json .Labels}}"))
    assert labels["com.docker.compose.project"] == demo.project and labels["com.docker.compose.network"] == "ragflow"
    return name, ids[0], labels


def _duplicate(name: str, labels: dict[str, str]) -> str:
    """Create a network as a second `compose up` racing the first does: same name, same labels.
    The docker CLI refuses a second network of one name; the API (as compose uses it) does not."""
    import docker

    client = docker.from_env()
    try:
        return client.networks.create(name, driver="bridge", labels=labels, check_duplicate=False).id
    finally:
        client.close()


def _remove_networks(demo: DemoStack, ids: list[str]) -> None:
    for nid in ids:  # only the ones this test made; gone already when devenv removed them
        demo.docker("network", "rm", nid, check=False)


def test_a_duplicate_network_is_reported_and_removed_by_up(running):
    demo = running
    name, original, labels = _compose_network(demo)
    before = started_at(demo)
    made = [_duplicate(name, labels)]
    try:
        assert sorted(networks_named(demo, name)) == sorted([original, made[0]])
        doctor = demo.devenv("doctor")
        assert doctor.returncode == 1, output(doctor)
        assert f"network {name} exists 2 times" in output(doctor), output(doctor)
        up = demo.devenv("up", "--detach")
        assert up.returncode == 0, output(up)
        assert f"removed 1 empty duplicate network(s) named {name}" in output(up), output(up)
        assert networks_named(demo, name) == [original]  # the copy in use is kept
        assert started_at(demo) == before
        doctor = demo.devenv("doctor")
        assert "exists 2 times" not in output(doctor) and "no duplicate networks" in output(doctor), output(doctor)
    finally:
        _remove_networks(demo, made)


def test_two_empty_copies_of_a_network_the_oldest_is_kept_and_up_starts(running):
    """Two `up` at once before anything ran: both networks empty; compose alone fails as ambiguous."""
    demo = running
    name, _, labels = _compose_network(demo)
    assert demo.devenv("down").returncode == 0
    assert networks_named(demo, name) == []
    made = [_duplicate(name, labels)]
    time.sleep(1.1)  # the engine's creation times are what tells the copies apart
    made.append(_duplicate(name, labels))
    try:
        plain = demo.compose("up", "-d", check=False)
        assert plain.returncode != 0 and "ambiguous" in plain.stderr, plain.stderr  # what the user was stuck with
        up = demo.devenv("up", "--detach")
        assert up.returncode == 0, output(up)
        assert f"removed 1 empty duplicate network(s) named {name}" in output(up), output(up)
        assert networks_named(demo, name) == [made[0]]
        server = demo.inspect()
        assert list(server["NetworkSettings"]["Networks"]) == [name]
        assert server["NetworkSettings"]["Networks"][name]["NetworkID"] == made[0]
    finally:
        demo.cleanup()  # the containers first: a network in use cannot be removed
        _remove_networks(demo, made)


# --- item 4: two checkouts, one project name ----------------------------------------------------------------

def test_a_second_checkout_with_the_same_project_name_is_refused_and_changes_nothing(running, tmp_path):
    first = running
    root = tmp_path / "second checkout"
    shutil.copytree(DEMO, root, ignore=shutil.ignore_patterns("__pycache__", ".devenv", "ragflow-logs", "docker-compose.devenv.yml*"))
    second = DemoStack(root)
    second.project, second.env = first.project, dict(first.env)  # same COMPOSE_PROJECT_NAME (and ports)
    before = started_at(first)
    served = first.code()["mark"]
    for args in (["up"], ["up", "--detach"], ["status"], ["verify"], ["restart", "--container"], ["down"], ["plan"], ["watch"]):
        if args == ["plan"]:  # `watch` needs the override first (it refuses a missing one before asking the engine)
            assert not (root / "docker" / "docker-compose.devenv.yml").exists()  # `up` refused before writing it
            assert second.devenv("plan").returncode == 0
            continue
        started = time.monotonic()
        result = second.devenv(*args, timeout=60)
        text = output(result)
        assert result.returncode == 2, f"{args}: {text}"
        assert time.monotonic() - started < 20, args
        assert f"project '{first.project}' belongs to another checkout ({first.root})" in text, f"{args}: {text}"
        assert f"devenv -C '{first.root}' down" in text and "COMPOSE_PROJECT_NAME" in text, text
        assert "Traceback" not in text
    assert started_at(first) == before  # same containers, never restarted
    assert first.code()["mark"] == served
    assert first.devenv("status").returncode == 0  # the first checkout still owns its stack


# --- item 5: `restart` with the stack down -------------------------------------------------------------------

@pytest.mark.parametrize("args", [["restart", "--container"], ["restart"]])
def test_restart_with_the_stack_down_fails_at_once_and_up_reports_no_reload(running, args):
    demo = running
    assert demo.devenv("down").returncode == 0
    started = time.monotonic()
    result = demo.devenv(*args, timeout=60)
    took = time.monotonic() - started
    text = output(result)
    assert result.returncode == 2, text
    assert took < 8, f"{took:.1f} s"
    assert f"the ragflow-cpu container of project {demo.project} does not exist: nothing to restart" in text, text
    assert re.search(r"fix: .*devenv up", text), text
    assert running_ids(demo) == []  # nothing started by the refused restart
    up = demo.devenv("up", "--detach")
    assert up.returncode == 0, output(up)
    assert "reload ok" not in output(up) and "reload failed" not in output(up), output(up)
    st = json.loads((demo.root / ".devenv" / "state.json").read_text())
    assert not st.get("last_reload"), st.get("last_reload")
    status = json.loads(demo.devenv("status", "--json", check=True).stdout)
    assert not status.get("last_reload"), status.get("last_reload")
