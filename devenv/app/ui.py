"""Everything devenv prints goes through :class:`UI`.

Lines start with ``[devenv] <tag>:``. The tags are stable: the VS Code task's
problem matcher (``devenv vscode``) and scripts match them, so change them
only together with :mod:`devenv.commands.vscode`.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Sequence, TextIO

from ..core.dotenv import mask_text

PREFIX = "[devenv]"
# Stable tags (see the module docstring).
TAG_UP = "up"
TAG_READY = "ready"
TAG_CHANGE = "change"
TAG_RELOAD_OK = "reload ok"
TAG_RELOAD_FAILED = "reload failed"
TAG_ERROR = "error"
TAG_WARNING = "warning"
TAG_INFO = "info"


class UI:
    """Plain, prefixed lines; colour only on a terminal and never with NO_COLOR."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None, *, quiet: bool = False,
                 secrets: Mapping[str, str] | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.quiet = quiet
        self.secrets: Mapping[str, str] = dict(secrets or {})
        self.color = _wants_color(self.err)

    def _mask(self, text: str) -> str:
        return mask_text(text, self.secrets) if self.secrets else text

    def emit(self, tag: str, text: str, *, stream: TextIO | None = None) -> None:
        """One tagged line: ``[devenv] tag: text``."""
        line = f"{PREFIX} {tag}: {self._mask(text)}"
        if self.color:
            line = _paint(tag, line)
        print(line, file=stream or self.err, flush=True)

    def info(self, text: str) -> None:
        if not self.quiet:
            self.emit(TAG_INFO, text)

    def warn(self, text: str) -> None:
        self.emit(TAG_WARNING, text)

    def error(self, text: str) -> None:
        self.emit(TAG_ERROR, text)

    def print(self, text: str = "") -> None:
        """Command output proper (tables, JSON) goes to stdout, unprefixed."""
        print(self._mask(text), file=self.out, flush=True)

    def detail(self, text: str) -> None:
        """An indented continuation line on stderr."""
        if not self.quiet:
            print("    " + self._mask(text), file=self.err, flush=True)


def _wants_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


_COLORS = {TAG_ERROR: "31", TAG_RELOAD_FAILED: "31", TAG_WARNING: "33", TAG_RELOAD_OK: "32", TAG_READY: "32"}


def _paint(tag: str, line: str) -> str:
    code = _COLORS.get(tag)
    return f"\033[{code}m{line}\033[0m" if code else line


def table(rows: Sequence[Sequence[str]], headers: Sequence[str] | None = None) -> str:
    """A plain text table with columns padded to their widest cell.

    >>> print(table([("api", "/ragflow/api")], ("host", "container")))
    host  container
    api   /ragflow/api
    """
    data = ([headers] if headers else []) + list(rows)
    if not data:
        return ""
    widths = [max(len(str(r[i])) for r in data) for i in range(len(data[0]))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in data)


class Progress:
    """Compose's output folded into one status line on a terminal; plain lines otherwise.

    A child process writing straight to the terminal would garble the display,
    so compose's output is always captured and shown through here.
    """

    def __init__(self, ui: UI, title: str) -> None:
        self.ui, self.title = ui, title
        self.lines: list[str] = []
        self._status: Any = None

    def __enter__(self) -> "Progress":
        if self.ui.color and not self.ui.quiet:
            from rich.console import Console

            self._status = Console(file=self.ui.err).status(self.title)
            self._status.__enter__()
        return self

    def update(self, line: str) -> None:
        line = self.ui._mask(line.strip())
        if not line:
            return
        self.lines.append(line)
        if self._status is not None:
            self._status.update(f"{self.title}  [dim]{line[:100]}[/dim]")
        elif not self.ui.quiet:
            print("    " + line, file=self.ui.err, flush=True)

    def status(self, text: str, *, every: float = 15.0) -> None:
        """A status that changes often: live on a terminal; elsewhere (CI, VS Code) a line every ``every`` s."""
        import time

        text = self.ui._mask(text)
        if self._status is not None:
            self._status.update(f"{self.title}  [dim]{text[:100]}[/dim]")
            return
        now = time.monotonic()
        if not self.ui.quiet and now >= getattr(self, "_next_plain", 0.0):
            self._next_plain = now + every
            print(f"    {self.title}: {text}", file=self.ui.err, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.__exit__(None, None, None)
