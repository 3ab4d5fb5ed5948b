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
