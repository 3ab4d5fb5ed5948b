"""In-place patch vs warm vs cold reloads of real RAGFlow, side by side, in one run.

    python3 scripts/bench_warm.py --checkout /tmp/realwarm --url http://127.0.0.1:49380 [--trials 10] [--rag-trials 3]

Needs the stack up with `devenv up` watching that checkout, its output in --log
(default CHECKOUT/.devenv/bench-up.log; with --start the script runs `devenv up` itself and stops it).
For each mode (patch: `reload.patch = true` in devenv.toml, applied to the running watch; warm:
patch off; cold: also warm off through CHECKOUT/.devenv/warm/off, which the shim reads at each
start; no recreate between them), it edits api/apps/system_app.py so /v1/system/ping answers a
new marker and times save -> marker served from outside (poll every 50 ms), after warm-up edits
that are not counted (the first warm start needs a parent). Then rag/nlp/query.py edits inside a
function body (server, task executor and data sync take it), timed by devenv's own "save->healthy" figure. Prints a
table (median, min, max), how each restart started (devenv's reload line), and the warm
parents' resident memory (`warm.py --status` in the container).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

API_FILE = "api/apps/system_app.py"
RAG_FILE = "rag/nlp/query.py"
PING = re.compile(r'return "pong[^"]*", 200')


def get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read().decode()
    except Exception:
        return None


def reload_lines(log: Path) -> list[str]:
    try:
        return [line for line in log.read_text(errors="replace").splitlines() if "reload ok" in line or "reload failed" in line.lower()]
    except OSError:
        return []


def wait_line(log: Path, before: int, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = reload_lines(log)
        if len(lines) > before:
            return lines[before]
        time.sleep(0.1)
    raise SystemExit(f"no reload line in {log} within {timeout:.0f} s")


def api_trial(root: Path, url: str, log: Path, tag: str) -> tuple[float, str]:
    path = root / API_FILE
    text = path.read_text()
    marker = f"pong-{tag}-{time.time_ns() % 10**9}"
    before = len(reload_lines(log))
    saved = time.monotonic()
    path.write_text(PING.sub(f'return "{marker}", 200', text, count=1))
    while get(url + "/v1/system/ping") != marker:
        if time.monotonic() - saved > 240:
            raise SystemExit(f"{marker} not served within 240 s")
        time.sleep(0.05)
    served = time.monotonic() - saved
    return served, wait_line(log, before)


def rag_trial(root: Path, log: Path) -> tuple[float, str]:
    """A change inside a function body of rag/nlp/query.py (the first statement of FulltextQueryer.__init__)."""
    path = root / RAG_FILE
    lines = path.read_text().splitlines(keepends=True)
    stamp = f'        _devenv_bench = "{time.time_ns()}"\n'
    at = next(i for i, line in enumerate(lines) if line.startswith("    def __init__(self")) + 1
    if lines[at].lstrip().startswith("_devenv_bench ="):
        lines[at] = stamp
    else:
        lines.insert(at, stamp)
    before = len(reload_lines(log))
    path.write_text("".join(lines))
    line = wait_line(log, before)
    m = re.search(r"([\d.]+) s save->healthy", line)
    return (float(m.group(1)) if m else float("nan")), line


def set_patch(settings: Path, before: str | None, on: bool, log: Path) -> None:
    """Turn reload.patch on or off in devenv.toml and wait until the running watch applied it."""
    text = (before or "") + f"\n[reload]\npatch = {'true' if on else 'false'}\n" if "[reload]" not in (before or "") else None
    if text is None:
        raise SystemExit("devenv.toml has a [reload] section: remove it for the benchmark")
    if settings.exists() and settings.read_text() == text:
        return
    count = len(reload_lines(log))
    settings.write_text(text)
    line = wait_line(log, count)
    if "settings applied" not in line:
        raise SystemExit(f"devenv did not apply reload.patch live: {line}")


def how(line: str) -> str:
    parts = [p.strip() for p in line.split(";") if " warm (" in p or " cold" in p or "in place" in p]
    return ", ".join(parts) or "?"


def stats(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.median(xs):6.2f} {min(xs):6.2f} {max(xs):6.2f}"


def container(root: Path) -> str:
    out = subprocess.run(["docker", "ps", "--filter", "label=dev.devenv.managed=true", "--format", "{{.Names}}"],
                         capture_output=True, text=True, check=True).stdout.split()
    env = (root / "docker" / ".env").read_text()
    found = re.search(r"^COMPOSE_PROJECT_NAME=(\S+)", env, re.M)
    project = os.environ.get("COMPOSE_PROJECT_NAME") or (found.group(1) if found else "docker")  # as compose decides
    names = [n for n in out if n.startswith(project + "-")]
    if not names:
        raise SystemExit("no devenv-managed server container for this checkout: run `devenv up` first")
    return names[0]


def warm_status(name: str) -> dict:
    out = subprocess.run(["docker", "exec", name, "python3", "/devenv-hooks/warm.py", "--status"], capture_output=True, text=True)
    try:
        return json.loads(out.stdout)
    except ValueError:
        return {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkout", type=Path, required=True)
    ap.add_argument("--url", required=True)
    ap.add_argument("--log", type=Path)
    ap.add_argument("--start", action="store_true", help="run `devenv up` here (log to --log) and stop it at the end")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--rag-trials", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rag-warmup", type=int, default=2, help="uncounted rag/ edits in warm mode (the task executor's parent)")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped: still restore the files and the switch
    root = args.checkout.resolve()
    log = args.log or root / ".devenv" / "bench-up.log"
    off = root / ".devenv" / "warm" / "off"
    up = None
    if args.start:
        up = subprocess.Popen([sys.executable, "-m", "devenv", "up"], cwd=root, stdout=log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        while "ready:" not in log.read_text(errors="replace"):
            if up.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"devenv up did not get ready: see {log}")
            time.sleep(1)
    original = {f: (root / f).read_text() for f in (API_FILE, RAG_FILE)}
    settings = root / "devenv.toml"
    settings_before = settings.read_text() if settings.exists() else None
    results: dict[str, dict[str, list]] = {}
    try:
        for mode in ("patch", "warm", "cold"):
            set_patch(settings, settings_before, mode == "patch", log)
            if mode == "cold":
                off.parent.mkdir(parents=True, exist_ok=True)
                off.touch()
            else:
                off.unlink(missing_ok=True)
            r = results[mode] = {"api": [], "api_devenv": [], "rag": [], "how": []}
            for i in range(args.warmup):  # not counted: the parents start and learn
                secs, line = api_trial(root, args.url, log, f"{mode}warmup{i}")
                print(f"  {mode} warm-up {i + 1}: {secs:.2f} s ({how(line)})", flush=True)
            for i in range(args.trials):
                secs, line = api_trial(root, args.url, log, f"{mode}{i}")
                m = re.search(r"([\d.]+) s save->healthy", line)
                r["api"].append(secs)
                r["api_devenv"].append(float(m.group(1)) if m else float("nan"))
                r["how"].append(how(line))
                print(f"  {mode} api/apps trial {i + 1}: {secs:.2f} s served ({how(line)})", flush=True)
            for i in range(args.rag_warmup if mode == "patch" else 0):
                secs, line = rag_trial(root, log)
                print(f"  {mode} rag/ warm-up {i + 1}: {secs:.2f} s ({how(line)})", flush=True)
            for i in range(args.rag_trials):
                secs, line = rag_trial(root, log)
                r["rag"].append(secs)
                print(f"  {mode} rag/ trial {i + 1}: {secs:.2f} s save->healthy ({how(line)})", flush=True)
        try:
            status = warm_status(container(root))
        except SystemExit as e:  # the figures stand without it
            print(e, file=sys.stderr)
            status = {}
    finally:
        off.unlink(missing_ok=True)
        if settings_before is None:
            settings.unlink(missing_ok=True)
        else:
            settings.write_text(settings_before)
        for f, text in original.items():
            (root / f).write_text(text)
        if up is not None:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=60)
    p, w, c = results["patch"], results["warm"], results["cold"]
    print(f"\nRAGFlow v0.22.0 real stack, {args.trials} api/apps trials and {args.rag_trials} rag/ trials per mode (seconds: median min max)")
    print(f"{'edit':34} {'patch (reload.patch on)':>23}   {'warm (reload.warm on)':>22}   {'cold (both off)':>22}")
    for label, key in (("api/apps -> new code served", "api"), ("api/apps, devenv save->healthy", "api_devenv"),
                       ("rag/ (3 processes), save->healthy", "rag")):
        print(f"{label:34} {stats(p[key]):>23}   {stats(w[key]):>22}   {stats(c[key]):>22}")
    print(f"patch trials patched in place: {sum('swapped in place' in h for h in p['how'])}/{len(p['how'])}; "
          f"warm trials that really forked: {sum(' warm (' in h for h in w['how'])}/{len(w['how'])}; "
          f"cold trials started cold: {sum('cold' in h for h in c['how'])}/{len(c['how'])}")
    for parent in status.get("parents", []):
        if parent.get("alive"):
            print(f"warm parent {parent['script']}: pid {parent['pid']}, {parent.get('rss_kb', 0) / 1024:.0f} MB resident, "
                  f"{parent.get('hits')} forks, {parent.get('fallbacks')} fallbacks, {parent.get('preloaded')} modules "
                  f"preloaded in {parent.get('preload_s')} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
