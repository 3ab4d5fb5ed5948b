"""Issue 13 (11): `devenv status` and reload lines say what happened, never "FAILED in -" or "(manual)" for devenv's own acts."""

from __future__ import annotations

from devenv.commands.status import render
from devenv.loop.reloader import ReloadReport


def status_with(last: dict) -> str:
    return render({"project": "p", "checkout": "/c", "server_service": "ragflow-cpu", "services": [], "mounts": [],
                   "caches": {}, "watching": True, "reloads": 3, "last_reload": last})


def test_a_failed_reload_shows_why_not_a_dash_for_its_duration():
    report = ReloadReport(("api/x.py",), "restart server", error="the server exited while starting")
    text = status_with(report.as_json())
    assert "FAILED in -" not in text and " in -" not in text
    assert "last reload at" in text and "FAILED: the server exited while starting (restart server; api/x.py)" in text


def test_an_ok_reload_shows_its_duration():
    report = ReloadReport(("api/x.py",), "restart server", ok=True, seconds=1.234)
    assert "ok in 1.23 s (restart server; api/x.py); 3 reloads" in status_with(report.as_json())


def test_an_automatic_start_names_its_cause_not_manual():
    report = ReloadReport((), "start the container", ok=True, seconds=2.0, cause="the ragflow-cpu container is gone")
    assert report.summary().startswith("the ragflow-cpu container is gone -> start the container")
    assert "(start the container; the ragflow-cpu container is gone)" in status_with(report.as_json())
    assert ReloadReport((), "restart server").summary().startswith("(manual) -> ")  # `devenv restart` is manual
