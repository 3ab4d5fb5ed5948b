"""Faults while `devenv up` watches, on a real engine. After each one devenv is still watching
(a later save still reloads) and the stack ends up serving the last save. And nothing is lost:
caches survive, the checkout stays clean, a hand-edited override is never overwritten."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devenv.loop.session import IDLE_CHECK

from .conftest import Watch, atomic_save

pytestmark = pytest.mark.engine

SERVER = "ragflow-cpu"


@pytest.fixture
def watching(demo):
    watch = demo.start_watch("up")
    watch.wait_for("ready:", timeout=180)
    return demo, watch


def save_and_reload(demo, watch: Watch, mark: str, timeout: float = 60) -> str:
    """Save a new MARK, wait for devenv's reload line and for the server to serve it."""
    at = watch.mark()
    demo.set_mark(mark)
    line = watch.wait_for("reload ok:", after=at, timeout=timeout)
    demo.wait_mark(mark, timeout=10)
    return line


def wait_until(what: str, check, timeout: float, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = check()
        except OSError:  # connection refused/reset while a container starts
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(interval)


def pinged(demo) -> bool:
    return demo.get("/v1/system/ping") == (200, "pong")


def server_containers(demo) -> list[str]:
    return demo.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={demo.project}",
                       "--filter", f"label=com.docker.compose.service={SERVER}").split()


# --- the server container killed from outside ---------------------------------------------------

def test_a_killed_server_container_is_brought_back_and_the_next_save_reloads(watching):
    demo, watch = watching
    save_and_reload(demo, watch, "before-kill")  # devenv's probe now runs in this container
    at = watch.mark()
    killed_at = time.monotonic()
    demo.docker("kill", demo.container())
    warning = watch.wait_for(f"warning: the {SERVER} container is exited", after=at, timeout=30)
    wait_until("the server answering again", lambda: pinged(demo), timeout=90, interval=0.05)
    back = time.monotonic() - killed_at
    started = watch.wait_for("reload ok:", after=at, timeout=30)
    assert "start the container" in started and "ping ok" in started, started
    assert "(manual)" not in started and f"the {SERVER} container is exited" in started, started  # says what caused it
    assert demo.inspect()["State"]["Running"] is True
    print(f"docker kill to the server answering again: {back:.2f} s ({warning})")

    # Still watching, and the probe that died with the container does not cost the next save.
    save_and_reload(demo, watch, "after-kill")
    assert watch.proc.poll() is None


# --- a dependency that flaps: healthz says so, ping does not --------------------------------------

def test_a_database_that_goes_away_shows_in_healthz_and_recovers(watching):
    demo, watch = watching
    mysql = demo.container("mysql")
    demo.docker("stop", "-t", "1", mysql)
    wait_until("healthz reporting the database down", lambda: demo.get("/v1/system/healthz")[0] == 500, timeout=30)

    line = save_and_reload(demo, watch, "db-down")
    assert "ping ok" in line and "healthz 500" in line and "db: nok" in line, line

    demo.docker("start", mysql)
    wait_until("mysql healthy again",
               lambda: (demo.inspect("mysql")["State"].get("Health") or {}).get("Status") == "healthy", timeout=90, interval=0.5)
    wait_until("healthz ok again", lambda: demo.get("/v1/system/healthz")[0] == 200, timeout=30)

    line = save_and_reload(demo, watch, "db-back")
    assert "ping ok" in line and "healthz ok" in line, line
    assert watch.proc.poll() is None


# --- a compose file broken mid-watch ----------------------------------------------------------------

def test_a_compose_file_broken_mid_watch_is_reported_and_a_fix_recreates(watching):
    demo, watch = watching
    compose = demo.root / "docker" / "docker-compose.yml"
    good = compose.read_text()
    container = demo.container()

    at = watch.mark()
    atomic_save(compose, good + "  broken: [\n")
    failed = watch.wait_for("reload failed:", after=at, timeout=60)
    assert "the compose files do not load" in failed and "yaml: line" in failed, failed
    # Nothing was torn down: the old container still serves.
    assert demo.container() == container and pinged(demo)
    time.sleep(3)  # no retry loop on a broken file: one report until the next save
    assert watch.count("reload failed:", after=at) == 1 and watch.proc.poll() is None

    at = watch.mark()
    atomic_save(compose, good)
    fixed = watch.wait_for("reload ok:", after=at, timeout=120)
    assert "recreate" in fixed, fixed
    assert demo.container() != container and len(server_containers(demo)) == 1
    save_and_reload(demo, watch, "after-compose-fix")


# --- Ctrl-C in the middle of a recreate -------------------------------------------------------------

def test_ctrl_c_during_a_recreate_leaves_the_new_container_running_and_healthy(demo):
    # Its own session, so the SIGINT can go to the whole process group as a terminal's Ctrl-C does
    # (compose children included, unless devenv shields them).
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "-C", str(demo.root), "up"], env=demo.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    watch = Watch(proc)
    demo._watches.append(watch)  # the harness stops it if the test fails
    watch.wait_for("ready:", timeout=180)
    old = demo.container()

    template = demo.root / "docker" / "service_conf.yaml.template"
    at = watch.mark()
    atomic_save(template, template.read_text() + "\n# edited before a Ctrl-C\n")
    watch.wait_for("change:", after=at, timeout=30)
    started = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=120)
    seconds = time.monotonic() - started
    watch._reader.join(timeout=5)
    assert proc.returncode == 0 and watch.count("info: stopped watching", after=at) == 1, watch.lines[at:]
    print(f"Ctrl-C during a recreate: devenv exited after {seconds:.2f} s")

    # Nothing half-done: one server container, running, answering, with the dev override in effect.
    assert len(server_containers(demo)) == 1, demo.docker("ps", "-a")
    info = demo.inspect()
    assert info["State"]["Running"] is True and info["HostConfig"]["Init"] is True
    assert any(m["Destination"] == "/ragflow/api" and m["Source"] == str(demo.root / "api") for m in info["Mounts"])
    wait_until("the server answering after the interrupted recreate", lambda: pinged(demo), timeout=90)
    wait_until("healthz ok", lambda: demo.get("/v1/system/healthz")[0] == 200, timeout=30)
    # The recreate under way was let finish (devenv shields compose from the Ctrl-C).
    assert demo.container() != old, "\n".join(watch.lines[at:])
    assert "# edited before a Ctrl-C" in demo.exec("cat", "/ragflow/conf/service_conf.yaml")
    state = json.loads((demo.root / ".devenv" / "state.json").read_text())
    assert state.get("watch_pid") is None


# --- the engine restarted (opt-in: it stops every container on the machine) ------------------------

def _dockerd_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-x", "dockerd"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _start_dockerd() -> None:
    """As scripts/provision.sh does: clear a stale pid file, start dockerd in the background."""
    Path("/var/run/docker.pid").unlink(missing_ok=True)
    if subprocess.run(["pgrep", "-x", "containerd"], capture_output=True).returncode != 0:
        Path("/run/containerd/containerd.pid").unlink(missing_ok=True)
    log_dir = Path(os.environ.get("DEVENV_PROVISION_DIR", "/var/tmp/devenv-provision"))
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "dockerd.log", "ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.skipif(os.environ.get("DEVENV_TEST_ENGINE_RESTART") != "1",
                    reason="restarts dockerd, which stops every container on the machine: set DEVENV_TEST_ENGINE_RESTART=1")
def test_the_engine_restarting_under_a_watch(watching):
    demo, watch = watching
    pids = _dockerd_pids()
    if len(pids) != 1 or os.geteuid() != 0:
        pytest.skip(f"needs root and exactly one dockerd (found {pids})")
    save_and_reload(demo, watch, "before-engine-restart")
    at = watch.mark()
    stopped_at = time.monotonic()
    os.kill(pids[0], signal.SIGTERM)
    try:
        wait_until("dockerd exiting", lambda: not _dockerd_pids(), timeout=90, interval=0.5)
        gone = watch.wait_for("warning: cannot reach the Docker engine", after=at, timeout=60)
        assert "devenv keeps watching and retries" in gone, gone
        assert watch.proc.poll() is None
    finally:
        if not _dockerd_pids():
            _start_dockerd()
        wait_until("docker info answering", lambda: subprocess.run(["docker", "info"], capture_output=True).returncode == 0,
                   timeout=120, interval=1)
    watch.wait_for("info: the Docker engine is back", after=at, timeout=60)
    wait_until("the server answering after the engine restart", lambda: pinged(demo), timeout=120, interval=0.5)
    print(f"engine stopped to the server answering again: {time.monotonic() - stopped_at:.1f} s")
    print("\n".join(line for line in watch.lines[at:] if line.startswith("[devenv]")))
    save_and_reload(demo, watch, "after-engine-restart", timeout=120)
    assert watch.proc.poll() is None


# --- nothing lost ---------------------------------------------------------------------------------

def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout


def test_a_full_cycle_leaves_the_checkout_clean_and_caches_survive(demo):
    root = demo.root
    # .devenv must ignore itself, without the demo's .gitignore helping.
    gitignore = root / ".gitignore"
    gitignore.write_text("".join(line for line in gitignore.read_text().splitlines(True) if line.strip() != ".devenv/"))
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=devenv tests", "-c", "user.email=tests@devenv.invalid", "commit", "-q", "-m", "demo")
    assert _git(root, "status", "--porcelain") == ""

    watch = demo.start_watch("up")
    watch.wait_for("ready:", timeout=180)
    demo.exec("sh", "-c", "echo survived > /root/.cache/uv/probe-full-cycle")
    app = root / "api" / "apps" / "demo_app.py"
    original = app.read_text()
    save_and_reload(demo, watch, "cycle")

    # A recreate from the watch (not `up --recreate`): the new container sees what the old one cached.
    template = root / "docker" / "service_conf.yaml.template"
    template_text = template.read_text()
    first = demo.container()
    at = watch.mark()
    atomic_save(template, template_text + "\n# cycle\n")
    assert "recreate" in watch.wait_for("reload ok:", after=at, timeout=120)
    assert demo.container() != first
    assert demo.exec("cat", "/root/.cache/uv/probe-full-cycle") == "survived\n"

    # Put the checkout back as committed; devenv reloads that too.
    at = watch.mark()
    atomic_save(template, template_text)
    watch.wait_for("reload ok:", after=at, timeout=120)
    at = watch.mark()
    atomic_save(app, original)
    watch.wait_for("reload ok:", after=at, timeout=60)
    demo.wait_mark("demo-initial", timeout=10)
    watch.interrupt()
    demo.devenv("down", check=True)

    assert (root / ".devenv" / "cache" / "uv" / "probe-full-cycle").read_text() == "survived\n"
    assert (root / "docker" / "ragflow-logs").is_dir() and (root / ".devenv" / "state.json").is_file()
    assert _git(root, "status", "--porcelain") == "?? docker/docker-compose.devenv.yml\n"

    # A hand-edited override is refused, byte for byte unchanged, and nothing starts.
    override = root / "docker" / "docker-compose.devenv.yml"
    generated = override.read_bytes()
    edited = generated.replace(b"stop_grace_period: 2s", b"stop_grace_period: 5s")
    assert edited != generated
    override.write_bytes(edited)
    refused = demo.devenv("up", "--detach")
    assert refused.returncode == 2, refused
    assert "was edited by hand since devenv wrote it; devenv will not overwrite it" in refused.stderr
    assert "devenv plan --force" in refused.stderr
    assert override.read_bytes() == edited and not override.with_name(override.name + ".bak").exists()
    assert not server_containers(demo)

    # Back to devenv's copy: the next up's new container still has the cache.
    override.write_bytes(generated)
    demo.devenv("up", "--detach", check=True)
    assert demo.exec("cat", "/root/.cache/uv/probe-full-cycle") == "survived\n"
    assert _git(root, "status", "--porcelain") == "?? docker/docker-compose.devenv.yml\n"


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_a_server_that_crash_loops_inside_a_running_container_fails_up_with_its_traceback(demo, warm):
    """The entrypoint's loop relaunches a server that dies at import; the container stays `running`,
    so only the processes show it. `up` says so within seconds of the second exit, exit 4.

    The demo's server dies 40 ms after each launch, a second apart: a process that short is rarely
    there when devenv looks (it took up to 71 s to be seen twice); the loop log counts every exit."""
    if not warm:
        (demo.root / "devenv.toml").write_text("[reload]\nwarm = false\n")
    app = demo.root / "api" / "apps" / "demo_app.py"
    atomic_save(app, app.read_text() + "\ndef broken(:\n")
    result = demo.devenv("up", "--detach", timeout=180)
    assert result.returncode == 4, result.stderr
    assert "api/ragflow_server.py crashed 2 times in a row" in result.stderr, result.stderr
    assert "SyntaxError" in result.stderr and "api/apps/demo_app.py" in result.stderr
    assert result.stderr.count("def broken(:") == 1, result.stderr  # the traceback once, not once per relaunch
    # Within a few relaunches of the second exit (the loop relaunches once a second), not after a minute.
    relaunches = demo.logs().count("SyntaxError: invalid syntax")
    assert 2 <= relaunches <= 6, relaunches
    assert demo.inspect()["State"]["Status"] == "running"  # the engine alone would never have said


def test_watch_notices_a_process_that_keeps_dying_on_its_own(watching):
    """No save involved: the server is killed twice (as an OOM killer would); its loop relaunches it in a
    container that stays `running`. The watch says so once, and the next save restarts it as usual."""
    demo, watch = watching
    at = watch.mark()
    def server_pids() -> list[str]:
        return demo.exec("sh", "-c", "pgrep -f 'api/ragflow_server.py$' || true").split()

    for _ in range(2):
        before = server_pids()
        demo.exec("pkill", "-KILL", "-f", "api/ragflow_server.py$")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and server_pids() in ([], before):
            time.sleep(0.1)  # relaunched by its loop
        time.sleep(IDLE_CHECK + 0.5)  # devenv looks at the processes every IDLE_CHECK s while idle
    line = watch.wait_for("reload failed:", after=at, timeout=30)
    assert "api/ragflow_server.py exited 2 times in a row" in line and "keeps relaunching it" in line, line
    time.sleep(IDLE_CHECK * 2)
    assert watch.count("reload failed:", after=at) == 1
    save_and_reload(demo, watch, "after-the-crashes")


def test_a_package_folder_deleted_and_made_again_is_a_dead_bind_and_the_container_is_recreated(watching, tmp_path):
    """`rm -rf api` then restoring it (a branch switch, a tool regenerating it) gives the host a new
    folder; the container's bind still shows the deleted one, empty. devenv says so and recreates."""
    demo, watch = watching
    api = demo.root / "api"
    backup = tmp_path / "api-backup"
    shutil.copytree(api, backup)
    shutil.rmtree(api)
    shutil.copytree(backup, api)
    assert "demo_app.py" not in demo.exec("sh", "-c", "ls /ragflow/api/apps 2>&1 || true")  # what the container sees: the deleted folder
    at = watch.mark()
    demo.set_mark("after-a-dead-bind")
    line = watch.wait_for("reload ok:", after=at, timeout=120)
    assert "bind mount of api is dead" in line and "recreated the container" in line, line
    demo.wait_mark("after-a-dead-bind", timeout=30)
