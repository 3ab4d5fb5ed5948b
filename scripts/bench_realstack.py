#!/usr/bin/env python3
"""devenv on RAGFlow v0.22.0's real code, side by side with `docker compose restart` and compose watch.

    python3 scripts/bench_realstack.py [--trials N] [--keep]

Needs the real-RAGFlow kit (``bash scripts/realstack.sh``). Works on a copy of the kit's checkout
with its own compose project and free ports; removes its containers and volumes at the end
(``--keep`` leaves them). One run prints one table:

- first ``devenv up`` to ready (fresh volumes, empty bytecode cache), then a warm ``up`` (down, up);
- an edit under ``api/apps/`` until the new code is served (``/v1/system/ping``'s body), and an
  edit under ``rag/`` until devenv says the reload is done, with escalations counted;
- ``devenv verify``; SIGTERM until the old server process is gone; importing ``api.ragflow_server``
  in the container with and without devenv's bytecode cache;
- the same api/apps edit served through ``docker compose restart`` and through ``docker compose
  watch`` (``action: restart``, on devenv's mounts: without them the edit would never be served).

Figures are seconds: median (min-max) over the trials. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REALRF = Path(os.environ.get("REALRF", "/tmp/realrf"))
SERVER = "api/ragflow_server.py"


# Run in the container: SIGTERM the script's process, print how long until it is gone.
SIGTERM_PROBE = r"""
import os, signal, sys, time
def find(script):
    for n in os.listdir("/proc"):
        if n.isdigit():
            try:
                argv = open("/proc/%s/cmdline" % n, "rb").read().split(b"\0")
            except OSError:
                continue
            if len(argv) > 1 and argv[1].decode() == script:
                return int(n)
pid = find(sys.argv[1])
t0 = time.time()
os.kill(pid, signal.SIGTERM)
def alive():
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] not in "ZX"
    except OSError:
        return False
while alive():
    time.sleep(0.01)
print('{"gone": %.3f}' % (time.time() - t0))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = f"bench-real-{os.getpid()}"
        self.env = dict(os.environ, COMPOSE_PROJECT_NAME=self.project, NO_COLOR="1", PYTHONUNBUFFERED="1")
        for name in re.findall(r"^(\w+_PORT)=\d+", (root / "docker" / ".env").read_text(), flags=re.M):
            self.env[name] = str(free_port())
        self.api = f"http://127.0.0.1:{self.env['SVR_HTTP_PORT']}"
        self.watch: subprocess.Popen | None = None
        self.lines: list[str] = []

    # --- devenv and compose -------------------------------------------------------
    def devenv(self, *args: str, timeout: float = 900) -> tuple[float, subprocess.CompletedProcess]:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "devenv", "-C", str(self.root), *args], env=self.env,
                                capture_output=True, text=True, timeout=timeout, cwd=REPO)
        return time.monotonic() - started, result

    def compose_files(self, *extra: str) -> list[str]:
        files = ["docker-compose.yml", "docker-compose.realrf.yml", "docker-compose.devenv.yml", *extra]
        return [a for f in files for a in ("-f", str(self.root / "docker" / f))]

    def compose(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "compose", "--project-directory", str(self.root / "docker"), *self.compose_files(), *args],
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def container(self) -> str:
        return subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={self.project}",
                               "--filter", "label=com.docker.compose.service=ragflow-cpu"], capture_output=True, text=True).stdout.split()[0]

    def exec(self, *argv: str) -> str:
        return subprocess.run(["docker", "exec", self.container(), *argv], capture_output=True, text=True, timeout=300).stdout

    # --- the stack's answers -----------------------------------------------------
    def ping(self) -> str | None:
        try:
            with urllib.request.urlopen(self.api + "/v1/system/ping", timeout=2) as r:
                return r.read().decode() if r.status == 200 else None
        except Exception:
            return None

    def until_ping(self, body: str, timeout: float = 300) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.ping() == body:
                return time.monotonic() - started
            time.sleep(0.05)
        raise RuntimeError(f"ping never answered {body!r}")

    def set_ping(self, body: str) -> float:
        """Save api/apps/system_app.py as an editor does; returns the time of the save."""
        path = self.root / "api" / "apps" / "system_app.py"
        text = re.sub(r'return "[^"]*", 200', f'return "{body}", 200', path.read_text(), count=1)
        tmp = path.with_name(".system_app.py.swp")
        tmp.write_text(text)
        at = time.monotonic()
        os.replace(tmp, path)
        return at

    # --- a running `devenv watch`, its lines collected ----------------------------
    def start_watch(self) -> None:
        self.watch = subprocess.Popen([sys.executable, "-m", "devenv", "-C", str(self.root), "watch"], env=self.env, cwd=REPO,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=lambda: [self.lines.append(l.rstrip()) for l in self.watch.stdout], daemon=True).start()  # type: ignore[union-attr]
        self.wait_line("ready:", 0, 120)

    def wait_line(self, tag: str, after: int, timeout: float = 300) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in self.lines[after:]:
                if line.startswith(f"[devenv] {tag}"):
                    return line
            time.sleep(0.05)
        raise RuntimeError(f"no {tag} line:\n" + "\n".join(self.lines[after:]))

    def stop_watch(self) -> None:
        if self.watch and self.watch.poll() is None:
            self.watch.send_signal(2)
            self.watch.wait(timeout=30)


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not (REALRF / "ragflow" / ".realrf-checkout").is_file():
        print("the real-RAGFlow kit is not built: bash scripts/realstack.sh", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="bench-real-"))
    root = work / "ragflow"
    shutil.copytree(REALRF / "ragflow", root, symlinks=True, ignore=shutil.ignore_patterns(
        ".devenv", "ragflow-logs", "docker-compose.devenv.yml*", "huqie.txt.trie", "__pycache__"))
    b = Bench(root)
    rows: list[tuple[str, str, str, str]] = []
    notes: list[str] = []
    try:
        def up_row(label: str) -> None:
            seconds, result = b.devenv("up", "--detach")
            ready = next((l for l in result.stderr.splitlines() if "ready:" in l), result.stderr[-500:])
            split = re.search(r"\(v[\d.]+; ([^)]*)\)", ready)
            rows.append((label, f"{seconds:.1f}", "", ""))
            notes.append(f"{label}: {split.group(1) if split else ready}")
            if result.returncode != 0:
                raise RuntimeError(f"devenv up failed:\n{result.stderr}")

        up_row("first `up` to ready (fresh volumes, empty bytecode cache)")
        b.devenv("down")
        up_row("warm `up` to ready")
        b.start_watch()

        api, api_devenv, rag, escalated = [], [], [], 0
        for i in range(args.trials):
            mark = len(b.lines)
            at = b.set_ping(f"pong-d{i}")
            b.until_ping(f"pong-d{i}")
            api.append(time.monotonic() - at)
            line = b.wait_line("reload ", mark)
            m = re.search(r"([\d.]+) s save->healthy", line)
            api_devenv.append(float(m.group(1)) if m else float("nan"))
            escalated += "escalated" in line
        for i in range(max(2, args.trials // 2)):
            mark = len(b.lines)
            path = root / "rag" / "nlp" / "query.py"
            path.write_text(path.read_text() + f"\n# bench {time.time()}\n")
            line = b.wait_line("reload ", mark)
            m = re.search(r"([\d.]+) s save->healthy", line)
            rag.append(float(m.group(1)) if m else float("nan"))
            escalated += "escalated" in line
        b.stop_watch()
        rows.append(("edit under api/apps/ -> new code served", spread(api), "", ""))
        rows.append(("  (devenv's own save->healthy for those)", spread(api_devenv), "", ""))
        rows.append(("edit under rag/ -> reload done (all 3 processes)", spread(rag), "", ""))
        rows.append(("  reloads escalated to a container restart", f"{escalated} of {len(api) + len(rag)}", "", ""))

        verify = []
        for _ in range(2):
            seconds, result = b.devenv("verify")
            verify.append(seconds)
            escalated += "escalated" in result.stdout + result.stderr
        rows.append(("`devenv verify`", spread(verify), "", ""))

        # SIGTERM -> old server gone, as RAGFlow's own handler does it (what devenv cuts with reload.kill_after)
        gone = json.loads(b.exec("python3", "-c", SIGTERM_PROBE, SERVER).strip().splitlines()[-1])
        b.until_ping(f"pong-d{args.trials - 1}")
        rows.append(("SIGTERM -> old server process gone (RAGFlow's handler)", f"{gone['gone']:.1f}", "", ""))

        imports = {}
        for label, env in (("cold", ["-e", "PYTHONDONTWRITEBYTECODE=1", "-e", "PYTHONPYCACHEPREFIX=/tmp/devenv-bench-empty"]),
                           ("devenv bytecode cache", [])):
            started = time.monotonic()
            subprocess.run(["docker", "exec", *env, "-w", "/ragflow", b.container(), "python3", "-c", "import api.ragflow_server"],
                           capture_output=True, timeout=600)
            imports[label] = time.monotonic() - started
        rows.append(("`import api.ragflow_server` in the container",
                     f"{imports['devenv bytecode cache']:.1f} (cached); {imports['cold']:.1f} cold", "", ""))

        # docker compose restart of the server, with devenv's override (mounts) in place
        restart = []
        for i in range(max(2, args.trials // 2)):
            started = b.set_ping(f"pong-r{i}")
            b.compose("restart", "ragflow-cpu")
            b.until_ping(f"pong-r{i}")
            restart.append(time.monotonic() - started)
        # compose watch, action restart, on the same mounts
        watchfile = root / "docker" / "docker-compose.bench-watch.yml"
        watchfile.write_text("services:\n  ragflow-cpu:\n    develop:\n      watch:\n"
                             "        - action: restart\n          path: ../api\n        - action: restart\n          path: ../rag\n")
        cw = subprocess.Popen(["docker", "compose", "--project-directory", str(root / "docker"),
                               *b.compose_files("docker-compose.bench-watch.yml"), "watch", "--no-up"],
                              env=b.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(5)
        cwatch = []
        try:
            for i in range(max(2, args.trials // 2)):
                at = b.set_ping(f"pong-w{i}")
                b.until_ping(f"pong-w{i}")
                cwatch.append(time.monotonic() - at)
        finally:
            cw.terminate()
            cw.wait(timeout=30)
        rows[2] = (rows[2][0], rows[2][1], spread(restart), spread(cwatch))
    finally:
        b.stop_watch()
        if not args.keep:
            b.compose("down", "-v", "-t", "1")
            shutil.rmtree(work, ignore_errors=True)

    width = max(len(r[0]) for r in rows)
    print(f"\nRAGFlow v0.22.0 real code on {os.cpu_count()} cores; seconds, median (min-max) of {args.trials} trials\n")
    print(f"{'':{width}}  {'devenv':>22}  {'compose restart':>18}  {'compose watch':>18}")
    for label, d, r, w in rows:
        print(f"{label:{width}}  {d:>22}  {r or '':>18}  {w or '':>18}")
    print()
    for note in notes:
        print("start split, " + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
