"""``devenv verify``: the manual check, automated.

1. Mounts are live: a fresh file written on the host in each mounted package
   is seen, byte for byte, by the container (and its removal too).
2. A restart of the server's processes gives new processes (new PIDs).
3. The health endpoint answers afterwards.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

from ..app.context import AppContext
from ..core import rules as R
from ..core.errors import EXIT_FAILED, EXIT_OK, DevenvError
from ..loop.reloader import Reloader


def run(app: AppContext, *, as_json: bool = False) -> int:
    ws = app.workspace()
    plan = ws.plan()
    reloader = Reloader(plan, ws.target(), app.engine(), ws.root, reload_timeout=ws.settings["server.reload_timeout"],
                        kill_after=ws.settings["reload.kill_after"])
    result: dict[str, Any] = {"service": plan.service, "mounts": {}, "restart": None, "verified": False}
    try:
        container = reloader.server_container()
        agent = app.engine().agent(container.id)
        packages = plan.packages if plan.mode == "packages" else ("",)
        for pkg in packages:
            result["mounts"][pkg or "."] = mount_is_live(ws.root / pkg, reloader, agent, pkg)
        names = frozenset(p.name for p in plan.processes)
        report = reloader.run(R.Decision(R.SIGNAL if names else R.RESTART, names))
        result["restart"] = report.as_json()
        result["verified"] = all(m["live"] for m in result["mounts"].values()) and report.ok
    except DevenvError as e:
        result["error"] = e.message
    finally:
        reloader.close()
    if as_json:
        app.ui.print(json.dumps(result, indent=2))
    else:
        for pkg, m in result["mounts"].items():
            app.ui.print(f"mount {pkg:<12} {'live' if m['live'] else 'NOT LIVE'} ({m['detail']})")
        if result["restart"]:
            r = result["restart"]
            app.ui.print(f"restart       {'ok' if r['ok'] else 'FAILED'}: " + "; ".join(r["details"] + ([r["error"]] if r["error"] else [])))
        if "error" in result:
            app.ui.print(f"error         {result['error']}")
        app.ui.print("verified" if result["verified"] else "NOT verified")
    return EXIT_OK if result["verified"] else EXIT_FAILED


def mount_is_live(folder: Path, reloader: Reloader, agent, pkg: str) -> dict[str, Any]:
    """Write a fresh probe file on the host; the container must see its bytes, then its removal."""
    import hashlib

    name = f".devenv-verify-{secrets.token_hex(4)}.tmp"  # *.tmp: the watcher ignores it
    payload = secrets.token_bytes(32)
    host = folder / name
    target = "/ragflow/" + (f"{pkg}/{name}" if pkg else name)
    started = time.monotonic()
    try:
        host.write_bytes(payload)
        expect = hashlib.sha256(payload).hexdigest()
        seen = _wait(agent, target, expect)
    finally:
        host.unlink(missing_ok=True)
    gone = _wait(agent, target, None)
    ms = (time.monotonic() - started) * 1000
    live = seen and gone
    return {"live": live, "detail": f"host write seen in {ms:.0f} ms" if live else "the container does not see the host's writes"}


def _wait(agent, target: str, expect: str | None, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if agent.request({"op": "hash", "paths": [target]})["hashes"][target] == expect:
            return True
        time.sleep(0.02)
    return False
