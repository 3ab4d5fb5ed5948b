"""The warm start (devenv/container/warm.py), run for real on the host.

Each test builds a tiny project tree (``root/app/main.py``, RAGFlow's role) and a
third-party package outside it (``lib/fakelib.py``), then runs the shim the way a
restart loop does: ``python3 warm.py app/main.py ...`` with the project as cwd.
Import logs written by the modules themselves prove who imported what.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv.container import agent, warm

WARM = Path(warm.__file__)
pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")

MAIN = """\
import os, signal, sys, time
import fakelib
import app.util
def bye(sig, frame):
    os.write(1, b"bye %d\\n" % sig)
    sys.exit(3)
signal.signal(signal.SIGTERM, bye)
print("ready", os.getpid(), flush=True)
mode = sys.argv[1] if len(sys.argv) > 1 else "serve"
if mode.startswith("exit"):
    sys.exit(int(mode[4:]))
if mode == "killself":
    os.kill(os.getpid(), signal.SIGKILL)
if mode == "raise":
    raise RuntimeError("boom at start")
while True:
    time.sleep(0.05)
"""
LOGGED = "import os\nwith open(os.environ['IMPORT_LOG'], 'a') as f:\n    f.write('{name} %d\\n' % os.getpid())\n"


class Tree:
    """The fake project, its environment and helpers to run shims in it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "root"
        self.lib = tmp / "lib"
        (self.root / "app").mkdir(parents=True)
        self.lib.mkdir()
        (self.root / "app" / "__init__.py").write_text("")
        (self.root / "app" / "main.py").write_text(MAIN)
        (self.root / "app" / "util.py").write_text(LOGGED.format(name="app.util"))
        (self.root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
        (self.lib / "fakelib.py").write_text(LOGGED.format(name="fakelib"))
        self.run_dir, self.state_dir, self.log = tmp / "run", tmp / "state", tmp / "imports.log"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": f"{self.lib}:{self.root}",
            "DEVENV_WARM_RUN": str(self.run_dir), "DEVENV_WARM_STATE": str(self.state_dir),
            "IMPORT_LOG": str(self.log), "PYTHONDONTWRITEBYTECODE": "1", "DEVENV_WARM_RECORD_INTERVAL": "0.1", "DEVENV_WARM_DELAY": "0",
        }
        self.started: list[subprocess.Popen] = []

    def modules(self, names: list[str], **extra) -> None:
        self.state_dir.mkdir(exist_ok=True)
        data = {"executable": sys.executable, "modules": names, "at": time.time(), **extra}
        (self.state_dir / "modules-app_main.py.json").write_text(json.dumps(data))

    def shim(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        p = subprocess.Popen([sys.executable, str(WARM), "app/main.py", *args], cwd=self.root, env={**self.env, **(env or {})},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.started.append(p)
        return p

    def ready(self, p: subprocess.Popen) -> int:
        line = p.stdout.readline()
        assert line.startswith("ready"), (line, p.stderr.read() if p.poll() is not None else "")
        return int(line.split()[1])

    def last(self) -> dict:
        """The last start's note, once it is the latest shim's (it writes it as its child starts)."""
        pid = self.started[-1].pid if self.started else None
        deadline = time.monotonic() + 3
        while True:
            try:
                data = json.loads((self.run_dir / "last-app_main.py.json").read_text())
            except (OSError, ValueError):
                data = {}
            if data.get("pid") == pid or time.monotonic() > deadline:
                return data
            time.sleep(0.02)

    def parent(self, state: str = "ready", timeout: float = 20) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for f in self.run_dir.glob("parent-*.json"):
                data = json.loads(f.read_text())
                if data.get("state") == state:
                    return data
            time.sleep(0.05)
        raise AssertionError(f"no parent in state {state}: {[f.read_text() for f in self.run_dir.glob('parent-*')]}")

    def imports(self) -> list[tuple[str, int]]:
        if not self.log.exists():
            return []
        return [(n, int(p)) for n, p in (line.split() for line in self.log.read_text().splitlines())]

    def warm_up(self) -> dict:
        """Modules known, parent started by a first (cold) start and ready."""
        self.modules(["fakelib", "app.util", "json"])
        first = self.shim()
        self.ready(first)
        assert self.last()["mode"] == "cold" and "starting" in self.last()["reason"]
        stop(first)
        return self.parent()

    def close(self) -> None:
        for p in self.started:
            if p.poll() is None:
                p.kill()
                p.wait()
        for f in self.run_dir.glob("parent-*.json") if self.run_dir.exists() else []:
            pid = json.loads(f.read_text()).get("pid")
            if pid and warm._is_parent(pid, json.loads(f.read_text())["key"]):
                os.kill(pid, signal.SIGKILL)


def stop(p: subprocess.Popen, sig: int = signal.SIGTERM) -> int:
    p.send_signal(sig)
    return p.wait(timeout=30)  # a hang still fails; 10 s was once too short on a loaded CI machine


def children_of(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def zombies_of(pid: int) -> list[int]:
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[0] == "Z" and int(stat[1]) == pid:
                found.append(int(d.name))
    return found


@pytest.fixture
def tree(tmp_path):
    t = Tree(tmp_path)
    yield t
    t.close()


def test_the_fast_path_forks_a_child_that_imports_only_the_project_fresh(tree):
    parent = tree.warm_up()
    p = tree.shim()
    child = tree.ready(p)
    last = tree.last()
    assert last["mode"] == "warm", (last, parent, {f.name: f.read_text()[:300] for f in tree.run_dir.iterdir()})
    assert last["child"] == child and last["pid"] == p.pid
    assert child != p.pid and child in children_of(parent["pid"])
    imports = tree.imports()
    # fakelib: imported by the cold start and once by the parent, never by the warm child;
    # app.util (the project's own) never by the parent, fresh in the warm child.
    assert ("fakelib", parent["pid"]) in imports and ("fakelib", child) not in imports
    assert ("app.util", parent["pid"]) not in imports and ("app.util", child) in imports
    code = stop(p)
    out, err = p.communicate()
    assert code == 3, err  # the script's own SIGTERM handler ran and its exit code came back
    assert "bye 15" in out


def test_the_parent_keeps_the_project_out_even_when_listed(tree):
    parent = tree.warm_up()
    assert parent["preloaded"] >= 1
    assert all(pid != parent["pid"] for name, pid in tree.imports() if name == "app.util")


@pytest.mark.parametrize("mode,code", [("exit7", 7), ("exit0", 0), ("killself", 128 + signal.SIGKILL), ("raise", 1)])
def test_exit_codes_come_back_as_the_loop_would_see_them(tree, mode, code):
    tree.warm_up()
    p = tree.shim(mode)
    tree.ready(p)
    assert p.wait(timeout=10) == code
    assert tree.last()["mode"] == "warm"
    if mode == "raise":
        assert "RuntimeError: boom at start" in p.stderr.read()


def test_signals_are_relayed_to_the_child(tree):
    tree.warm_up()
    p = tree.shim()
    child = tree.ready(p)
    p.send_signal(signal.SIGINT)  # unhandled: KeyboardInterrupt, python dies of SIGINT, the loop sees 130
    assert p.wait(timeout=10) == 128 + signal.SIGINT
    assert not warm._alive(child)


def test_a_replacement_by_devenv_kills_the_child_at_once_and_exits_0(tree):
    tree.warm_up()
    p = tree.shim()
    child = tree.ready(p)
    Path(warm.REPLACE_MARKER % p.pid).touch()
    started = time.monotonic()
    assert stop(p) == 0
    assert time.monotonic() - started < 2
    assert not warm._alive(child)
    assert "bye" not in p.stdout.read()  # SIGKILL: the slow shutdown handler never ran
    assert not Path(warm.REPLACE_MARKER % p.pid).exists()


def test_no_module_list_runs_cold_and_learns_one(tree):
    p = tree.shim()
    tree.ready(p)
    assert tree.last()["mode"] == "cold" and "no module list" in tree.last()["reason"]
    listing = tree.state_dir / "modules-app_main.py.json"
    deadline = time.monotonic() + 10
    while not listing.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    names = json.loads(listing.read_text())["modules"]
    assert "fakelib" in names and "app.util" not in names and "app" not in names
    stop(p)
    assert not list(tree.run_dir.glob("parent-*.json"))  # learning starts no parent


def test_a_changed_pyproject_falls_back_cold_and_the_parent_leaves(tree):
    parent = tree.warm_up()
    time.sleep(0.01)
    (tree.root / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    p = tree.shim()
    tree.ready(p)
    assert tree.last() == {**tree.last(), "mode": "cold", "reason": "pyproject.toml changed"}
    stop(p)
    tree.parent("exited")
    assert not warm._alive(parent["pid"]) or not warm._is_parent(parent["pid"], parent["key"])


def test_a_changed_third_party_file_falls_back_cold(tree):
    tree.warm_up()
    (tree.lib / "fakelib.py").write_text(LOGGED.format(name="fakelib") + "# edited\n")
    p = tree.shim()
    tree.ready(p)
    assert tree.last()["mode"] == "cold" and tree.last()["reason"].endswith("fakelib.py changed")
    stop(p)
    tree.parent("exited")
    # The next start brings up a new parent with the new file, then the one after is warm again.
    q = tree.shim()
    tree.ready(q)
    stop(q)
    tree.parent()
    r = tree.shim()
    tree.ready(r)
    assert tree.last()["mode"] == "warm", tree.last()
    stop(r)


def test_a_third_party_module_that_pulls_in_the_project_is_refused_and_denied(tree):
    (tree.lib / "sneaky.py").write_text("import app.util\n")
    tree.modules(["sneaky"])
    first = tree.shim()
    tree.ready(first)
    stop(first)
    refused = tree.parent("refused")
    assert "sneaky" in refused["reason"] and "app" in refused["reason"]
    listing = json.loads((tree.state_dir / "modules-app_main.py.json").read_text())
    assert listing["deny"] == ["sneaky"]
    p = tree.shim()
    tree.ready(p)
    assert tree.last()["mode"] == "cold"
    stop(p)


def test_an_installed_package_named_like_a_project_folder_is_third_party(tree):
    # RAGFlow has an mcp/ folder (no __init__.py) and imports the installed mcp package.
    (tree.root / "shadow").mkdir()
    (tree.root / "shadow" / "server.py").write_text("")
    (tree.lib / "shadow").mkdir()
    (tree.lib / "shadow" / "__init__.py").write_text(LOGGED.format(name="shadow"))
    tree.modules(["shadow", "fakelib"])
    first = tree.shim()
    tree.ready(first)
    stop(first)
    parent = tree.parent()
    assert parent["preloaded"] == 2 and ("shadow", parent["pid"]) in tree.imports()


def test_builtin_and_frozen_modules_are_never_the_projects(tree):
    own = warm.OwnTree(str(tree.root))
    assert not own.is_own("_string") and not own.is_own("sys") and not own.is_own("zipimport")
    (tree.root / "app" / "x.py").write_text("")
    assert own.is_own("app.x") and own.is_own("app")
    # Cython registers a module no finder knows (_cython_3_x); asked before and after it appears
    assert not own.top_is_own("_made_up_by_an_import")
    sys.modules["_made_up_by_an_import"] = type(sys)("_made_up_by_an_import")
    try:
        assert not own.is_own("_made_up_by_an_import")
    finally:
        del sys.modules["_made_up_by_an_import"]


def test_threads_in_the_parent_after_preloading_refuse_the_fork(tree):
    (tree.lib / "pool.py").write_text("import threading, time\nthreading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    tree.modules(["pool", "fakelib"])
    first = tree.shim()
    tree.ready(first)
    stop(first)
    refused = tree.parent("refused")
    assert refused["reason"].startswith("threads after preloading")
    p = tree.shim()
    tree.ready(p)
    assert tree.last()["mode"] == "cold" and "threads" in tree.last()["reason"]
    stop(p)


POOL = """\
import os, threading
_go = threading.Event()
_threads = []
def _start():
    t = threading.Thread(target=_go.wait, daemon=True)
    t.start()
    _threads.append(t)
def _stop():  # what OpenBLAS does in its pthread_atfork handler: no pool thread crosses a fork
    _go.set()
    for t in _threads:
        t.join()
    _threads.clear()
    _go.clear()
os.register_at_fork(before=_stop)
_start()
"""


def test_a_pool_that_stops_its_threads_at_fork_is_allowed(tree):
    (tree.lib / "pool.py").write_text(POOL)
    tree.modules(["pool", "fakelib"])
    first = tree.shim()
    tree.ready(first)
    stop(first)
    parent = tree.parent()
    assert parent["pools_stopped_at_fork"] == 1
    p = tree.shim()
    tree.ready(p)
    assert tree.last()["mode"] == "warm", (tree.last(), p.stderr.read() if stop(p) is not None else "",
                                           {f.name: f.read_text()[:300] for f in tree.run_dir.iterdir()})
    stop(p)


def test_the_off_switch_and_a_broken_parent_fall_back_cold(tree):
    tree.warm_up()
    p = tree.shim(env={"DEVENV_WARM": "0"})
    tree.ready(p)
    assert tree.last()["mode"] == "cold" and "off" in tree.last()["reason"]
    stop(p)
    (tree.state_dir / "off").touch()  # the host's switch, read at each start
    p = tree.shim()
    tree.ready(p)
    assert tree.last()["reason"] == "warm start is off (.devenv/warm/off)"
    stop(p)
    (tree.state_dir / "off").unlink()
    # A socket that answers nothing: the fast path fails, the start does not.
    sock = next(tree.run_dir.glob("*.sock"))
    sock.unlink()
    import socket as s
    dummy = s.socket(s.AF_UNIX, s.SOCK_STREAM)
    dummy.bind(str(sock))
    dummy.listen(1)
    q = tree.shim()
    conn, _ = dummy.accept()
    conn.close()
    tree.ready(q)
    assert tree.last()["mode"] == "cold" and "closed the connection" in tree.last()["reason"]
    stop(q)
    dummy.close()


def test_twenty_replacements_leave_no_zombie_and_no_orphan(tree):
    parent = tree.warm_up()
    children = []
    for _ in range(20):
        p = tree.shim()
        children.append(tree.ready(p))
        Path(warm.REPLACE_MARKER % p.pid).touch()
        assert stop(p) == 0
    assert tree.last()["mode"] == "warm"
    deadline = time.monotonic() + 2
    while children_of(parent["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children_of(parent["pid"]) == [] and zombies_of(parent["pid"]) == []
    assert not any(warm._alive(c) for c in children)
    assert json.loads(next(tree.run_dir.glob("parent-*.json")).read_text())["hits"] == 20


def test_a_shim_killed_outright_takes_its_child_with_it(tree):
    parent = tree.warm_up()
    p = tree.shim()
    child = tree.ready(p)
    stop(p, signal.SIGKILL)
    deadline = time.monotonic() + 3
    while (warm._alive(child) or zombies_of(parent["pid"])) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not warm._alive(child) and zombies_of(parent["pid"]) == []


def test_a_grown_module_list_brings_a_successor_without_a_cold_start(tree):
    first = tree.warm_up()
    tree.modules(["fakelib", "app.util", "json", "decimal"])  # what a child recorded since
    starts = []
    for _ in range(8):
        p = tree.shim()
        tree.ready(p)
        starts.append((tree.last()["mode"], tree.last().get("parent")))
        Path(warm.REPLACE_MARKER % p.pid).touch()
        stop(p)
        time.sleep(0.3)
    assert all(mode == "warm" for mode, _ in starts), starts
    parents = {parent for _, parent in starts}
    assert first["pid"] in parents and len(parents) == 2  # the successor took over
    assert not warm._is_parent(first["pid"], first["key"])  # and the old one left


def test_status_reports_parents_with_their_memory(tree):
    parent = tree.warm_up()
    out = subprocess.run([sys.executable, str(WARM), "--status"], env=tree.env, capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    [p] = data["parents"]
    assert p["pid"] == parent["pid"] and p["alive"] and p["rss_kb"] > 1000
    assert data["last"]["app/main.py"]["mode"] == "cold"


def test_the_agent_and_the_shim_agree_on_the_replace_marker():
    assert agent.REPLACE_MARKER == warm.REPLACE_MARKER
