"""The reloader's verification logic against a simulated container.

The engine is the recording FakeEngine; its probe agent is a small simulation of
the container's processes and files; health is a real HTTP server on loopback
whose answers follow the simulated server process.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from devenv.core import rules as R
from devenv.engine import ContainerState
from devenv.loop.reloader import Reloader
from tests.fakes import Call, FakeEngine
from tests.fixtures import make_checkout, plan_for

SERVER, EXECUTOR = "api/ragflow_server.py", "rag/svr/task_executor.py"


class SimContainer:
    """Processes and files of a container, advanced one step per probe request."""

    def __init__(self, files: dict[str, bytes], behaviour: str = "restart") -> None:
        self.files = {p: hashlib.sha256(b).hexdigest() for p, b in files.items()}
        self.behaviour = behaviour  # restart | crash | dead | ignore
        self.procs = {SERVER: (10, 100), EXECUTOR: (11, 100)}
        self.pending: dict[str, int] = {}  # script -> steps until a new process appears
        self.crashing: dict[str, int] = {}
        self.requests: list[dict] = []
        self.next_pid = 20
        self.alive = True
        self.on_reload = lambda: None  # a test's side effect while the probe compares bytes
        self.warm: dict[str, dict] = {}  # script -> how its next start went ({"mode": "warm", "fork_ms": 3})
        self.patch: dict | None = None  # the processes' answer to an in-place patch (None: nobody listens)

    def _step(self) -> None:
        for script in list(self.pending):
            self.pending[script] -= 1
            if self.pending[script] <= 0:
                del self.pending[script]
                self.procs[script] = (self.next_pid, 200 + self.next_pid)
                self.next_pid += 1
                if self.behaviour == "crash" and script == SERVER:
                    self.crashing[script] = 2
        for script in list(self.crashing):
            self.crashing[script] -= 1
            if self.crashing[script] <= 0:
                del self.crashing[script]
                self.procs.pop(script, None)
                self.pending[script] = 3  # the loop tries again a moment later

    def request(self, payload: dict, timeout: float = 10) -> dict:
        self.requests.append(payload)
        self._step()
        scripts = payload.get("scripts", [])
        listed = [{"pid": p, "script": s, "start": st} for s, (p, st) in self.procs.items() if s in scripts]
        if payload["op"] == "procs":
            return {"procs": listed}
        if payload["op"] == "ping":
            return {"pid": 1, "ticks": 100}
        if payload["op"] == "hash":
            return {"hashes": {p: self.files.get(p) for p in payload["paths"]}}
        if payload["op"] == "warm":  # the last start of each script, as warm.py notes it
            return {"parents": [], "last": {s: {"pid": p, **self.warm.get(s, {"mode": "cold", "reason": "no module list yet"})}
                                            for s, (p, _st) in self.procs.items()}}
        if payload["op"] == "patch":
            return self.patch or {"ok": False, "refused": "no api/ragflow_server.py process listens for patches"}
        if payload["op"] == "kill":  # SIGKILL: gone at once, and the loop relaunches it
            killed = []
            for target in payload["procs"]:
                for script, (pid, start) in list(self.procs.items()):
                    if (pid, start) == (target["pid"], target["start"]):
                        del self.procs[script]
                        self.pending[script] = 1
                        killed.append(pid)
            return {"killed": killed}
        self.on_reload()
        bad = [p for p, h in payload["expect"].items() if self.files.get(p) != h]
        sent = []
        if not bad or payload.get("force"):
            if self.behaviour not in ("ignore", "linger"):  # linger: takes SIGTERM but never finishes exiting
                for entry in listed:
                    del self.procs[entry["script"]]
                    if self.behaviour != "dead":
                        self.pending[entry["script"]] = 3
            sent = listed
        return {"mismatched": bad, "seen": {p: self.files.get(p) for p in bad}, "signalled": sent, "before": listed}

    @property
    def serving(self) -> bool:
        return SERVER in self.procs and SERVER not in self.crashing


@pytest.fixture
def health_server():
    state = {"sim": None}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            sim = state["sim"]
            ok = sim is not None and sim.serving
            body = (b"pong" if "ping" in self.path else b'{"db": "ok", "status": "ok"}') if ok else b"down"
            self.send_response(200 if ok else 503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def container(started: datetime | None = None) -> ContainerState:
    return ContainerState("c1", "docker-ragflow-cpu-1", "ragflow-cpu", "running", None,
                          started or datetime.now(timezone.utc) - timedelta(hours=1), 0, 0, "img")


@pytest.fixture
def setup(tmp_path, health_server):
    state, url = health_server
    root = make_checkout(tmp_path / "c", "v0.24.0")
    changed = root / "api" / "apps" / "demo.py"
    changed.parent.mkdir(parents=True, exist_ok=True)
    changed.write_text("MARK = 1\n")
    plan = replace(plan_for(root), health_url=url)

    def make(behaviour: str = "restart", container_bytes: bytes | None = None, logs: str = "", use_plan=None, kill_after=0.0):
        sim = SimContainer({"/ragflow/api/apps/demo.py": container_bytes if container_bytes is not None else changed.read_bytes()}, behaviour)
        state["sim"] = sim
        engine = FakeEngine(containers=[container()], agent=sim, logs=logs)
        reloader = Reloader(use_plan or plan, None, engine, root, reload_timeout=5, kill_after=kill_after)
        return reloader, sim, engine

    make.plan = plan
    return make, root


def test_a_signal_reload_is_verified_by_bytes_new_pid_and_health(setup):
    make, _root = setup
    reloader, sim, _engine = make()
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert report.ok, report
    assert report.details[0] == "pid 10->20"
    assert "bytes match (1 file)" in report.details and "ping ok" in report.details and "healthz ok" in report.details
    assert [r["op"] for r in sim.requests[:2]] == ["ping", "procs"]  # a live agent; what runs: only that is restarted
    first = sim.requests[2]
    assert first["op"] == "reload" and first["scripts"] == [SERVER]
    assert first["expect"] == {"/ragflow/api/apps/demo.py": hashlib.sha256(b"MARK = 1\n").hexdigest()}
    assert first["relaunch_now"] is True


def test_the_reload_line_says_whether_the_new_process_started_warm_or_cold_and_why(setup):
    make, _root = setup
    reloader, sim, _engine = make()
    sim.warm[SERVER] = {"mode": "warm", "fork_ms": 3.2}
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert "server warm (forked in 3 ms)" in report.details, report.details
    sim.warm[SERVER] = {"mode": "cold", "reason": "uv.lock changed"}
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert "server cold: uv.lock changed" in report.details and "uv.lock changed" in report.summary()


def _patching(make):
    reloader, sim, engine = make(use_plan=replace(make.plan, patch=True))
    return reloader, sim, hashlib.sha256(b"MARK = 1\n").hexdigest()


def test_with_reload_patch_a_patched_body_is_verified_by_the_hash_it_compiled_and_nothing_restarts(setup):
    make, _root = setup
    reloader, sim, digest = _patching(make)
    sim.patch = {"ok": True, "processes": [{"script": SERVER, "pid": 10, "ok": True, "files": [
        {"path": "/ragflow/api/apps/demo.py", "patched": ["code"], "sha256": digest}]}]}
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert report.ok, report
    assert report.details[:2] == ["swapped in place: server 1 function (same pid, no restart)", "bytes match (1 file)"]
    assert report.action == "patch server in place"
    assert "ping ok" in report.details and sim.procs[SERVER] == (10, 100)  # the same process
    asked = next(r for r in sim.requests if r["op"] == "patch")
    assert asked["scripts"] == [SERVER] and asked["expect"] == {"/ragflow/api/apps/demo.py": digest}
    assert not [r for r in sim.requests if r["op"] == "reload"]


@pytest.mark.parametrize("answer, why", [
    ({"ok": False, "path": "/ragflow/api/apps/demo.py", "refused": "more than function bodies changed"},
     "api/apps/demo.py: more than function bodies changed"),
    (None, "no api/ragflow_server.py process listens for patches"),
    ({"ok": True, "processes": [{"script": SERVER, "pid": 10, "ok": True, "files": [
        {"path": "/ragflow/api/apps/demo.py", "patched": ["code"], "sha256": "0" * 64}]}]},
     "api/ragflow_server.py compiled other bytes of api/apps/demo.py"),
])
def test_with_reload_patch_any_refusal_restarts_the_process_and_says_why(setup, answer, why):
    make, _root = setup
    reloader, sim, _digest = _patching(make)
    sim.patch = answer
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert report.ok, report
    assert report.details[0] == f"in-place patch refused: {why}; restarted" and report.details[1] == "pid 10->20"


def test_without_reload_patch_no_patch_is_asked(setup):
    make, _root = setup
    reloader, sim, _engine = make()
    reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert "patch" not in [r["op"] for r in sim.requests]


def test_bytes_the_container_does_not_see_fail_the_reload_and_signal_nothing(setup):
    make, _root = setup
    reloader, sim, engine = make(container_bytes=b"MARK = 0\n")
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert not report.ok and "does not see the saved bytes of api/apps/demo.py" in report.error
    assert sim.procs[SERVER] == (10, 100)  # untouched
    assert "compose_restart" not in engine.names()


def test_a_newer_save_seen_by_the_container_is_not_a_dead_mount(setup):
    make, root = setup
    reloader, sim, _engine = make()
    newer = b"MARK = 2\n"

    def save_lands_meanwhile():  # host and container move on together, after devenv hashed MARK = 1
        if len(sim.requests) == 3:
            (root / "api" / "apps" / "demo.py").write_bytes(newer)
            sim.files["/ragflow/api/apps/demo.py"] = hashlib.sha256(newer).hexdigest()
    sim.on_reload = save_lands_meanwhile
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert report.ok, report
    assert sim.requests[3]["force"] is True and sim.requests[3]["expect"]["/ragflow/api/apps/demo.py"] == hashlib.sha256(b"MARK = 2\n").hexdigest()


def test_a_crash_on_start_is_reported_with_the_traceback(setup):
    make, _root = setup
    log = ('Traceback (most recent call last):\n  File "/ragflow/api/apps/demo.py", line 3\n'
           '    def broken(:\n               ^\nSyntaxError: invalid syntax\n')
    reloader, _sim, _engine = make("crash", logs=log)
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert not report.ok
    assert report.error == "the server exited while starting: SyntaxError: invalid syntax at api/apps/demo.py:3"
    assert report.failure.location == "api/apps/demo.py:3"


def test_a_moments_blip_in_the_process_table_is_not_a_server_that_died(setup, health_server):
    """A new server hidden for one probe while a transient fork of its warm-start shim shows (seen
    on a loaded machine: "the server exited while starting" for a server that then served)."""
    make, _root = setup
    reloader, sim, _engine = make()
    state, _url = health_server
    state["sim"] = SimpleNamespace(serving=False)  # not answering yet: devenv keeps probing
    real = sim.request
    shown = []

    def blinking(payload, timeout=10):
        answer = real(payload, timeout)
        if payload["op"] == "procs" and any(p["pid"] == 20 for p in answer["procs"]) and len(shown) < 2:
            shown.append(1)
            if len(shown) == 1:  # the shim's fork, not yet exec'd, and the shim itself not listed
                answer = {"procs": [p for p in answer["procs"] if p["pid"] != 20] + [{"pid": 99, "script": SERVER, "start": 299}]}
            else:
                state["sim"] = sim  # then the shim shows again, the fork is gone, and it answers
        return answer

    sim.request = blinking
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert report.ok, report
    assert len(shown) == 2


def test_no_process_to_signal_escalates_to_a_container_restart(setup):
    make, _root = setup
    reloader, sim, engine = make("dead")
    assert reloader.poll_processes() is None  # devenv saw the server run...
    sim.procs.clear()  # ...then its loop ended: nothing runs

    def restarted(*args, **kwargs):
        engine.containers_result = [container(started=datetime.now(timezone.utc))]
        sim.procs[SERVER] = (30, 300)
    engine.compose_restart = lambda target, services, timeout=None: (engine.calls.append(("compose_restart", services)), restarted())
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert report.ok and report.escalated, report
    assert any("escalated: no running server process to restart" in d for d in report.details)


def test_stop_interrupts_a_reload_promptly(setup):
    make, _root = setup
    reloader, sim, _engine = make("dead")  # signalled, never comes back: the wait would be long
    threading.Timer(0.3, reloader.stop.set).start()
    started = time.monotonic()
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert report.interrupted and time.monotonic() - started < 3


def test_a_process_the_container_does_not_run_is_neither_signalled_nor_waited_for(setup):
    make, _root = setup
    reloader, sim, engine = make()
    admin = "admin/server/admin_server.py"
    reloader.scripts["admin"] = admin  # the release knows an admin server; this container runs none
    reloader.probe = type(reloader.probe)(engine, reloader.scripts)
    started = time.monotonic()
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server", "admin"}), ("rag/x.py",)))
    assert report.ok and not report.escalated, report
    assert "admin not running (not restarted)" in report.details
    assert all(admin not in r.get("scripts", []) for r in sim.requests if r["op"] == "reload")
    assert time.monotonic() - started < 5  # no 12 s wait for a process that never ran
    assert "compose_restart" not in engine.names()


def test_a_change_only_for_a_process_that_does_not_run_restarts_nothing(setup):
    make, _root = setup
    reloader, sim, engine = make()
    reloader.scripts["admin"] = "admin/server/admin_server.py"
    reloader.probe = type(reloader.probe)(engine, reloader.scripts)
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"admin"}), ("admin/server/x.py",)))
    assert report.ok and report.details[0] == "admin not running here: nothing to restart", report
    assert not any(r["op"] == "reload" for r in sim.requests)


def _with_loop(plan, exit_ignored: bool):
    return replace(plan, processes=tuple(replace(p, exit_ignored=exit_ignored) for p in plan.processes))


def test_an_old_process_slow_to_exit_is_killed_where_its_loop_ignores_the_exit_code(setup):
    make, _root = setup
    reloader, sim, _engine = make("linger", use_plan=_with_loop(make.plan, True), kill_after=0.2)
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert report.ok and not report.escalated, report
    assert "killed ragflow_server.py 0.2 s after SIGTERM (replaced anyway)" in report.details
    (kill,) = [r for r in sim.requests if r["op"] == "kill"]
    assert kill["procs"] == [{"pid": 10, "start": 100}]


def test_an_old_process_is_never_killed_where_a_non_zero_exit_would_end_its_loop(setup):
    make, _root = setup
    reloader, sim, _engine = make("linger", use_plan=_with_loop(make.plan, False), kill_after=0.2)
    reloader.reload_timeout = 1
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert not any(r["op"] == "kill" for r in sim.requests)
    assert not any("killed" in d for d in report.details)


def test_a_failed_uv_sync_is_said_once(setup):
    """uv writes its error to stdout and stderr, which exec merges: the reload line carried it twice."""
    make, _root = setup
    reloader, sim, engine = make()
    engine.exec_result = (2, "Resolved 12 packages in 3ms\nerror: the lockfile needs to be updated\n"
                             "error: the lockfile needs to be updated\n")
    report = reloader.run(R.Decision(R.SYNC, frozenset({"server"}), ("pyproject.toml",)))
    assert not report.ok
    assert report.error == "uv sync failed (exit 2): Resolved 12 packages in 3ms | error: the lockfile needs to be updated"
    assert report.summary().count("the lockfile needs to be updated") == 1
    assert sim.procs[SERVER] == (10, 100)  # nothing restarted


def test_an_image_without_uv_says_how_to_go_on(setup):
    make, _root = setup
    reloader, _sim, engine = make()
    engine.exec_result = (126, 'OCI runtime exec failed: exec: "uv": executable file not found in $PATH: unknown\n')
    report = reloader.run(R.Decision(R.SYNC, frozenset({"server"}), ("pyproject.toml",)))
    assert not report.ok and "the image has no uv; set reload.uv_sync = false" in report.error


@pytest.mark.parametrize("podman", [False, True])
def test_a_recreate_leaves_the_other_services_alone_on_podman(setup, podman):
    """On Podman compose takes every running container's networks for changed: a plain `compose up`
    there recreated MySQL and Elasticsearch and the server twice for one template edit."""
    make, _root = setup
    reloader, _sim, engine = make()
    engine.podman = podman

    def up(target, services=(), **kwargs):
        engine.calls.append(Call("compose_up", (target, tuple(services)), kwargs))
        engine.containers_result = [container(started=datetime.now(timezone.utc))]
    engine.compose_up = up
    report = reloader.run(R.Decision(R.RECREATE, frozenset(), ("docker/service_conf.yaml.template",)))
    assert report.ok, report
    ups = [c for c in engine.calls if c.name == "compose_up"]
    assert [c.args[1] for c in ups] == [(), ("ragflow-cpu",)]
    assert ups[0].kwargs.get("no_recreate") is podman  # the stack's changes apply on Docker; kept on Podman
    assert ups[1].kwargs["force_recreate"] and ups[1].kwargs["no_deps"]


def test_with_reload_patch_a_save_that_changes_no_function_restarts_nothing(setup):
    make, _root = setup
    reloader, sim, digest = _patching(make)
    sim.patch = {"ok": True, "processes": [{"script": SERVER, "pid": 10, "ok": True, "files": [
        {"path": "/ragflow/api/apps/demo.py", "patched": [], "sha256": digest}]}]}
    report = reloader.run(R.Decision(R.SIGNAL, frozenset({"server"}), ("api/apps/demo.py",)))
    assert report.ok and report.details[0] == "no function changed in server (comments, blank lines): nothing to restart"
    assert sim.procs[SERVER] == (10, 100)
