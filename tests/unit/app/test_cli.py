"""The command line itself: --version, --help listing every command, and typer's shell completion."""

from __future__ import annotations

from typer.testing import CliRunner

from devenv import __version__
from devenv.app.cli import app

runner = CliRunner()


def command_names() -> list[str]:
    return [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]


def test_version_and_help_list_every_command() -> None:
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.stdout == f"devenv {__version__}\n"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    listed = {line.strip("│ ").split(" ", 1)[0] for line in result.stdout.split("Commands", 1)[1].splitlines()}
    assert set(command_names()) <= listed, set(command_names()) - listed
    assert {"vscode", "makefile", "up", "down", "verify"} <= set(command_names())
    for option in ("--install-completion", "--show-completion"):  # typer's shell completion
        assert option in result.stdout
    completed = runner.invoke(app, [], prog_name="devenv",
                              env={"_DEVENV_COMPLETE": "complete_bash", "COMP_WORDS": "devenv vs", "COMP_CWORD": "1"})
    assert completed.stdout.split() == ["vscode"]
