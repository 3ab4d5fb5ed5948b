"""Files the containers wrote as root (issue 13 item 1): found on the host, given back through a
throwaway container of the server's image. The engine is the FakeEngine here, standing in for the
engine's root by chowning on the host itself; tests/e2e/test_nonroot.py proves it as a non-root
user on a real engine."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from devenv.app import ownership
from devenv.core.errors import EXIT_OK
from devenv.core.ownership import MOUNT_ROOT, give_back_argv
from tests.fakes import Devenv

OTHER = 54321  # a uid that is not the test's (as root, a test can make files of any owner)

needs_root = pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="making files of another owner needs root")


def foreign(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chown(path, OTHER, OTHER)
    return path


def engine_as_root(ref, argv, binds):
    """What the throwaway container does: chown what ``find ! -uid UID`` finds, print each path."""
    assert argv[: len(binds) + 1] == ["find", *(target for _host, target in binds)]
    uid, gid = (int(x) for x in argv[argv.index("chown") + 2].split(":"))
    printed = []
    for host, target in binds:
        for path in [Path(host), *Path(host).rglob("*")]:
            if path.lstat().st_uid != uid:
                os.chown(path, uid, gid, follow_symlinks=False)
                printed.append(target + str(path)[len(host):])
    return "".join(line + "\n" for line in printed)


@needs_root
def test_the_scan_finds_what_is_not_the_users_and_stops_at_its_limit(tmp_path: Path) -> None:
    for i in range(5):
        foreign(tmp_path / "logs" / f"f{i}.log")
    (tmp_path / "cache" / "mine").mkdir(parents=True)
    os.symlink("/etc/passwd", tmp_path / "cache" / "link")  # a link is looked at, never followed
    found = ownership.scan(tmp_path, ["cache", "logs", "missing"], uid=0)
    assert found.count == 5 and found.folders == ["logs"] and len(found.examples) == 3 and not found.more
    assert all(e.startswith("logs/f") for e in found.examples)
    limited = ownership.scan(tmp_path, ["logs"], uid=0, limit=2)
    assert limited.count == 2 and limited.more and limited.describe().startswith("2+ file(s) in logs")


@needs_root
def test_down_gives_back_what_the_containers_wrote_through_one_throwaway_container(devenv: Devenv, checkout, monkeypatch) -> None:
    root = checkout("v0.22.0")
    assert devenv("-C", root, "plan").exit_code == EXIT_OK
    monkeypatch.setattr(ownership, "applies", lambda: True)
    devenv.engine.run_once_result = engine_as_root
    pyc = foreign(root / ".devenv" / "cache" / "pycache" / "ragflow" / "api" / "x.cpython-310.pyc")
    os.chown(pyc.parent, OTHER, OTHER)
    log = foreign(root / "docker" / "ragflow-logs" / "ragflow_server.log")
    mine = root / "api" / "apps" / "kb_app.py"
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("x = 1\n")

    result = devenv("-C", root, "down")
    assert result.exit_code == EXIT_OK, result.output
    runs = [c for c in devenv.engine.calls if c.name == "run_once"]
    assert len(runs) == 1
    image, argv, binds = runs[0].args
    assert image == "infiniflow/ragflow:v0.22.0"
    hosts = sorted(Path(h).relative_to(root).as_posix() for h, _ in binds)
    assert hosts == [".devenv/cache/pycache", "docker/ragflow-logs"]  # only folders holding such files
    assert list(argv) == give_back_argv(2, 0, os.getgid()) and all(t.startswith(MOUNT_ROOT) for _, t in binds)
    assert "gave back 3 file(s) the containers wrote as root" in result.stderr
    assert pyc.stat().st_uid == 0 and pyc.parent.stat().st_uid == 0 and log.stat().st_uid == 0
    names = devenv.engine.names()
    assert names.index("compose_down") < names.index("run_once")  # given back once nothing writes any more


@needs_root
def test_nothing_foreign_runs_no_container_and_doctor_passes(devenv: Devenv, checkout, monkeypatch) -> None:
    root = checkout("v0.22.0")
    monkeypatch.setattr(ownership, "applies", lambda: True)
    (root / "docker" / "ragflow-logs").mkdir(parents=True, exist_ok=True)
    (root / "docker" / "ragflow-logs" / "mine.log").write_text("x")
    assert devenv("-C", root, "down").exit_code == EXIT_OK
    assert "run_once" not in devenv.engine.names()
    doctor = devenv("-C", root, "doctor")
    assert re.search(r"ok +file owners +every file the containers wrote through the mounts is yours", doctor.stdout), doctor.stdout


@needs_root
def test_doctor_counts_them_and_reclaim_gives_them_back(devenv: Devenv, checkout, monkeypatch) -> None:
    root = checkout("v0.22.0")
    assert devenv("-C", root, "plan").exit_code == EXIT_OK
    monkeypatch.setattr(ownership, "applies", lambda: True)
    for i in range(4):
        foreign(root / ".devenv" / "cache" / "uv" / f"wheel{i}")
    doctor = devenv("-C", root, "doctor")
    assert re.search(r"warn +file owners +4 file\(s\) in \.devenv/cache/uv are not yours", doctor.stdout), doctor.stdout
    assert "fix: devenv reclaim (gives them back through the engine, no sudo)" in doctor.stdout

    devenv.engine.run_once_result = engine_as_root
    result = devenv("-C", root, "reclaim")
    assert result.exit_code == EXIT_OK, result.output
    assert "gave back 4 file(s) the containers wrote as root" in result.stderr
    assert re.search(r"ok +file owners +every file", devenv("-C", root, "doctor").stdout)
    again = devenv("-C", root, "reclaim")
    assert "nothing to give back" in again.stderr and devenv.engine.names().count("run_once") == 1


@needs_root
def test_what_the_engine_could_not_give_back_is_an_error_with_the_manual_fix(devenv: Devenv, checkout, monkeypatch) -> None:
    root = checkout("v0.22.0")
    monkeypatch.setattr(ownership, "applies", lambda: True)
    foreign(root / "docker" / "ragflow-logs" / "a.log")
    devenv.engine.run_once_result = ""  # a remapped engine: its chown did not reach the host's uid
    result = devenv("-C", root, "reclaim")
    assert result.exit_code != EXIT_OK
    assert "1 file(s) in docker/ragflow-logs are not yours" in result.stderr
    assert f"sudo chown -R 0:{os.getgid()} docker/ragflow-logs" in result.stderr

    devenv.engine.images = set()  # and without the server's image there is nothing to run it with
    result = devenv("-C", root, "reclaim")
    assert result.exit_code != EXIT_OK and "the server's image (infiniflow/ragflow:v0.22.0) is not on this engine" in result.stderr


def test_as_root_reclaim_does_nothing(devenv: Devenv, checkout, monkeypatch) -> None:
    root = checkout("v0.22.0")
    monkeypatch.setattr(ownership, "applies", lambda: False)
    result = devenv("-C", root, "reclaim")
    assert result.exit_code == EXIT_OK and "nothing to give back" in result.stderr
    assert "run_once" not in devenv.engine.names()
