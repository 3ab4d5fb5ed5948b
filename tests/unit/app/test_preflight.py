"""Preflight checks that need no engine: the checkout's release against the image's tag."""

from __future__ import annotations

import re

from devenv.app import preflight as P
from devenv.app.fsio import read_checkout
from devenv.core.detect import detect
from tests.fixtures import make_checkout


def detection(tmp_path, release: str, image: str | None = None):
    root = make_checkout(tmp_path / "c", release)
    if image is not None:
        env = root / "docker" / ".env"
        env.write_text(re.sub(r"^RAGFLOW_IMAGE=.*$", f"RAGFLOW_IMAGE={image}", env.read_text(), flags=re.M))
    return detect(read_checkout(root, {}))


def test_an_image_older_than_the_checkout_warns_with_the_fix(tmp_path):
    check = P.check_release(detection(tmp_path, "v0.27.0", "infiniflow/ragflow:v0.24.0"))
    assert check.status == P.WARN
    assert "looks like v0.27.0 or later" in check.message and "RAGFLOW_IMAGE" in check.fix


def test_matching_release_passes(tmp_path):
    assert P.check_release(detection(tmp_path, "v0.24.0")).status == P.PASS


def test_an_untagged_release_reports_the_layout(tmp_path):
    check = P.check_release(detection(tmp_path, "v0.27.0", "infiniflow/ragflow:nightly"))
    assert check.status == P.PASS and "layout v0.27.0 or later" in check.message


def test_the_crlf_fix_touches_only_the_entrypoint_and_keeps_uncommitted_work(tmp_path):
    """Run the printed fix in a git checkout with uncommitted edits: only the entrypoint changes."""
    import subprocess

    root = tmp_path / "c"
    (root / "docker").mkdir(parents=True)
    entry = root / "docker" / "entrypoint.sh"
    entry.write_bytes(b"#!/bin/bash\necho start\nexec sleep 1\n")
    entry.chmod(0o755)
    (root / "api.py").write_text("A = 1\n")

    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True, capture_output=True)

    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "init")
    (root / "api.py").write_text("A = 2  # uncommitted work\n")
    entry.write_bytes(entry.read_bytes().replace(b"\n", b"\r\n") + b"echo edited\r\n")  # CRLF and an uncommitted edit

    check = P.check_line_endings(root)
    assert check.status == P.FAIL and "reset --hard" not in check.fix and "git rm" not in check.fix
    command = re.search(r"convert only this file: (.+?) \(or", check.fix).group(1)
    subprocess.run(command, shell=True, cwd=root, check=True)  # the user pastes it into a shell

    assert P.check_line_endings(root).status == P.PASS
    assert entry.read_bytes() == b"#!/bin/bash\necho start\nexec sleep 1\necho edited\n"  # the edit survives too
    assert (root / "api.py").read_text() == "A = 2  # uncommitted work\n"
    assert "git config core.autocrlf input" in check.fix
