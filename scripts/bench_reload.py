#!/usr/bin/env python3
"""Save-to-serving latency on the demo stack: devenv against docker compose's own options.

One run, same machine, same stack, the same atomic save each time (write a
temporary file, rename it over api/apps/demo_app.py); the clock stops when
/v1/demo/code answers with the new MARK. Strategies:

  devenv         devenv up: debounce, SIGTERM to the server process (its restart loop
                 relaunches it at once through devenv's BASH_ENV hook), health-verified
  floor          SIGTERM plus the immediate relaunch, sent the instant the file is saved:
                 the server's own start-up; nothing that restarts the process can beat it
  loop           a plain SIGTERM at the instant of the save: the restart loop's `sleep 1`
                 plus the start-up (what devenv would cost without the hook)
  watch          docker compose watch, action: restart, on the package folders (with
                 the same bind mounts), as a user would add to the stock stack
  watch+init     the same with init: true on the server (the best by hand)
  restart        save, then docker compose restart of the server service (stock)

Usage: python scripts/bench_reload.py [--trials N] [--only devenv,floor,...] [--json]
Needs Docker, compose v2 and the demo's base image (DEVENV_DEMO_BASE_IMAGE).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PACKAGES = ["api", "rag", "deepdoc", "agent", "common"]
SERVICE = "ragflow-cpu"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    def __init__(self, base: Path) -> None:
        self.root = base / f"demo-{uuid.uuid4().hex[:6]}"
        shutil.copytree(REPO / "compose" / "demo", self.root, ignore=shutil.ignore_patterns("__pycache__", ".devenv", "ragflow-logs"))
        self.port = free_port()
        self.env = dict(os.environ, COMPOSE_PROJECT_NAME="bench-" + uuid.uuid4().hex[:6], SVR_HTTP_PORT=str(self.port),
                        SVR_WEB_HTTP_PORT=str(free_port()), NO_COLOR="1",
                        DEVENV_DEMO_BASE_IMAGE=os.environ.get("DEVENV_DEMO_BASE_IMAGE", "devenv-base:bookworm"))
        self.app = self.root / "api" / "apps" / "demo_app.py"
        self.n = 0

    def compose(self, *args: str, files: list[str] = (), **kw) -> subprocess.CompletedProcess:
        argv = ["docker", "compose", "--project-directory", str(self.root / "docker"), "-f", str(self.root / "docker" / "docker-compose.yml")]
        for f in files:
            argv += ["-f", str(self.root / "docker" / f)]
        return subprocess.run(argv + list(args), env=self.env, capture_output=True, text=True, check=kw.get("check", True), timeout=600)

    def mark(self) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/demo/code", timeout=1) as r:
                return json.loads(r.read())["mark"]
        except Exception:
            return None

    def wait_serving(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.mark() is None:
            if time.monotonic() > deadline:
                raise SystemExit("the demo server did not answer")
            time.sleep(0.05)

    def save(self) -> tuple[str, float]:
        self.n += 1
        mark = f"bench-{self.n}-{uuid.uuid4().hex[:4]}"
        text = re.sub(r'^MARK = ".*"$', f'MARK = "{mark}"', self.app.read_text(), count=1, flags=re.M)
        tmp = self.app.with_name(".demo_app.py.swp")
        tmp.write_text(text)
        t0 = time.monotonic()
        os.replace(tmp, self.app)
        return mark, t0

    def until_served(self, mark: str, t0: float, timeout: float = 60) -> float:
        while self.mark() != mark:
            if time.monotonic() - t0 > timeout:
                return float("nan")
            time.sleep(0.002)
        return time.monotonic() - t0

    def down(self, files: list[str] = ()) -> None:
        self.compose("down", "-v", "-t", "1", files=files, check=False)


def write_user_override(stack: Stack, *, init: bool, watch: bool) -> str:
    """What a RAGFlow user would add by hand: bind mounts (+ compose watch, + init)."""
    lines = ["services:", f"  {SERVICE}:"]
    if init:
        lines.append("    init: true")
    lines.append("    volumes:")
    lines += [f"      - ../{p}:/ragflow/{p}" for p in PACKAGES]
    if watch:
        lines += ["    develop:", "      watch:"]
        lines += [f"        - path: ../{p}\n          action: restart" for p in PACKAGES]
    name = f"docker-compose.user-{'init' if init else 'stock'}-{'watch' if watch else 'plain'}.yml"
    (stack.root / "docker" / name).write_text("\n".join(lines) + "\n")
    return name


def trials(stack: Stack, n: int, action=None, settle: float = 1.0) -> list[float]:
    out = []
    for _ in range(n):
        mark, t0 = stack.save()
        if action is not None:
            action()
        out.append(stack.until_served(mark, t0))
        time.sleep(settle)  # let watchers and loops go quiet between trials
    return out


def bench_devenv(base: Path, n: int) -> tuple[list[float], list[float], list[float]]:
    """devenv's reload, and the two floors measured on the same running stack."""
    stack = Stack(base)
    proc = subprocess.Popen([sys.executable, "-m", "devenv", "-C", str(stack.root), "up"], env=stack.env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            if line.startswith("[devenv] ready:"):
                break
        else:
            raise SystemExit("devenv up did not get ready")
        stack.wait_serving()
        devenv = trials(stack, n, settle=1.5)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        floor = bench_floor(stack, n, relaunch_now=True)
        loop = bench_floor(stack, n, relaunch_now=False)
    finally:
        if proc.poll() is None:
            proc.kill()
        stack.down(files=["docker-compose.devenv.yml"])
    return devenv, floor, loop


def bench_floor(stack: Stack, n: int, *, relaunch_now: bool) -> list[float]:
    """SIGTERM straight to the server the instant the file is saved, through an already-open probe."""
    from devenv.engine.docker import DockerEngine

    engine = DockerEngine()
    cid = subprocess.run(["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={stack.env['COMPOSE_PROJECT_NAME']}",
                          "--filter", f"label=com.docker.compose.service={SERVICE}"], capture_output=True, text=True).stdout.split()[0]
    agent = engine.agent(cid)
    kill = lambda: agent.request({"op": "reload", "expect": {}, "scripts": ["api/ragflow_server.py"], "wait_ms": 0,  # noqa: E731
                                  "relaunch_now": relaunch_now})
    return trials(stack, n, kill, settle=1.0)


def bench_compose_watch(base: Path, n: int, *, init: bool) -> list[float]:
    stack = Stack(base)
    override = write_user_override(stack, init=init, watch=True)
    try:
        stack.compose("up", "-d", "--wait", files=[override])
        stack.wait_serving()
        proc = subprocess.Popen(["docker", "compose", "--project-directory", str(stack.root / "docker"), "-f",
                                 str(stack.root / "docker" / "docker-compose.yml"), "-f", str(stack.root / "docker" / override),
                                 "watch", "--no-up"], env=stack.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)  # compose watch's start-up walk
        try:
            return trials(stack, n, settle=1.5)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    finally:
        stack.down(files=[override])


def bench_compose_restart(base: Path, n: int) -> list[float]:
    stack = Stack(base)
    override = write_user_override(stack, init=False, watch=False)
    try:
        stack.compose("up", "-d", "--wait", files=[override])
        stack.wait_serving()
        return trials(stack, n, lambda: stack.compose("restart", SERVICE, files=[override]))
    finally:
        stack.down(files=[override])


def summarize(name: str, values: list[float]) -> dict:
    good = [v for v in values if v == v]
    return {"strategy": name, "trials": len(values), "failed": len(values) - len(good),
            "median": statistics.median(good) if good else None, "min": min(good) if good else None,
            "max": max(good) if good else None, "values": [round(v, 3) for v in values]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--only", default="devenv,watch,watch+init,restart")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    wanted = args.only.split(",")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="devenv-bench-") as tmp:
        base = Path(tmp)
        if "devenv" in wanted or "floor" in wanted:
            dev, floor, loop = bench_devenv(base, args.trials)
            results["devenv"] = summarize("devenv", dev)
            results["floor"] = summarize("floor: SIGTERM + relaunch at once", floor)
            results["loop"] = summarize("SIGTERM, loop sleeps 1 s", loop)
        if "watch" in wanted:
            results["watch"] = summarize("compose watch (restart)", bench_compose_watch(base, args.trials, init=False))
        if "watch+init" in wanted:
            results["watch+init"] = summarize("compose watch (restart) + init", bench_compose_watch(base, args.trials, init=True))
        if "restart" in wanted:
            results["restart"] = summarize("compose restart", bench_compose_restart(base, args.trials))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    dev = (results.get("devenv") or {}).get("median")
    print(f"save -> new code served, seconds ({args.trials} trials each; median, min-max)\n")
    print(f"{'strategy':34} {'median':>7} {'min':>7} {'max':>7} {'vs devenv':>10}")
    for key, r in results.items():
        if r["median"] is None:
            print(f"{r['strategy']:34} {'failed':>7}")
            continue
        ratio = f"{r['median'] / dev:.1f}x" if dev else "-"
        print(f"{r['strategy']:34} {r['median']:7.2f} {r['min']:7.2f} {r['max']:7.2f} {ratio:>10}" + (f"  ({r['failed']} timed out)" if r["failed"] else ""))
    if dev and results.get("floor", {}).get("median"):
        over = (dev - results["floor"]["median"]) * 1000
        print(f"\ndevenv overhead above the floor: {over:.0f} ms (target: within 150 ms)")
    for key, need in (("watch", 8), ("watch+init", 2)):
        if dev and results.get(key, {}).get("median"):
            ratio = results[key]["median"] / dev
            print(f"devenv vs {results[key]['strategy']}: {ratio:.1f}x faster (target: {need}x) {'PASS' if ratio >= need else 'MISS'}")


if __name__ == "__main__":
    main()
