"""``devenv makefile``: the block, appended then replaced, refusals, tabs, and what make makes of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devenv.app.cli import app
from devenv.commands import makefile as M

runner = CliRunner()

EXPECTED_BLOCK = """\
# >>> devenv >>>
# Added by `devenv makefile --write`, which replaces this block on later runs.
DEVENV ?= devenv

.PHONY: dev dev-down dev-status dev-logs dev-verify
dev:  ## start RAGFlow in dev mode and reload on save
\t$(DEVENV) up
dev-down:  ## stop the dev-mode stack (volumes are kept)
\t$(DEVENV) down
dev-status:  ## services, health, mounts and the last reload
\t$(DEVENV) status
dev-logs:  ## follow the RAGFlow server's log
\t$(DEVENV) logs -f
dev-verify:  ## prove the dev loop works
\t$(DEVENV) verify
# <<< devenv <<<
"""

USER_MAKEFILE = """\
# RAGFlow's own targets
.PHONY: test
test:
\tuv run pytest

lint: ## dev: not a target name here
\truff check .
"""


def write(root: Path):
    return runner.invoke(app, ["-C", str(root), "makefile", "--write"])


def test_block_is_exact_and_recipes_use_tabs() -> None:
    assert M.block() == EXPECTED_BLOCK
    recipes = [line for line in M.block().splitlines() if "$(DEVENV)" in line]
    assert len(recipes) == len(M.TARGETS) and all(line.startswith("\t") and not line.startswith("\t ") for line in recipes)


def test_print_only_writes_nothing(checkout) -> None:
    root = checkout("v0.24.0")
    result = runner.invoke(app, ["-C", str(root), "makefile"])
    assert result.exit_code == 0
    assert result.stdout == EXPECTED_BLOCK
    assert not (root / "Makefile").exists()


def test_creates_a_missing_makefile(checkout) -> None:
    root = checkout("v0.24.0")
    result = write(root)
    assert result.exit_code == 0, result.output
    assert (root / "Makefile").read_text() == EXPECTED_BLOCK
    assert f"wrote {root / 'Makefile'}" in result.output


def test_appends_then_replaces_only_the_block(checkout) -> None:
    root = checkout("v0.24.0")
    path = root / "Makefile"
    path.write_text(USER_MAKEFILE.rstrip("\n"))  # no final newline: one is added before the block
    assert write(root).exit_code == 0
    assert path.read_text() == USER_MAKEFILE + "\n" + EXPECTED_BLOCK
    # Someone edits the block and adds a target after it: the next run restores the block only.
    edited = path.read_text().replace("\t$(DEVENV) up\n", "\t$(DEVENV) up --debug\n") + "\nafter:\n\techo kept\n"
    path.write_text(edited)
    result = write(root)
    assert result.exit_code == 0 and "updated devenv's block" in result.output
    assert path.read_text() == USER_MAKEFILE + "\n" + EXPECTED_BLOCK + "\nafter:\n\techo kept\n"


def test_second_run_changes_nothing(checkout) -> None:
    root = checkout("v0.24.0")
    (root / "Makefile").write_text(USER_MAKEFILE)
    assert write(root).exit_code == 0
    stamp = (root / "Makefile").stat().st_mtime_ns
    result = write(root)
    assert result.exit_code == 0 and "already has devenv's targets: unchanged" in result.output
    assert (root / "Makefile").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("rule", ["dev:\n\tnpm run dev\n", "build dev-logs: deps\n\ttrue\n", "dev-status::\n\ttrue\n", "dev: VAR = 1\n"])
def test_refuses_a_target_defined_outside_the_block(checkout, rule: str) -> None:
    root = checkout("v0.24.0")
    text = USER_MAKEFILE + "\n" + rule
    (root / "Makefile").write_text(text)
    result = write(root)
    assert result.exit_code == 2
    assert "outside the devenv block" in result.output and "fix: rename or remove those targets" in result.output
    assert (root / "Makefile").read_text() == text


def test_refusal_names_every_taken_target(checkout) -> None:
    root = checkout("v0.24.0")
    (root / "Makefile").write_text(M.block() + "dev-verify:\n\ttrue\ndev:\n\ttrue\n")
    result = write(root)
    assert result.exit_code == 2
    assert f"[devenv] error: {root / 'Makefile'}: it already defines dev, dev-verify outside the devenv block" in result.output


@pytest.mark.parametrize("text", [
    "# >>> devenv >>>\nall:\n\ttrue\n",  # no end
    "# <<< devenv <<<\n# >>> devenv >>>\n",  # end before begin
    EXPECTED_BLOCK + EXPECTED_BLOCK,  # two blocks
])
def test_refuses_broken_markers(checkout, text: str) -> None:
    root = checkout("v0.24.0")
    (root / "Makefile").write_text(text)
    result = write(root)
    assert result.exit_code == 2 and "block markers are broken" in result.output
    assert (root / "Makefile").read_text() == text


def test_look_alikes_are_not_targets() -> None:
    text = (
        "DEV := dev:x\n"  # a variable
        "OPTS = -o dev:1\n"
        "\tdev: in a recipe\n"
        "# dev: a comment\n"
        "define HELP\n"
        "dev: inside define\n"
        "endef\n"
        "all: \\\n"
        "  dev-down: continued\n"
        "dev-%:\n\ttrue\n"  # a pattern rule: explicit rules win over it
    )
    assert M.insert_block(text) == text + "\n" + EXPECTED_BLOCK


def test_keeps_crlf(checkout) -> None:
    root = checkout("v0.24.0")
    (root / "Makefile").write_bytes(b"all:\r\n\ttrue\r\n")
    assert write(root).exit_code == 0
    assert (root / "Makefile").read_bytes() == b"all:\r\n\ttrue\r\n\r\n" + EXPECTED_BLOCK.replace("\n", "\r\n").encode()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_reads_the_block(checkout) -> None:
    root = checkout("v0.24.0")
    (root / "Makefile").write_text(USER_MAKEFILE)
    assert write(root).exit_code == 0
    for target, (args, _help) in M.TARGETS.items():
        out = subprocess.run(["make", "-n", "-s", target], cwd=root, capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and out.stderr == "", out.stderr
        assert out.stdout == f"devenv {args}\n"
    out = subprocess.run(["make", "-n", "-s", "dev", "DEVENV=.venv/bin/devenv"], cwd=root, capture_output=True, text=True, timeout=30)
    assert out.stdout == ".venv/bin/devenv up\n"
