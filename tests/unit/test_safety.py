"""Safe by default: no shell strings anywhere, secrets from .env masked in what devenv prints."""

from __future__ import annotations

import ast
from pathlib import Path

from devenv.app.ui import UI
from devenv.core.dotenv import mask_text
from tests.fixtures import PASSWORDS, make_checkout

PACKAGE = Path(__file__).resolve().parents[2] / "devenv"


def test_no_code_path_builds_a_shell_command():
    """No subprocess call with shell=True, no os.system / os.popen, anywhere in the package."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = ast.unparse(node.func)
                if func in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
                    offenders.append(f"{path.name}:{node.lineno} {func}")
                for kw in node.keywords:
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        offenders.append(f"{path.name}:{node.lineno} shell=")
    assert offenders == []


def test_secret_values_are_masked_in_every_line(capsys):
    ui = UI(secrets={"MYSQL_PASSWORD": "s3cret-value", "SVR_HTTP_PORT": "9380"})
    ui.info("connecting with s3cret-value on 9380")
    ui.print("dsn=mysql://root:s3cret-value@mysql:3306")
    captured = capsys.readouterr()
    assert "s3cret-value" not in captured.err + captured.out
    assert "****" in captured.err and "9380" in captured.err


def test_short_or_non_secret_values_are_left_alone():
    assert mask_text("port 9380 user abc", {"SVR_HTTP_PORT": "9380", "DB_PASSWORD": "abc"}) == "port 9380 user abc"


def test_devenv_logs_masks_the_checkouts_secrets(devenv, tmp_path):
    root = make_checkout(tmp_path / "c", "v0.24.0")
    password = PASSWORDS["MYSQL_PASSWORD"]
    devenv.engine.logs = f"server up\nconnecting to mysql with password {password}\n"
    result = devenv("-C", root, "logs")
    assert result.exit_code == 0, result.output
    assert "connecting to mysql" in result.stdout and password not in result.stdout


def test_devenv_logs_masks_the_env_file_password_when_the_shell_exports_another(devenv, tmp_path):
    """compose interpolates the shell's value, but `env_file: .env` gives the container the file's:
    both must be masked (the file's leaked when only the merged values were masked)."""
    root = make_checkout(tmp_path / "c", "v0.24.0")
    from_file = PASSWORDS["MYSQL_PASSWORD"]
    devenv.environ.update({"MYSQL_PASSWORD": "shell-exported-pw", "GITHUB_TOKEN": "ghp-from-the-shell"})
    devenv.engine.logs = f"dsn mysql://root:{from_file}@mysql\nalso shell-exported-pw and ghp-from-the-shell\n"
    result = devenv("-C", root, "logs")
    assert result.exit_code == 0, result.output
    assert "dsn mysql://root:****@mysql" in result.stdout
    for secret in (from_file, "shell-exported-pw", "ghp-from-the-shell"):
        assert secret not in result.stdout


def test_the_state_file_is_private_and_holds_no_secret(tmp_path):
    import json
    import stat

    from devenv.app import state

    state_file = state.state_path(tmp_path)
    state_file.parent.mkdir()
    state_file.write_text("{}")
    state_file.chmod(0o644)  # as devenv wrote it before
    error = 'the server did not answer: OperationalError: access denied for "root" using password p"w0rd-x'
    state.update(tmp_path, last_reload={"error": error, "paths": ["api/caf\udce9.py"]}, secrets={'p"w0rd-x'})
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    text = state_file.read_text(encoding="utf-8")
    assert "w0rd" not in text and "using password ****" in text
    assert json.loads(text)["last_reload"]["paths"] == ["api/caf\\xe9.py"]  # no lone surrogate in the file
    text.encode("utf-8")  # strict: would raise on a lone surrogate


def test_a_crash_between_write_and_rename_never_exposes_the_state(tmp_path, monkeypatch):
    """The mode is set on the temporary file before the rename: no moment with a readable file."""
    import os
    import stat

    from devenv.app import fsio, state

    modes = []
    real_replace = os.replace

    def spy(src, dst):
        modes.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(fsio.os, "replace", spy)
    state.update(tmp_path, watch_pid=1)
    assert modes == [0o600]
