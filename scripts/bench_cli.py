#!/usr/bin/env python3
"""Start-up time of devenv's commands, next to what a user would run instead.

`devenv --help` and `--version` (no heavy import may happen on that path), and
`devenv status` / `status --json` on a running demo stack, against `docker
compose ps` on the same stack. Each command runs N times; medians are printed.

Usage: python scripts/bench_cli.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(argv: list[str], env: dict, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    devenv = shutil.which("devenv") or sys.exit("devenv is not installed (pip install -e .)")
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="devenv-bench-cli-") as tmp:
        root = Path(tmp) / "demo"
        shutil.copytree(REPO / "compose" / "demo", root, ignore=shutil.ignore_patterns("__pycache__", ".devenv", "ragflow-logs"))
        import socket

        ports = []
        for _ in range(2):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        env = dict(os.environ, COMPOSE_PROJECT_NAME="bench-cli-" + uuid.uuid4().hex[:6], SVR_HTTP_PORT=str(ports[0]),
                   SVR_WEB_HTTP_PORT=str(ports[1]), NO_COLOR="1",
                   DEVENV_DEMO_BASE_IMAGE=os.environ.get("DEVENV_DEMO_BASE_IMAGE", "devenv-base:bookworm"))
        compose = ["docker", "compose", "--project-directory", str(root / "docker"), "-f", str(root / "docker" / "docker-compose.yml"),
                   "-f", str(root / "docker" / "docker-compose.devenv.yml")]
        results["devenv --help"] = timed([devenv, "--help"], env, args.runs)
        results["devenv --version"] = timed([devenv, "--version"], env, args.runs)
        results["docker compose --help"] = timed(["docker", "compose", "--help"], env, args.runs)
        subprocess.run([devenv, "-C", str(root), "up", "--detach"], env=env, check=True, capture_output=True)
        try:
            results["devenv status"] = timed([devenv, "-C", str(root), "status"], env, args.runs)
            results["devenv status --json"] = timed([devenv, "-C", str(root), "status", "--json"], env, args.runs)
            results["docker compose ps"] = timed(compose + ["ps"], env, args.runs)
        finally:
            subprocess.run(compose + ["down", "-v", "-t", "1"], env=env, capture_output=True)
    summary = {k: {"median": statistics.median(v), "min": min(v), "max": max(v)} for k, v in results.items()}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"command start-up, seconds ({args.runs} runs each)\n")
    print(f"{'command':26} {'median':>7} {'min':>7} {'max':>7}")
    for k, v in summary.items():
        print(f"{k:26} {v['median']:7.3f} {v['min']:7.3f} {v['max']:7.3f}")
    help_ms = summary["devenv --help"]["median"] * 1000
    print(f"\ndevenv --help: {help_ms:.0f} ms (target: under 300 ms) {'PASS' if help_ms < 300 else 'MISS'}")


if __name__ == "__main__":
    main()
