"""One error type for everything a user can fix, and the exit codes devenv uses.

Library code raises; only :mod:`devenv.cli` turns an error into a message and an
exit code, so every failure reads the same way: what is wrong, then what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_FAILED = 1  # a check failed: `plan --check`, `verify`, `doctor`
EXIT_USAGE = 2  # bad input: checkout, config, compose file, arguments
EXIT_ENGINE = 3  # the Docker engine or compose is missing or failed
EXIT_UNHEALTHY = 4  # the stack did not become healthy
EXIT_INTERRUPTED = 130


class DevenvError(Exception):
    """A failure the user can act on.

    >>> e = DevenvError("docker/.env is missing", fix="copy docker/.env from the release")
    >>> str(e)
    'docker/.env is missing'
    """

    exit_code = EXIT_USAGE

    def __init__(self, message: str, *, fix: str | None = None, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.details = list(details)


class CheckoutError(DevenvError):
    """The folder is not a usable RAGFlow checkout."""


class ConfigError(DevenvError):
    """devenv.toml or a DEVENV_* variable holds a bad key or value."""


class OverrideEditedError(DevenvError):
    """The generated override was edited by hand since devenv wrote it."""


class EngineError(DevenvError):
    """The Docker engine or compose v2 is missing, unreachable or refused a command."""

    exit_code = EXIT_ENGINE


@dataclass
class CommandFailed(EngineError):
    """A docker/compose command exited non-zero; carries what it printed."""

    argv: list[str] = field(default_factory=list)
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    summary: str = "a docker command failed"
    hint: str | None = None

    def __post_init__(self) -> None:
        tail = _last_meaningful_line(self.stderr) or _last_meaningful_line(self.stdout)
        message = self.summary + (f": {tail}" if tail else "")
        EngineError.__init__(self, message, fix=self.hint, details=[])

    def __str__(self) -> str:  # dataclass would otherwise replace Exception.__str__
        return self.message


class CheckFailed(DevenvError):
    """A check the user asked for failed (``plan --check``): exit 1, not bad input."""

    exit_code = EXIT_FAILED


class UnhealthyError(DevenvError):
    """The stack started but did not answer its health checks in time."""

    exit_code = EXIT_UNHEALTHY


def _last_meaningful_line(text: str) -> str:
    for line in reversed((text or "").strip().splitlines()):
        line = line.strip()
        if line:
            return line
    return ""


class Interrupted(DevenvError):
    """Ctrl-C (or a signal) stopped a command half-way; the message says what it left behind."""

    exit_code = EXIT_INTERRUPTED
