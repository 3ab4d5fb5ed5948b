"""The filesystem adapter on real temporary folders: finding and reading a checkout, atomic writes, folders."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devenv.app import fsio
from devenv.core.errors import CheckoutError, DevenvError
from tests.fixtures import checkout_files


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# --- atomic_write ----------------------------------------------------------------------------

def test_atomic_write_creates_with_0644_and_parents(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "f.yml"
    fsio.atomic_write(path, "x: 1\n")
    assert path.read_text() == "x: 1\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert listing(tmp_path) == ["a", "a/b", "a/b/f.yml"]


def test_atomic_write_keeps_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "entry.sh"
    path.write_text("old")
    path.chmod(0o750)
    fsio.atomic_write(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o750


def test_atomic_write_explicit_mode(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("old")
    fsio.atomic_write(path, "new", mode=0o600)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_atomic_write_writes_lf_and_utf8(tmp_path: Path) -> None:
    path = tmp_path / "f"
    fsio.atomic_write(path, "été\n数据\n")
    assert path.read_bytes() == "été\n数据\n".encode("utf-8")


def test_atomic_write_failure_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "f.yml"
    path.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        fsio.atomic_write(path, "half written \ud800 never")  # a lone surrogate cannot be encoded
    assert path.read_text() == "old\n"
    assert listing(tmp_path) == ["f.yml"]


def test_atomic_write_failure_at_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "f.yml"
    path.write_text("old\n")

    def refuse(src, dst):
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(fsio.os, "replace", refuse)
    with pytest.raises(OSError):
        fsio.atomic_write(path, "new\n")
    assert path.read_text() == "old\n" and listing(tmp_path) == ["f.yml"]


def test_atomic_write_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(fsio.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        fsio.atomic_write(tmp_path / "new.yml", "x")
    assert listing(tmp_path) == []


# --- ensure_dirs -----------------------------------------------------------------------------

def test_ensure_dirs_creates_and_reports(tmp_path: Path) -> None:
    (tmp_path / "exists").mkdir()
    created = fsio.ensure_dirs(tmp_path, ["exists", "a/b c/été", ".devenv/cache/uv", str(tmp_path / "abs")])
    assert created == [tmp_path / "a/b c/été", tmp_path / ".devenv/cache/uv", tmp_path / "abs"]
    assert all(p.is_dir() for p in created)
    assert fsio.ensure_dirs(tmp_path, ["exists", "a/b c/été"]) == []


def test_ensure_dirs_refuses_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "api").write_text("not a folder")
    with pytest.raises(DevenvError, match="should be a folder but is a file") as e:
        fsio.ensure_dirs(tmp_path, ["api"])
    assert e.value.fix and (tmp_path / "api").read_text() == "not a folder"


def test_ensure_dirs_refuses_a_file_on_the_way(tmp_path: Path) -> None:
    (tmp_path / "rag").write_text("a file where a folder should be")
    with pytest.raises(DevenvError, match=r"rag should be a folder but is a file"):
        fsio.ensure_dirs(tmp_path, ["rag/res/deepdoc"])


def test_ensure_dirs_refusal_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "api").write_text("x")
    with pytest.raises(DevenvError):
        fsio.ensure_dirs(tmp_path, [".devenv/cache/uv", "docker/logs", "api"])
    assert listing(tmp_path) == ["api"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_ensure_dirs_refuses_a_folder_it_cannot_write(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(DevenvError, match="is not writable by you") as e:
            fsio.ensure_dirs(tmp_path, ["locked"])
        assert "chown" in (e.value.fix or "")
    finally:
        locked.chmod(0o700)


def test_missing_files(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "entrypoint.sh").write_text("#!/bin/bash\n")
    (tmp_path / "docker" / "init.d").mkdir()  # a suffix, but a folder: RAGFlow's ./oceanbase/init.d
    assert fsio.missing_files(tmp_path, ["docker/entrypoint.sh", "docker/init.d", "docker/gone.sql"]) == ["docker/gone.sql"]


def test_ensure_state_dir(tmp_path: Path) -> None:
    state = fsio.ensure_state_dir(tmp_path)
    assert state == tmp_path / ".devenv" and (state / ".gitignore").read_text().splitlines()[-1] == "*"
    (state / ".gitignore").write_text("custom\n")
    fsio.ensure_state_dir(tmp_path)
    assert (state / ".gitignore").read_text() == "custom\n"


# --- finding and reading a checkout ----------------------------------------------------------

def test_find_checkout_from_a_subfolder(checkout) -> None:
    root = checkout("v0.24.0")
    assert fsio.find_checkout(root / "rag" / "svr") == root
    assert fsio.find_checkout(root) == root


def test_find_checkout_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckoutError, match="does not exist or is not a folder"):
        fsio.find_checkout(tmp_path / "nowhere")
    with pytest.raises(CheckoutError, match="is not inside a RAGFlow checkout") as e:
        fsio.find_checkout(tmp_path)
    assert "-C DIR" in (e.value.fix or "") and "devenv demo" in (e.value.fix or "")


def test_read_checkout(checkout) -> None:
    root = checkout("v0.27.0")
    (root / ".git" / "objects" / "ab").mkdir(parents=True)
    (root / "web" / "node_modules" / "x").mkdir(parents=True)
    (root / "linked").symlink_to(root / "api")
    snap = fsio.read_checkout(root, {"DEVICE": "gpu"})
    assert snap.root == str(root) and snap.environ == {"DEVICE": "gpu"}
    assert {"api", "rag", "rag/svr", "tools/scripts", "web/src", ".git"} <= snap.dirs
    assert "rag/svr" in snap.dirs and "rag/res" in snap.dirs
    assert not any(d.startswith(".git/") for d in snap.dirs)
    assert "linked" not in snap.dirs  # symlinks are not followed
    assert "web/node_modules" in snap.dirs and "web/node_modules/x" not in snap.dirs  # two levels only
    files = checkout_files("v0.27.0")
    assert dict(snap.texts) == {rel: files[rel] for rel in ("docker/docker-compose.yml", "docker/.env", "docker/entrypoint.sh", "Dockerfile")}
    assert {"docker-compose.yml", "docker-compose-base.yml", ".env", "entrypoint.sh"} <= snap.docker_files


def test_read_checkout_without_optional_files(checkout) -> None:
    root = checkout("v0.24.0")
    (root / "Dockerfile").unlink()
    (root / "docker" / "entrypoint.sh").unlink()
    assert set(fsio.read_checkout(root, {}).texts) == {"docker/docker-compose.yml", "docker/.env"}


def test_non_utf8_file(checkout) -> None:
    root = checkout("v0.24.0")
    (root / "docker" / ".env").write_bytes(b"TIMEZONE=\xe9t\xe9\n")
    with pytest.raises(CheckoutError, match="is not UTF-8 text") as e:
        fsio.read_checkout(root, {})
    assert e.value.fix == "save it as UTF-8"


def test_read_text(tmp_path: Path) -> None:
    assert fsio.read_text(tmp_path / "none") is None
    (tmp_path / "f").write_text("x")
    assert fsio.read_text(tmp_path / "f") == "x"
