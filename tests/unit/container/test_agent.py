"""devenv's in-container agent, run on the host: as the container runs it (``python3 -c``,
JSON lines on stdin and stdout) against real processes, files and signals."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv.container import agent, agent_source

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the agent reads /proc (Linux)")


class Running:
    """The agent as the host starts it: ``python3 -u -c <source>``."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-u", "-c", agent_source()], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)

    def ask(self, **request) -> dict:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def running():
    a = Running()
    yield a
    a.close()


# The agent sees every process of its PID namespace: on the host that includes the real RAGFlow servers
# of any stack running on this machine (a container's processes are the host's too). A reload request
# for "api/ragflow_server.py" would SIGTERM them all, so the stand-in's script has a name of its own.
SCRIPT = f"api/devenv_agent_test_{os.getpid()}.py"


@pytest.fixture
def fake_server(tmp_path):
    """A Python process whose command line names a server script, in a restart-loop-like parent."""
    script = tmp_path / SCRIPT
    script.parent.mkdir()
    script.write_text("import time\nwhile True:\n    time.sleep(0.05)\n")
    proc = subprocess.Popen([sys.executable, SCRIPT], cwd=tmp_path)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(p["pid"] == proc.pid for p in agent.procs([SCRIPT])):
        time.sleep(0.02)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_procs_finds_a_python_process_by_its_script_and_reports_its_start_tick(fake_server):
    found = [p for p in agent.procs([SCRIPT, "rag/svr/task_executor.py"]) if p["pid"] == fake_server.pid]
    assert len(found) == 1
    assert found[0]["script"] == SCRIPT and found[0]["start"] > 0


def test_procs_ignores_scripts_it_was_not_asked_about(fake_server):
    assert all(p["pid"] != fake_server.pid for p in agent.procs(["rag/svr/task_executor.py"]))


def test_reload_waits_for_the_expected_bytes_then_sigterms_and_marks_the_parent(tmp_path, fake_server):
    changed = tmp_path / "changed.py"
    changed.write_text("old")
    want = hashlib.sha256(b"new").hexdigest()

    def save_later() -> None:
        time.sleep(0.2)
        changed.write_text("new")

    import threading

    threading.Thread(target=save_later).start()
    started = time.monotonic()
    answer = agent.reload({"expect": {str(changed): want}, "scripts": [SCRIPT], "wait_ms": 3000,
                           "relaunch_now": True})
    assert answer["mismatched"] == [] and time.monotonic() - started >= 0.2
    assert [p["pid"] for p in answer["signalled"] if p["pid"] == fake_server.pid] == [fake_server.pid]
    assert fake_server.wait(timeout=5) == -signal.SIGTERM
    marker = Path(agent.RELAUNCH_MARKER % os.getpid())  # the fake server's parent is this test process
    assert marker.exists()
    marker.unlink()


def test_reload_signals_nothing_while_the_container_still_sees_other_bytes(tmp_path, fake_server):
    stale = tmp_path / "stale.py"
    stale.write_text("old")
    answer = agent.reload({"expect": {str(stale): hashlib.sha256(b"new").hexdigest()}, "scripts": [SCRIPT],
                           "wait_ms": 50})
    assert answer["mismatched"] == [str(stale)] and answer["signalled"] == []
    assert answer["seen"][str(stale)] == hashlib.sha256(b"old").hexdigest()
    assert fake_server.poll() is None


def test_the_agent_answers_one_json_line_per_request_over_stdin(running, tmp_path):
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    assert running.ask(op="hash", paths=[str(f), str(tmp_path / "missing")]) == {
        "hashes": {str(f): hashlib.sha256(b"abc").hexdigest(), str(tmp_path / "missing"): None}}
    pong = running.ask(op="ping")
    assert pong["pid"] == running.proc.pid and pong["ticks"] > 0
    assert "unknown op" in running.ask(op="nope")["error"]


def test_a_bad_request_gets_an_error_line_and_the_agent_keeps_serving(running):
    assert running.proc.stdin and running.proc.stdout
    running.proc.stdin.write("not json\n")
    running.proc.stdin.flush()
    assert "error" in json.loads(running.proc.stdout.readline())
    assert running.ask(op="ping")["pid"] == running.proc.pid


def test_every_op_the_contract_names_is_handled():
    for op in agent.OPS:
        assert "unknown op" not in agent.handle({"op": op, "scripts": [], "paths": [], "expect": {}}).get("error", "")


def test_procs_reports_each_process_age(running, fake_server):
    time.sleep(0.3)
    found = [p for p in running.ask(op="procs", scripts=[SCRIPT])["procs"] if p["pid"] == fake_server.pid]
    assert len(found) == 1
    assert 0.2 <= found[0]["age"] < 60


def test_listening_reads_the_kernel_socket_table(running):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert running.ask(op="listening", port=port) == {"listening": False}  # bound, not listening
        s.listen()
        assert running.ask(op="listening", port=port) == {"listening": True}


def test_drop_bytecode_removes_only_the_changed_modules_pyc_next_to_it_and_under_the_prefix(tmp_path):
    import importlib.util
    import py_compile

    src = tmp_path / "pkg"
    src.mkdir()
    mod, other = src / "mod.py", src / "modx.py"
    mod.write_text("MARK = 'aa'\n")
    other.write_text("X = 1\n")
    prefix = tmp_path / "prefix"
    near = [py_compile.compile(str(f), cfile=importlib.util.cache_from_source(str(f))) for f in (mod, other)]
    under = prefix / str(src).lstrip("/") / "mod.cpython-311.opt-1.pyc"
    under.parent.mkdir(parents=True)
    under.write_bytes(b"cached")
    removed = agent.drop_bytecode([str(mod), str(tmp_path / "notes.txt")], [str(prefix)])
    assert sorted(removed) == sorted([near[0], str(under)])
    assert not Path(near[0]).exists() and not under.exists() and Path(near[1]).exists()


def test_a_same_size_same_second_save_runs_stale_bytecode_unless_dropped(tmp_path):
    """The bug this guards against, on the host's own Python: the .pyc is trusted on mtime (whole
    seconds) and size, so the second save is not seen until its .pyc is gone."""
    mod = tmp_path / "samesize.py"
    mod.write_text("MARK = 'aa'\n")
    run = [sys.executable, "-c", "import samesize; print(samesize.MARK)"]

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}

    def mark() -> str:
        return subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, check=True, env=env).stdout.strip()

    assert mark() == "aa"  # compiles and caches
    stamp = mod.stat().st_mtime_ns
    mod.write_text("MARK = 'bb'\n")
    os.utime(mod, ns=(stamp, stamp))
    assert mark() == "aa"  # stale: this is what a reload would have served
    assert agent.drop_bytecode([str(mod)], [])
    assert mark() == "bb"


def test_the_loop_log_is_read_as_it_grows_and_a_reused_pid_counts_for_its_latest_script(tmp_path):
    log = tmp_path / "loops"
    reader = agent.LoopLog(str(log))
    assert reader.answer(["a.py"]) == {}  # no log yet: nothing known
    log.write_text("L 10 a.py\nE 10 9\nL 11 a.py\nR 11 9\nL 10 b.py\nE 1")  # the last line is half-written
    assert reader.answer(["a.py", "b.py"]) == {"a.py": {"launches": 2, "exits": 2, "devenv_exits": 1},
                                               "b.py": {"launches": 1, "exits": 0, "devenv_exits": 0}}
    with log.open("a") as f:
        f.write("0 9\nE 77 9\n")  # pid 10 is b.py's now; 77 was never launched: not counted
    assert reader.answer(["b.py"]) == {"b.py": {"launches": 1, "exits": 1, "devenv_exits": 0}}


PATCHED = f"api/devenv_patch_test_{os.getpid()}.py"


@pytest.fixture
def patch_server(tmp_path, monkeypatch):
    """A process of script PATCHED that listens for patches (as warm.py makes every process it runs),
    with a module ``app`` of the checkout imported after its sources are recorded."""
    import tempfile

    sockets = Path(tempfile.mkdtemp(prefix="dvp", dir="/tmp"))  # AF_UNIX paths end at 108 bytes; tmp_path is long
    monkeypatch.setattr(agent, "PATCH_SOCKET", str(sockets / "%s.%d.sock"))
    (tmp_path / "app.py").write_text("def answer():\n    return 1\n")
    script = tmp_path / PATCHED
    script.parent.mkdir()
    patch_py = Path(agent.__file__).with_name("patch.py")
    script.write_text(f"""\
import importlib.util, sys, time
sys.dont_write_bytecode = True
spec = importlib.util.spec_from_file_location("devenv_patch", {str(patch_py)!r})
patch = importlib.util.module_from_spec(spec); spec.loader.exec_module(patch)
patch.SOCKET = {str(sockets / "%s.%d.sock")!r}
import os
if not os.environ.get("NO_LISTEN"):
    patch.install({str(tmp_path)!r}, {PATCHED!r})
sys.path.insert(0, {str(tmp_path)!r})
import app
while True:
    time.sleep(0.05)
""")
    proc = subprocess.Popen([sys.executable, PATCHED], cwd=tmp_path)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not list(sockets.glob("*.sock")):
        time.sleep(0.02)
    yield proc, tmp_path
    proc.kill()
    proc.wait()
    shutil.rmtree(sockets, ignore_errors=True)


def _expect(path: Path) -> dict:
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest()}


def test_patch_asks_every_listening_process_and_drops_the_sockets_nobody_listens_on(patch_server):
    proc, root = patch_server
    stale = Path(agent.PATCH_SOCKET % (PATCHED.replace("/", "_"), 1))  # pid 1 exists; nobody listens there
    stale.touch()
    (root / "app.py").write_text("def answer():\n    return 2\n")
    answer = agent.patch({"expect": _expect(root / "app.py"), "scripts": [PATCHED]})
    assert answer["ok"], answer
    assert [(p["pid"], p["files"][0]["patched"]) for p in answer["processes"]] == [(proc.pid, ["answer"])]
    assert not stale.exists()


def test_patch_is_refused_while_the_container_sees_other_bytes_or_a_process_of_the_script_does_not_listen(patch_server):
    proc, root = patch_server
    answer = agent.patch({"expect": {str(root / "app.py"): "0" * 64}, "scripts": [PATCHED]})
    assert not answer["ok"] and answer["mismatched"] == [str(root / "app.py")]
    cold = subprocess.Popen([sys.executable, PATCHED], cwd=root, env={**os.environ, "NO_LISTEN": "1"})  # started cold
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(agent.procs([PATCHED])) < 2:
            time.sleep(0.02)
        answer = agent.patch({"expect": _expect(root / "app.py"), "scripts": [PATCHED]})
        assert not answer["ok"] and answer["refused"] == (
            f"only 1 of 2 {PATCHED} processes listen for patches (started cold, not by the warm start)"), answer
    finally:
        cold.kill()
        cold.wait()
