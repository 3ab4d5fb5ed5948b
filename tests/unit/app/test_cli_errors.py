"""Issue 13 (10): every error is devenv's one line with a fix, and `--json` always answers JSON."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from devenv.app import state
from devenv.core.errors import DevenvError
from tests.fixtures import make_checkout


def one_error(result, *fragments: str) -> str:
    err = result.stderr
    assert "Traceback" not in err and "╭" not in err + result.stdout, err  # no traceback, no typer box
    lines = [line for line in err.splitlines() if line.startswith("[devenv] error:")]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(params=["new", "used"])
def read_only(request, tmp_path: Path, devenv):
    """A checkout the current user cannot write: a read-only bind mount as root (who ignores modes), modes otherwise.
    "used": devenv planned it before (its folders exist), "new": never."""
    root = make_checkout(tmp_path / "c", "v0.24.0")
    if request.param == "used":
        assert devenv("-C", root, "plan").exit_code == 0
    if os.geteuid() != 0:
        for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
            folder.chmod(0o555)
        yield root
        for folder in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
            folder.chmod(0o755)
        return
    view = tmp_path / "ro"
    view.mkdir()
    if subprocess.run(["mount", "--bind", str(root), str(view)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True, capture_output=True)
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=True)


def test_a_read_only_checkout_is_one_line_and_exit_2(devenv, read_only):
    with pytest.raises(OSError):
        (read_only / "probe").write_text("x")  # really read-only
    result = devenv("-C", read_only, "plan")
    assert result.exit_code == 2, result.output
    if os.geteuid() == 0:  # a read-only file system: not an ownership problem
        err = one_error(result, "cannot write", "fix: devenv writes docker/docker-compose.devenv.yml and .devenv/")
        assert "chown" not in err
    else:  # folders of mode 555: the user's own; either fix is right
        one_error(result, "fix:")


@pytest.mark.parametrize("command", ["status", "verify"])  # doctor reports a bad checkout as one of its checks
def test_json_commands_answer_json_on_errors(devenv, tmp_path, command):
    result = devenv("-C", tmp_path, command, "--json")  # not a checkout
    assert result.exit_code == 2
    answer = json.loads(result.stdout)
    assert answer["exit"] == 2 and "not inside a RAGFlow checkout" in answer["error"] and "devenv demo" in answer["fix"]


def test_project_option_naming_a_file_is_devenvs_one_line_error(devenv, tmp_path):
    root = make_checkout(tmp_path / "c", "v0.24.0")
    result = devenv("-C", root / "docker" / "docker-compose.yml", "plan")
    assert result.exit_code == 2
    one_error(result, "docker-compose.yml is a file, not a folder", f"fix: pass the checkout folder: -C {root / 'docker'}")


@pytest.mark.parametrize("kind", ["edited", "foreign"])
def test_watch_and_up_give_the_same_refusal_for_a_hand_edited_override(devenv, tmp_path, kind):
    """`watch` said "run devenv up" while `up` refused: both now say why and give the one fix."""
    from devenv.core.override import OVERRIDE_NAME

    root = make_checkout(tmp_path / "c", "v0.24.0")
    (root / "docker" / "entrypoint.sh").chmod(0o755)  # up's preflight would stop at it first
    assert devenv("-C", root, "plan").exit_code == 0
    path = root / "docker" / OVERRIDE_NAME
    path.write_text(path.read_text().replace("stop_grace_period: 2s", "stop_grace_period: 9s") if kind == "edited" else "services: {}\n")
    answers = {}
    for command in ("watch", "up"):
        result = devenv("-C", root, command)
        assert result.exit_code == 2, result.output
        answers[command] = [line for line in result.stderr.splitlines() if "error:" in line or "fix:" in line]
    assert answers["watch"] == answers["up"], answers
    assert "devenv will not overwrite it" in answers["up"][0] and "devenv plan --force" in answers["up"][1]
    assert "run `devenv up`" not in "\n".join(answers["watch"])


def assert_commands_exist(text: str) -> None:
    """Every `devenv ...` span in backticks names a real command and real options, whole."""
    from typer.testing import CliRunner

    from devenv.app.cli import app

    spans = re.findall(r"`(devenv [^`]*)`", text)
    assert spans, text
    for span in spans:
        words = span.split()[1:]
        command, options = words[0], [w for w in words[1:] if w.startswith("-")]
        helped = CliRunner().invoke(app, [command, "--help"])
        assert helped.exit_code == 0, span
        for option in options:
            assert option in helped.stdout, f"{span}: {command} has no {option}"
    assert not re.search(r"`devenv [^`]*` --", text), f"an option outside its command's backticks: {text}"


def test_the_already_watching_fix_names_only_real_commands(tmp_path):
    from devenv.app.lock import WATCHING, CheckoutLock

    (tmp_path / ".devenv").mkdir()
    watcher = CheckoutLock(tmp_path, "watch")
    watcher.acquire()
    watcher.set_phase(WATCHING)
    try:
        with pytest.raises(DevenvError) as refused:
            CheckoutLock(tmp_path, "up").acquire()
    finally:
        watcher.release()
    fix = refused.value.fix or ""
    assert "watch --detach" not in fix and "start this one with --detach" not in fix
    assert f"kill {os.getpid()}" in fix
    assert_commands_exist(fix)


def test_plan_check_on_an_edited_override_keeps_the_option_inside_the_backticks(devenv, tmp_path):
    from devenv.core.override import OVERRIDE_NAME

    root = make_checkout(tmp_path / "c", "v0.24.0")
    assert devenv("-C", root, "plan").exit_code == 0
    path = root / "docker" / OVERRIDE_NAME
    path.write_text(path.read_text().replace("stop_grace_period: 2s", "stop_grace_period: 9s"))
    result = devenv("-C", root, "plan", "--check")
    assert result.exit_code == 1
    assert "fix: run `devenv plan --force` (it was edited by hand" in result.stderr, result.stderr
    assert_commands_exist(result.stderr)
