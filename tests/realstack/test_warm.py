"""Warm reloads on RAGFlow v0.22.0's real code: the fast path used and verified, its fallbacks,
a bad save, and no zombie or orphan after 20 reloads.

One stack for the module (the real tier's ``real`` fixture: a copy of the kit's checkout with
its own project and ports). Every claim is read back from the container: ``warm.py --status``,
/proc, and the HTTP answers.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.e2e.conftest import atomic_save
from tests.realstack.conftest import RELOAD_TIMEOUT, START_TIMEOUT, RealStack, process_pids

pytestmark = pytest.mark.realstack

SERVER = "api/ragflow_server.py"
PARENT_READY = 240  # seconds: a parent waits 10 s, then preloads ~1700 modules beside a running stack


@pytest.fixture(scope="module")
def up(real: RealStack):
    watch = real.start_watch("up")
    watch.wait_for("ready:", timeout=START_TIMEOUT)
    yield real, watch
    watch.stop()
    real.devenv("down", timeout=120)


def status(real: RealStack) -> dict:
    return json.loads(real.exec("python3", "/devenv-hooks/warm.py", "--status"))


def server_parent(real: RealStack) -> dict | None:
    return next((p for p in status(real)["parents"] if p["script"] == SERVER and p["alive"]), None)


def edit(real: RealStack, watch, body: str) -> str:
    """Make ping answer ``body``; returns devenv's reload line once the new code is served."""
    mark = watch.mark()
    real.set_ping(body)
    real.wait_ping_body(body)
    return watch.wait_for("reload ok:", after=mark, timeout=RELOAD_TIMEOUT)


def until_warm(real: RealStack, watch, tag: str) -> str:
    """Edits until the server's parent is ready and a reload forks from it (the first ones start cold)."""
    deadline = time.monotonic() + PARENT_READY
    n = 0
    while time.monotonic() < deadline:
        n += 1
        line = edit(real, watch, f"pong-{tag}-{n}")
        if "server warm (forked" in line:
            return line
        while time.monotonic() < deadline and (server_parent(real) or {}).get("state") != "ready":
            time.sleep(2)
    raise AssertionError(f"no warm reload within {PARENT_READY} s: {status(real)}")


def procs(real: RealStack) -> list[dict]:
    """Every process in the container: pid, ppid, state, argv."""
    out = real.exec("sh", "-c", "for p in /proc/[0-9]*; do echo \"$(basename $p)|$(cut -d' ' -f3,4 $p/stat 2>/dev/null)|"
                                "$(tr '\\0\\n' '  ' < $p/cmdline 2>/dev/null)\"; done")
    found = []
    for line in out.splitlines():
        if line.count("|") < 2:
            continue
        pid, stat, argv = line.split("|", 2)
        if stat.strip():
            state, ppid = stat.split()
            found.append({"pid": int(pid), "ppid": int(ppid), "state": state, "argv": argv.split()})
    return found


def test_an_api_apps_edit_forks_from_the_warm_parent_and_serves_fresh_code(up):
    real, watch = up
    line = until_warm(real, watch, "warm")
    assert "escalated" not in line, line
    parent = server_parent(real)
    last = status(real)["last"][SERVER]
    assert last["mode"] == "warm" and last["parent"] == parent["pid"] and parent["rss_kb"] > 100_000
    table = {p["pid"]: p for p in procs(real)}
    child = table[last["child"]]
    # the loop waits for the shim (the pid devenv reports); the server is the parent's fork
    assert process_pids(real)[SERVER] == last["pid"] and child["ppid"] == parent["pid"]
    assert table[last["pid"]]["argv"][1:3] == ["/devenv-hooks/warm.py", SERVER]
    # the parent never loaded a C extension or file of RAGFlow's tree (its .venv aside)
    maps = real.exec("cat", f"/proc/{parent['pid']}/maps")
    own = [m for m in maps.split() if m.startswith("/ragflow/") and not m.startswith("/ragflow/.venv/")]
    assert own == [], own
    # the status line reports the parent and its memory
    assert any(p.get("script") == SERVER and p.get("rss_kb") for p in json.loads(real.devenv("status", "--json", check=True).stdout)["warm"])


def test_a_pyproject_change_falls_back_cold_and_says_so(up):
    real, watch = up
    real.exec("touch", "/ragflow/pyproject.toml")  # what `uv sync` after a dependency change does to the parent's view
    line = edit(real, watch, "pong-after-pyproject")
    assert "server cold: pyproject.toml changed" in line, line
    assert "escalated" not in line, line


def test_a_bad_save_is_reported_once_and_the_next_good_save_recovers_warm(up):
    real, watch = up
    until_warm(real, watch, "again")
    path = real.root / "api" / "apps" / "system_app.py"
    good = path.read_text()
    mark = watch.mark()
    atomic_save(path, good.replace(", 200", ", 200 +", 1))  # a syntax error at module level
    failed = watch.wait_for("reload failed:", after=mark, timeout=RELOAD_TIMEOUT)
    assert "SyntaxError" in failed and "api/apps/system_app.py" in failed, failed
    time.sleep(8)  # the loop relaunches the broken server (forked each time) meanwhile
    assert watch.count("reload failed:", after=mark) == 1, watch.lines[mark:]
    mark = watch.mark()
    atomic_save(path, good.replace("\nimport ", "\nimport no_such_module_devenv\nimport ", 1))  # an import error
    failed = watch.wait_for("reload failed:", after=mark, timeout=RELOAD_TIMEOUT)
    assert "no_such_module_devenv" in failed, failed
    mark = watch.mark()
    atomic_save(path, good)  # the good code back, with a ping body of its own
    real.set_ping("pong-recovered")
    real.wait_ping_body("pong-recovered")
    line = watch.wait_for("reload ok:", after=mark, timeout=RELOAD_TIMEOUT)
    assert "server warm (forked" in line, line  # the parent outlived the broken children


def test_twenty_warm_reloads_leave_no_zombie_and_no_orphan(up):
    real, watch = up
    until_warm(real, watch, "before20")
    lines = [edit(real, watch, f"pong-20-{i}") for i in range(20)]
    assert sum("server warm (forked" in line for line in lines) >= 19, lines  # one may make way for a grown module list
    time.sleep(2)
    table = procs(real)
    assert [p for p in table if p["state"] == "Z"] == []
    serving = [p for p in table if "--serve" in p["argv"] and SERVER in p["argv"]]  # its children keep its cmdline
    parents = [p for p in serving if p["ppid"] not in {q["pid"] for q in serving}]
    assert len(parents) == 1, parents  # one per process kind
    children = [p for p in table if p["ppid"] == parents[0]["pid"]]
    shims = [p for p in table if p["argv"][1:3] == ["/devenv-hooks/warm.py", SERVER]]
    # exactly one server: the shim the loop waits for and its one child; no child without a shim
    assert len(shims) == 1 and len(children) == 1, (shims, children)
    assert status(real)["last"][SERVER]["child"] == children[0]["pid"]
    assert real.ping() == "pong-20-19"


def test_with_reload_patch_a_body_edit_is_swapped_into_the_running_server_and_anything_more_restarts(up):
    real, watch = up
    settings = real.root / "devenv.toml"
    kit = settings.read_text()  # the kit's own settings (its compose files) stay
    assert "[reload]" not in kit
    mark = watch.mark()
    atomic_save(settings, kit + "\n[reload]\npatch = true\n")
    assert "settings applied" in watch.wait_for("reload ok:", after=mark, timeout=60)  # no recreate: the parents stay
    try:
        # A server the warm start forked listens for patches; one started cold is restarted (warm) first.
        deadline = time.monotonic() + PARENT_READY
        n, line = 0, ""
        while "swapped in place" not in line:
            assert time.monotonic() < deadline, f"never patched in place: {line}"
            n += 1
            pid = process_pids(real)[SERVER]
            line = edit(real, watch, f"pong-patched-{n}")
            assert "in-place patch refused" in line or "swapped in place" in line, line
        assert "-> patch server in place" in line and "swapped in place: server 1 function (same pid, no restart)" in line, line
        assert process_pids(real)[SERVER] == pid  # the same process serves the new body
        # A module-level change cannot be patched: the server restarts, saying why.
        path = real.root / "api" / "apps" / "system_app.py"
        mark = watch.mark()
        atomic_save(path, path.read_text() + "\nDEVENV_PATCH_PROBE = 1\n")
        line = watch.wait_for("reload ok:", after=mark, timeout=RELOAD_TIMEOUT)
        assert "in-place patch refused: api/apps/system_app.py: more than function bodies changed" in line, line
        assert "; restarted; pid " in line and process_pids(real)[SERVER] != pid, line
    finally:
        mark = watch.mark()
        atomic_save(settings, kit)
        watch.wait_for("reload ok:", after=mark, timeout=60)
