"""devenv.toml changed during watch (issue 13 item 7): settings-only changes apply to the running
watch; a change of the compose model still recreates. FakeEngine; the e2e proof is
tests/e2e/test_reload.py::test_a_settings_change_during_watch_is_applied_live_without_recreating."""

from __future__ import annotations

import io
import threading
import time

from devenv.app.ui import UI
from devenv.app.workspace import open_workspace
from devenv.loop.session import WatchSession
from tests.fakes import FakeEngine


def session_for(root):
    engine = FakeEngine()
    ws = open_workspace(root, engine, {})
    err = io.StringIO()
    session = WatchSession(ws, ws.plan(), engine, UI(out=err, err=err), threading.Event(),
                           replan=lambda: (lambda fresh: (fresh, fresh.plan()))(open_workspace(root, engine, {})))
    session.reloader.reload_timeout = 0.3
    return session, engine, err


def test_watch_settings_apply_to_the_running_watch_and_nothing_is_recreated(checkout):
    root = checkout("v0.24.0")
    session, engine, out = session_for(root)
    container_before = session.plan
    (root / "devenv.toml").write_text('[watch]\nignore = ["api/scratch/"]\ndebounce_ms = 400\n\n[server]\nreload_timeout = 45\n')
    engine.calls.clear()
    assert session.handle(["devenv.toml"], time.time()) is None
    assert "devenv.toml -> settings applied to this watch; the container is unchanged (not recreated)" in out.getvalue()
    assert session._rewatch and session.ws.settings["watch.debounce_ms"] == 400
    assert session.ws.settings["watch.ignore"] == ["api/scratch/"] and session.reloader.reload_timeout == 45
    assert "compose_up" not in engine.names() and session.plan.mounts == container_before.mounts


def test_a_settings_change_that_changes_the_override_still_recreates(checkout):
    root = checkout("v0.24.0")
    session, engine, out = session_for(root)
    (root / "devenv.toml").write_text("[mounts]\ncaches = false\n")
    engine.calls.clear()
    session.handle(["devenv.toml"], time.time())
    assert "settings applied" not in out.getvalue() and not session._rewatch
    assert "compose_up" in engine.names()  # the container must change: recreated
    assert engine.names().count("compose_config") == 1  # the model read to compare is the one recreated from


def test_a_save_made_while_the_watch_takes_the_new_settings_is_not_lost(checkout, monkeypatch):
    """The new watcher is in place before the old one stops. A real watcher takes a moment to walk
    the tree; here half a second: a save made then fell between the two and was never seen."""
    from devenv.watch import watcher as watcher_module

    original = watcher_module.Watcher.start

    def slow_start(self):
        time.sleep(0.5)
        return original(self)

    monkeypatch.setattr(watcher_module.Watcher, "start", slow_start)
    root = checkout("v0.24.0")
    session, _engine, out = session_for(root)
    runner = threading.Thread(target=session.run, daemon=True)
    runner.start()
    try:
        def wait_for(text, timeout=10.0):
            deadline = time.monotonic() + timeout
            while text not in out.getvalue():
                assert time.monotonic() < deadline, out.getvalue()
                time.sleep(0.01)

        wait_for("Ctrl-C stops watching")
        (root / "devenv.toml").write_text("[watch]\ndebounce_ms = 50\n")
        wait_for("settings applied")
        (root / "api" / "saved_meanwhile.py").write_text("X = 1\n")  # while the new watcher starts
        wait_for("api/saved_meanwhile.py ->")
    finally:
        session.stop.set()
        runner.join(10)
