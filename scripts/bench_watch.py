#!/usr/bin/env python3
"""Benchmark devenv's watcher against plain watchdog on a RAGFlow-shaped tree.

Builds about 50,000 files in a temporary folder (most of them in web/node_modules, as in
a RAGFlow checkout after `npm install`), then measures each contender in a child process
of its own, so that resident memory and CPU time are its alone:

- devenv: load_ignore_rules + Watcher (pruning inotify), with a Debouncer for the burst;
- watchdog: Observer().schedule(handler, root, recursive=True), default events;
- watchdog, change events only: the same with open / close-nowrite filtered out;
- compose watch: not run; it puts one inotify watch on every folder, so its figure is
  the folder count (shown when `docker compose version` answers).

The inotify watch count is the kernel's: "inotify wd:" lines in /proc/self/fdinfo/*.

Usage: python scripts/bench_watch.py [--json] [--idle SECONDS] [--keep]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SOURCE_PACKAGES = ("api", "rag", "deepdoc", "agent", "common")
GITIGNORE = "node_modules\n__pycache__\ndocker/ragflow-logs\n"
TARGETS = {"startup_s": 1.0, "idle_cpu_pct": 1.0, "rss_mb": 100.0, "burst_batches": 1}


# --- the tree -------------------------------------------------------------------------


def _touch_files(folder: Path, names: list[str]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b"# generated\n")
        os.close(fd)
    return len(names)


def build_tree(root: Path) -> dict[str, int]:
    """A checkout-shaped tree: 45k files in ~3,900 node_modules folders, ~5k .py in ~750."""
    files = 0
    # web/node_modules: 300 packages x 10 folders x 15 files (3,900 folders, 45,000 files).
    for p in range(300):
        pkg = root / "web" / "node_modules" / f"pkg{p:03d}"
        for d in range(10):
            folder = pkg / ("lib" if d < 5 else "dist") / f"m{d}"
            files += _touch_files(folder, [f"f{i}.js" for i in range(15)])
    # web/src: the part of web/ that is kept.
    for d in range(30):
        files += _touch_files(root / "web" / "src" / f"c{d}", [f"C{i}.tsx" for i in range(8)])
    # Python packages: 5 x (10 x 14) folders, ~7 files each, plus ignored __pycache__.
    for pkg in SOURCE_PACKAGES:
        for a in range(10):
            for b in range(14):
                folder = root / pkg / f"mod{a}" / f"sub{b}"
                files += _touch_files(folder, [f"m{i}.py" for i in range(7)])
            files += _touch_files(root / pkg / f"mod{a}" / "__pycache__", [f"m{i}.cpython-311.pyc" for i in range(4)])
    # .git: a few hundred files.
    for d in range(50):
        files += _touch_files(root / ".git" / "objects" / f"{d:02x}", [f"{i:038x}" for i in range(6)])
    files += _touch_files(root / ".git", ["HEAD", "config", "index"])
    files += _touch_files(root / "docker" / "ragflow-logs", [f"ragflow_{i}.log" for i in range(20)])
    files += _touch_files(root / "docker", ["docker-compose.yml", ".env"])
    (root / ".gitignore").write_text(GITIGNORE)
    folders = sum(1 for _ in os.walk(root)) - 1
    return {"files": files, "folders": folders}


# --- measurements in a child process --------------------------------------------------


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def inotify_watches() -> int:
    from devenv.watch.limits import inotify_watches as count

    return count()


class Events:
    """on_change target: remembers paths and wakes whoever waits for one."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.paths: list[str] = []

    def __call__(self, path: str, kind: str = "") -> None:
        with self.cond:
            self.paths.append(path)
            self.cond.notify_all()

    def wait_for(self, path: str, timeout: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: path in self.paths, timeout)


def idle(seconds: float) -> dict[str, Any]:
    """CPU share of this process while nothing changes, sampling the watch count.

    Reading fdinfo costs CPU too: that time is taken out of the share.
    """
    samples = []
    sampling_cpu = 0.0
    cpu0, wall0 = time.process_time(), time.monotonic()
    while time.monotonic() - wall0 < seconds:
        time.sleep(min(1.0, seconds))
        before = time.process_time()
        samples.append(inotify_watches())
        sampling_cpu += time.process_time() - before
    cpu, wall = time.process_time() - cpu0 - sampling_cpu, time.monotonic() - wall0
    return {"idle_cpu_pct": 100 * cpu / wall, "watches_min": min(samples), "watches_max": max(samples)}


def latency(root: Path, events: Events, n: int = 20) -> dict[str, Any]:
    """Write a file in api/ and time until its callback; give up after 3 misses in a row."""
    times = []
    misses = 0
    for i in range(n):
        name = f"api/mod0/sub0/latency_{i}.py"
        start = time.perf_counter()
        (root / name).write_text(f"x = {i}\n")
        if events.wait_for(name, timeout=2.0):
            times.append(time.perf_counter() - start)
            misses = 0
        else:
            misses += 1
            if misses == 3:
                break
        time.sleep(0.05)
    return {
        "latency_ms": 1000 * statistics.median(times) if times else None,
        "latency_missed": f"{i + 1 - len(times)}/{i + 1}",
    }


def ignored_writes(root: Path, events: Events) -> bool | None:
    """True if a write in web/node_modules or .git reached the callback; None if unknown."""
    (root / "web/node_modules/pkg000/lib/m0/f0.js").write_text("changed\n")
    (root / ".git/index").write_text("changed\n")
    (root / "api/mod1/sub1/sentinel.py").write_text("x = 1\n")
    if not events.wait_for("api/mod1/sub1/sentinel.py", timeout=2.0):
        return None  # not even the sentinel arrived
    time.sleep(0.2)
    with events.cond:
        return any("node_modules" in p or p.startswith(".git") for p in events.paths)


def burst(root: Path, events: Events, debouncer: Any) -> dict[str, Any]:
    """2,000 file writes as fast as Python goes, through the debouncer."""
    stop = threading.Event()
    batches: list[Any] = []

    def consume() -> None:
        while (batch := debouncer.next_batch(stop)) is not None:
            batches.append(batch)

    folder = root / "api" / "burst"
    folder.mkdir()
    time.sleep(0.3)  # let the new folder's watch settle, then drop its events
    debouncer.next_batch(threading.Event(), timeout=0.5)
    with events.cond:
        before = len(events.paths)
    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    start = time.perf_counter()
    for i in range(2000):
        (folder / f"gen_{i}.py").write_text(f"x = {i}\n")
    write_s = time.perf_counter() - start
    time.sleep(debouncer.max_wait + 0.5)
    stop.set()
    debouncer.wake()
    consumer.join(2)
    with events.cond:
        callbacks = len(events.paths) - before
    return {
        "burst_write_s": write_s,
        "burst_callbacks": callbacks,
        "burst_batches": len(batches),
        "burst_paths": sum(len(b.paths) for b in batches),
    }


def measure_devenv(root: Path, idle_s: float) -> dict[str, Any]:
    from devenv.watch import Debouncer, load_ignore_rules
    from devenv.watch.watcher import Watcher

    rss0 = rss_mb()
    t0 = time.perf_counter()
    rules = load_ignore_rules(root)
    t1 = time.perf_counter()
    debouncer = Debouncer(quiet=0.15, max_wait=2.0)
    events = Events()

    def on_change(path: str, kind: str) -> None:
        events(path, kind)
        debouncer.add(path, kind)

    with Watcher(root, rules, on_change) as watcher:
        t2 = time.perf_counter()
        out: dict[str, Any] = {
            "mode": watcher.mode,
            "rules_s": t1 - t0,
            "startup_s": t2 - t0,
            "watches": inotify_watches(),
            "watch_count": watcher.watch_count,
            "rss_mb": rss_mb(),
            "rss_delta_mb": rss_mb() - rss0,
        }
        time.sleep(0.5)
        out |= idle(idle_s)
        out |= latency(root, events)
        out["ignored_trigger"] = ignored_writes(root, events)
        debouncer.next_batch(threading.Event(), timeout=0.5)  # drop what the tests above queued
        out |= burst(root, events, debouncer)
        out["rss_after_mb"] = rss_mb()
    return out


def measure_watchdog(root: Path, idle_s: float, *, changes_only: bool) -> dict[str, Any]:
    from watchdog.events import FileSystemEvent as Ev
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    overflows = [0]

    class CountOverflows(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "overflow" in record.getMessage():
                overflows[0] += 1

    logging.getLogger("watchdog").addHandler(CountOverflows())
    events = Events()

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: Ev) -> None:
            events(os.path.relpath(os.fsdecode(event.src_path), root).replace(os.sep, "/"))

    event_filter = None
    if changes_only:
        import watchdog.events as we

        event_filter = [
            we.FileCreatedEvent, we.FileModifiedEvent, we.FileDeletedEvent, we.FileMovedEvent,
            we.FileClosedEvent, we.FileAttribEvent, we.DirCreatedEvent, we.DirModifiedEvent,
            we.DirDeletedEvent, we.DirMovedEvent, we.DirAttribEvent,
        ]  # fmt: skip
    rss0 = rss_mb()
    t0 = time.perf_counter()
    observer = Observer()
    observer.schedule(Handler(), str(root), recursive=True, event_filter=event_filter)
    observer.start()
    t1 = time.perf_counter()
    out: dict[str, Any] = {
        "mode": "inotify",
        "startup_s": t1 - t0,
        "watches": inotify_watches(),
        "rss_mb": rss_mb(),
        "rss_delta_mb": rss_mb() - rss0,
    }
    try:
        time.sleep(0.5)
        out |= idle(idle_s)
        out |= latency(root, events, n=10)
        out["ignored_trigger"] = ignored_writes(root, events)
        out["overflows"] = overflows[0]
    finally:
        observer.stop()
        observer.join(5)
    return out


MEASURES: dict[str, Callable[[Path, float], dict[str, Any]]] = {
    "devenv": measure_devenv,
    "watchdog": lambda root, idle_s: measure_watchdog(root, idle_s, changes_only=False),
    "watchdog-changes": lambda root, idle_s: measure_watchdog(root, idle_s, changes_only=True),
}


def clean_writes(tree: Path) -> None:
    """Remove what a measurement wrote, so every contender sees the same tree."""
    shutil.rmtree(tree / "api" / "burst", ignore_errors=True)
    for path in [*(tree / "api/mod0/sub0").glob("latency_*.py"), tree / "api/mod1/sub1/sentinel.py"]:
        path.unlink(missing_ok=True)


def run_child(kind: str, tree: Path, idle_s: float) -> dict[str, Any]:
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--measure", kind, "--tree", str(tree), "--idle", str(idle_s)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        clean_writes(tree)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout)


def compose_watch_figure(folders: int) -> dict[str, Any]:
    try:
        proc = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=15, check=False)
        available = proc.returncode == 0
        version = proc.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        available, version = False, ""
    return {"available": available, "version": version, "watches": folders + 1}


# --- report ---------------------------------------------------------------------------


def fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


ROWS = [
    ("mode", "mode", ""),
    ("start-up (construct + start), s", "startup_s", ""),
    ("  of which ignore rules, s", "rules_s", ""),
    ("inotify watches (kernel fdinfo)", "watches", ""),
    ("watches while idle, min-max", "watches_range", ""),
    ("resident memory, MB", "rss_mb", ""),
    ("  added by the watcher, MB", "rss_delta_mb", ""),
    ("idle CPU, % of a core", "idle_cpu_pct", ""),
    ("write in api/ -> callback, ms (median)", "latency_ms", ""),
    ("  writes missed", "latency_missed", ""),
    ("node_modules / .git write -> callback", "ignored_trigger", ""),  # "-": nothing arrived at all
    ("queue overflows logged", "overflows", ""),
    ("burst of 2,000 writes: callbacks", "burst_callbacks", ""),
    ("burst of 2,000 writes: batches", "burst_batches", ""),
]


def print_table(results: dict[str, Any]) -> None:
    tree = results["tree"]
    print(
        f"tree: {tree['files']:,} files in {tree['folders']:,} folders (built in {tree['build_s']:.1f} s); "
        f"idle window {results['idle_s']:g} s\n"
    )
    columns = ["devenv", "watchdog", "watchdog-changes", "compose watch"]
    figures = {name: dict(results.get(name, {})) for name in columns[:3]}
    for fig in figures.values():
        if "watches_min" in fig:
            fig["watches_range"] = f"{fig['watches_min']}-{fig['watches_max']}"
    compose = results["compose"]
    figures["compose watch"] = {"mode": "inotify", "watches": compose["watches"]}
    width = max(len(label) for label, _, _ in ROWS)
    print(f"{'':{width}}  " + "  ".join(f"{c:>16}" for c in columns))
    for label, key, unit in ROWS:
        cells = [fmt(figures[c].get(key, figures[c].get("error") if key == "mode" else None), unit) for c in columns]
        print(f"{label:{width}}  " + "  ".join(f"{cell:>16}" for cell in cells))
    note = compose["version"] if compose["available"] else "docker compose not available"
    print(f"\ncompose watch: one watch per folder, counted not run ({note})")
    dev = results.get("devenv", {})
    checks = [
        ("start-up < 1 s", dev.get("startup_s", 99) < TARGETS["startup_s"]),
        ("idle CPU < 1 %", dev.get("idle_cpu_pct", 99) < TARGETS["idle_cpu_pct"]),
        ("resident < 100 MB", dev.get("rss_mb", 999) < TARGETS["rss_mb"]),
        ("burst -> exactly 1 batch", dev.get("burst_batches") == TARGETS["burst_batches"]),
        ("node_modules/.git writes ignored", dev.get("ignored_trigger") is False),
    ]
    print("targets: " + ", ".join(f"{name}: {'PASS' if ok else 'FAIL'}" for name, ok in checks))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--idle", type=float, default=10.0, help="idle window per contender, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the generated tree")
    parser.add_argument("--only", choices=sorted(MEASURES), action="append", help="measure only these")
    parser.add_argument("--measure", choices=sorted(MEASURES), help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(MEASURES[args.measure](args.tree, args.idle)))
        return 0

    base = Path(tempfile.mkdtemp(prefix="devenv-bench-"))
    try:
        tree = base / "ragflow"
        t0 = time.perf_counter()
        shape = build_tree(tree)
        results: dict[str, Any] = {"tree": shape | {"build_s": time.perf_counter() - t0}, "idle_s": args.idle}
        for kind in args.only or ["devenv", "watchdog", "watchdog-changes"]:
            results[kind] = run_child(kind, tree, args.idle)
        results["compose"] = compose_watch_figure(shape["folders"])
    finally:
        if args.keep:
            print(f"tree kept in {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
