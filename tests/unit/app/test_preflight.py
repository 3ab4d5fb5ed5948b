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
