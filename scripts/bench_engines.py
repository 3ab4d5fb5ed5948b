#!/usr/bin/env python3
"""devenv on Docker and on Podman, side by side, measured in one run (issue 11).

For each engine a copy of the bundled demo (compose/demo) gets its own compose project
name and free ports; each trial then times, in seconds:

  up (first)         `devenv up --detach` on a stopped stack, fresh volumes, to healthy
  up (running)       the same again with the stack running
  save -> served     an atomic save of api/apps/demo_app.py's MARK, `devenv watch` running,
                     until /v1/demo/code answers with the new MARK (polled every 20 ms): the
                     first save after the watch is ready (a cold start: the warm parent is still
                     preloading), then saves 3 s apart until one is served by a warm fork
  recreate -> served an edit of docker/service_conf.yaml.template (devenv recreates the
                     server container) until devenv's reload is done and a new server answers
  compose restart    `docker compose restart ragflow-cpu` (watch stopped) until a new server answers
  devenv restart     `devenv restart` until a new server pid answers
  down               `devenv down`
  --version, status  the CLI's own latency

Docker is the default socket; Podman is its Docker-compatible socket (DOCKER_HOST,
DOCKER_BUILDKIT=0), as tests/e2e/test_podman.py drives it (scripts/provision_podman.sh sets it
up). The demo images are built on each engine first (`docker compose build`, layer cache).
Every project is removed with `compose down -v` at the end, on error and on Ctrl-C too.

Usage: python3 scripts/bench_engines.py [--engines docker,podman] [--trials N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench_reload import REPO, Stack  # scripts/ is sys.path[0]; it puts REPO on sys.path too

ENGINES = {"docker": {}, "podman": {"DOCKER_HOST": "unix:///run/podman/podman.sock", "DOCKER_BUILDKIT": "0"}}
SERVICE = "ragflow-cpu"
POLL = 0.02
SETTLE, WARM_TRIES = 3.0, 10  # seconds between saves; saves to wait for the warm parent (it preloads for ~10 s)
OPS = ["up --detach (first)", "up --detach (running)", "save -> served (first after ready)", "save -> served (warm)",
       "recreate -> served", "compose restart -> served", "devenv restart -> new pid", "devenv --version", "devenv status", "devenv down"]


class EngineStack(Stack):
    """bench_reload's demo copy, pointed at one engine, driven through devenv."""

    def __init__(self, base: Path, engine: str) -> None:
        super().__init__(base)
        self.env.pop("DOCKER_HOST", None)
        self.env.pop("DEVENV_PROJECT", None)
        self.env.update(ENGINES[engine], COMPOSE_PROJECT_NAME=f"bench-engines-{engine}-{self.root.name[5:]}", PYTHONUNBUFFERED="1")
        self.watch: subprocess.Popen | None = None
        self.reloads: list[str] = []  # the watch's reload lines, to see where a slow trial spent its time

    def files(self) -> list[str]:
        return ["docker-compose.devenv.yml"] if (self.root / "docker" / "docker-compose.devenv.yml").exists() else []

    def devenv(self, *args: str, timeout: float = 300) -> float:
        """Seconds ``devenv -C <copy> ARGS`` took; a failure raises with its output."""
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "devenv", "-C", str(self.root), *args], cwd=REPO, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        took = time.monotonic() - t0
        if done.returncode != 0:
            raise RuntimeError(f"devenv {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return took

    def served(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/demo/code", timeout=1) as r:
                return json.loads(r.read())
        except Exception:  # not answering yet is what the polls wait through
            return None

    def until(self, ok, t0: float, timeout: float = 180) -> float:
        """Seconds from ``t0`` until ``ok(/v1/demo/code's answer)`` holds, polled every 20 ms."""
        while True:
            answer = self.served()
            if answer is not None and ok(answer):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"not served within {timeout} s (last answer: {answer})")
            time.sleep(POLL)

    def start_watch(self) -> None:
        self.watch = subprocess.Popen([sys.executable, "-m", "devenv", "-C", str(self.root), "watch"], cwd=REPO, env=self.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.wait_line("[devenv] ready:")

    def wait_line(self, prefix: str) -> str:
        """The watch's next line starting with ``prefix``; a failed reload raises (the watch's own timeouts bound this)."""
        assert self.watch is not None and self.watch.stdout is not None
        for line in self.watch.stdout:
            if line.startswith(prefix):
                if "reload" in prefix:
                    self.reloads.append(line.strip())
                return line.strip()
            if line.startswith(("[devenv] reload failed:", "[devenv] error:")):
                raise RuntimeError(f"devenv watch: {line.strip()}")
        raise RuntimeError(f"devenv watch exited ({self.watch.wait()}) before {prefix!r}")

    def stop_watch(self) -> None:
        if self.watch is not None and self.watch.poll() is None:
            self.watch.send_signal(signal.SIGINT)
            try:
                self.watch.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.watch.kill()
                self.watch.wait()
        self.watch = None

    def remove(self) -> None:
        self.stop_watch()
        self.down(files=self.files())


def trial(stack: EngineStack, out: dict[str, list[float]]) -> None:
    """One pass over every operation; the stack is down again (volumes removed) at the end."""
    out["up --detach (first)"].append(stack.devenv("up", "--detach"))
    out["up --detach (running)"].append(stack.devenv("up", "--detach"))
    stack.start_watch()
    for n in range(WARM_TRIES):  # the first save, then saves until one is warm (its warm parent ready)
        mark, t0 = stack.save()
        took = stack.until(lambda a: a["mark"] == mark, t0, timeout=60)
        warm = "server warm" in stack.wait_line("[devenv] reload ok:")
        if n == 0:
            out["save -> served (first after ready)"].append(took)
        if warm:
            out["save -> served (warm)"].append(took)
            break
        time.sleep(SETTLE)
    before = stack.served() or {}
    template = stack.root / "docker" / "service_conf.yaml.template"
    swp = template.with_name(".service_conf.yaml.template.swp")
    swp.write_text(template.read_text() + f"\n# bench {time.time()}\n")
    t0 = time.monotonic()
    os.replace(swp, template)
    # Until devenv's reload is done, not the first new server: on Podman that one is replaced again.
    if "recreate" not in stack.wait_line("[devenv] reload ok:"):
        raise RuntimeError("the template edit did not recreate the container")
    out["recreate -> served"].append(stack.until(lambda a: a["started"] != before.get("started"), t0))
    stack.stop_watch()
    before = stack.served() or {}
    t0 = time.monotonic()
    stack.compose("restart", SERVICE, files=stack.files())
    out["compose restart -> served"].append(stack.until(lambda a: a["started"] != before.get("started"), t0))
    before = stack.served() or {}
    t0 = time.monotonic()
    stack.devenv("restart")
    out["devenv restart -> new pid"].append(stack.until(lambda a: a["pid"] != before.get("pid"), t0))
    out["devenv --version"].append(stack.devenv("--version"))
    out["devenv status"].append(stack.devenv("status"))
    out["devenv down"].append(stack.devenv("down"))
    stack.down(files=stack.files())  # volumes too: the next trial's first up starts from nothing


def engine_version(env: dict[str, str]) -> str:
    done = subprocess.run(["docker", "version", "--format", "{{json .Server}}"], env=env, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip() or "the engine does not answer")
    server = json.loads(done.stdout)
    names = [c.get("Name", "") for c in server.get("Components") or []]
    kind = "Podman" if any("podman" in n.lower() for n in names) else "Docker"
    return f"{kind} {server.get('Version', '?')} (API {server.get('ApiVersion', '?')})"


def bench_engine(base: Path, engine: str, trials: int) -> dict:
    stack = EngineStack(base / engine, engine)
    result: dict = {"engine": engine, "project": stack.env["COMPOSE_PROJECT_NAME"], "errors": []}
    try:
        result["version"] = engine_version(stack.env)
        stack.env["DOCKER_BUILDKIT"] = "0"  # builds only: the demo images on this engine, built as the e2e tests build them
        stack.compose("build", "-q")
        times: dict[str, list[float]] = {op: [] for op in OPS}
        for n in range(trials):
            print(f"[bench] {engine}: trial {n + 1}/{trials}", file=sys.stderr, flush=True)
            try:
                trial(stack, times)
            except (RuntimeError, subprocess.SubprocessError) as e:
                result["errors"].append(f"trial {n + 1}: {e} {getattr(e, 'stderr', '') or ''}"[:2000])
                stack.remove()
        result["ops"] = {op: summarize(v) for op, v in times.items()}
        result["reloads"] = stack.reloads
    except (RuntimeError, subprocess.SubprocessError) as e:
        result["errors"].append(f"{e} {getattr(e, 'stderr', '') or ''}"[:2000])
    finally:
        stack.remove()
    return result


def summarize(values: list[float]) -> dict:
    if not values:
        return {"median": None, "min": None, "max": None, "values": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": [round(v, 3) for v in values]}


def cell(op: dict | None) -> str:
    if not op or op["median"] is None:
        return "-"
    return f"{op['median']:.2f} ({op['min']:.2f}-{op['max']:.2f})"


def print_table(results: list[dict], trials: int, compose: str) -> None:
    print(f"devenv on each engine, seconds: median (min-max) of {trials} trials; compose {compose}, {os.cpu_count()} cores")
    for r in results:
        print(f"  {r['engine']}: {r.get('version', 'unavailable')}, project {r['project']}")
    print()
    names = [r["engine"].capitalize() for r in results]
    print(f"| operation | {' | '.join(names)} |")
    print(f"|---|{'---|' * len(names)}")
    for op in OPS:
        print(f"| {op} | {' | '.join(cell(r.get('ops', {}).get(op)) for r in results)} |")
    for r in results:
        for error in r["errors"]:
            print(f"\n{r['engine']}: {error}", file=sys.stderr)


def on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt  # the same cleanup as Ctrl-C


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default="docker,podman", help="comma-separated: docker, podman")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        ap.error(f"unknown engine(s): {', '.join(unknown)} (use docker, podman)")
    signal.signal(signal.SIGTERM, on_sigterm)
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="devenv-bench-engines-", ignore_cleanup_errors=True) as tmp:
            for engine in engines:
                (Path(tmp) / engine).mkdir()
                results.append(bench_engine(Path(tmp), engine, args.trials))
    except KeyboardInterrupt:
        print("[bench] interrupted; the projects started so far are removed", file=sys.stderr)
        return 130
    compose = subprocess.run(["docker", "compose", "version", "--short"], capture_output=True, text=True).stdout.strip()
    if args.json:
        print(json.dumps({"trials": args.trials, "cores": os.cpu_count(), "compose": compose, "engines": results}, indent=2))
    else:
        print_table(results, args.trials, compose)
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
