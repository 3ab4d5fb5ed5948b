"""``devenv status [--json]``: the stack as the engine sees it, fast.

No compose subprocess: the project name is derived as compose derives it and
everything else comes from the docker SDK (milliseconds) and .devenv/state.json.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..app import state
from ..app.context import AppContext
from ..app.owner import ensure_ours
from ..app.ui import table, to_json
from ..core.errors import EXIT_OK
from ..core.plan import CACHE_DIR
from ..engine import ContainerState

SIZE_BUDGET = 0.25  # seconds spent measuring cache folders before giving an estimate


def run(app: AppContext, *, as_json: bool = False) -> int:
    ws = app.workspace()
    det = ws.detection
    project = det.project  # as compose names it, without asking compose (a 100+ ms subprocess)
    containers = ensure_ours(app.engine().containers(project), project, ws.project_dir, "status")
    service = ws.settings["compose.service"] or next(
        (s for s in det.server_candidates if any(c.service == s for c in containers)), det.server_candidates[0])
    data = collect(ws.root, project, service, containers, state.load(ws.root))
    data["processes"] = processes(app.engine(), containers, service, det.processes, state.load(ws.root))
    if as_json:
        app.ui.print(to_json(data))
    else:
        app.ui.print(render(data))
    return EXIT_OK


def collect(root: Path, project: str, service: str, containers: list[ContainerState], st: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    server = next((c for c in containers if c.service == service and c.running), None) or next(
        (c for c in containers if c.service == service), None)
    return {
        "project": project,
        "checkout": str(root),
        "server_service": service,
        "services": [
            {
                "service": c.service, "container": c.name, "id": c.id[:12], "state": c.state, "health": c.health,
                "started_at": c.started_at.isoformat() if c.started_at else None,
                "uptime_seconds": round((now - c.started_at).total_seconds(), 1) if c.started_at and c.running else None,
                "restart_count": c.restart_count, "exit_code": c.exit_code,
                "ports": [f"{ip or '0.0.0.0'}:{hp}->{cp}" for cp, ip, hp in c.ports],
                "dev_mode": c.labels.get("dev.devenv.managed") == "true",
            }
            for c in sorted(containers, key=lambda c: c.service)
        ],
        "mounts": [{"type": m.type, "source": m.source, "destination": m.destination, "rw": m.rw} for m in server.mounts] if server else [],
        "caches": cache_sizes(root / CACHE_DIR),
        "watching": state.watcher_alive(st),
        "last_reload": st.get("last_reload"),
        "start": st.get("start"),
        "reloads": st.get("reloads", 0),
        "warm": st.get("warm"),  # warm parents at the last reload: script, pid, state, hits, rss_kb
    }


def processes(engine: Any, containers: list[ContainerState], service: str, specs: Any, st: dict[str, Any]) -> list[dict[str, Any]]:
    """The Python processes of the server container, read from it now (pid, uptime); restarts and exits
    devenv did not cause from the container's loop log (since it started), else as the watcher counted
    them in this container (None when neither knows)."""
    from ..core.errors import EngineError
    from ..loop.processes import ProcessProbe

    server = next((c for c in containers if c.service == service and c.running), None)
    if server is None:
        return []
    scripts = {p.name: p.script for p in specs}
    try:
        answer = engine.agent(server.id).request({"op": "procs", "scripts": list(scripts.values())}, timeout=5)
        found, loops = answer["procs"], answer.get("loops") or {}
    except (EngineError, KeyError):
        return []
    same = st.get("processes_container") == ProcessProbe(engine, scripts).container_key(server)
    counted = {p.get("script"): p for p in st.get("processes") or []} if same else {}
    out = []
    for name, script in scripts.items():
        mine = sorted((p for p in found if p["script"] == script), key=lambda p: p["start"])
        seen = counted.get(script, {})
        logged = loops.get(script)
        entry = {"name": name, "script": script, "running": bool(mine), "pid": mine[0]["pid"] if mine else None,
                 "uptime_seconds": mine[0].get("age") if mine else None,
                 "restarts": logged["launches"] - 1 if logged else seen.get("restarts") if seen else None,
                 "crash_exits": logged["exits"] - logged["devenv_exits"] if logged else None}
        out.append(entry)
    return out


def cache_sizes(folder: Path) -> dict[str, Any]:
    """Bytes in each cache folder; stops early on huge caches and says so (``complete``: false)."""
    out: dict[str, Any] = {}
    deadline = time.monotonic() + SIZE_BUDGET
    if not folder.is_dir():
        return out
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        total, complete = 0, True
        stack = [str(sub)]
        while stack:
            if time.monotonic() > deadline:
                complete = False
                break
            try:
                with os.scandir(stack.pop()) as it:
                    for entry in it:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
        out[sub.name] = {"bytes": total, "complete": complete}
    return out


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _outcome(last: dict[str, Any]) -> str:
    """``ok in 1.20 s``, or ``FAILED: <why>``: a failed reload has no duration to show."""
    if last.get("ok"):
        return f"ok in {last['seconds']:.2f} s" if last.get("seconds") is not None else "ok"
    return "FAILED" + (f": {last['error']}" if last.get("error") else "")


def render(d: dict[str, Any]) -> str:
    lines = [f"project {d['project']} ({d['checkout']}), server service {d['server_service']}"]
    if not d["services"]:
        lines.append("no containers: start the stack with `devenv up`")
    else:
        rows = [(s["service"], s["state"], s["health"] or "-", _age(s["uptime_seconds"]), str(s["restart_count"]),
                 "dev" if s["dev_mode"] else "-", ", ".join(s["ports"])) for s in d["services"]]
        lines += ["", table(rows, ("service", "state", "health", "up", "restarts", "mode", "ports"))]
    if d["mounts"]:
        mount_rows = [(m["source"], m["destination"], "rw" if m["rw"] else "ro", m["type"]) for m in d["mounts"]]
        lines += ["", "mounts of the server container (as the engine sees them):", table(mount_rows, ("source", "destination", "", "type"))]
    if d["caches"]:
        sizes = ", ".join(f"{k} {_size(v['bytes'])}{'' if v['complete'] else '+'}" for k, v in d["caches"].items())
        lines += ["", f"caches: {sizes}"]
    if d.get("processes"):
        shown = [f"{p['name']} pid {p['pid']} up {_age(p['uptime_seconds'])}"
                 + (f" ({p['restarts']} restarts)" if p.get("restarts") else "") if p["running"] else f"{p['name']} not running"
                 for p in d["processes"]]
        lines += ["", "processes: " + "; ".join(shown)]
    if d.get("start"):
        st = d["start"]
        lines.append("last start: " + ", ".join(f"{k} at {v:.1f} s" for k, v in st.items() if v is not None))
    last = d.get("last_reload")
    watching = "watching" if d["watching"] else "not watching"
    if last:
        when = datetime.fromtimestamp(last.get("finished_at", 0)).strftime("%H:%M:%S")
        lines.append(f"{watching}; last reload at {when}: {_outcome(last)} "
                     f"({last.get('action')}; {', '.join(last.get('paths', [])[:3]) or last.get('cause') or '(manual)'}); "
                     f"{d['reloads']} reloads")
    else:
        lines.append(f"{watching}; no reload yet")
    for p in d.get("warm") or []:
        rss = f"{p['rss_kb'] / 1024:.0f} MB resident" if p.get("rss_kb") else "not running"
        lines.append(f"warm parent for {p.get('script')}: {p.get('state')}, {rss}, {p.get('hits', 0)} warm starts, "
                     f"{p.get('fallbacks', 0)} fallbacks" + (f" ({p['reason']})" if p.get("reason") else ""))
    return "\n".join(lines)
