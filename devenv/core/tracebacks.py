"""Find the last Python traceback in a container's log and point it at the checkout.

Pure text in, text out: the reloader passes the log it fetched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)')
_EXC = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning)|[A-Za-z_][\w.]*Error)(?::\s*(?P<msg>.*))?$")


@dataclass(frozen=True)
class Failure:
    """The gist of a traceback: where (in the checkout, when it is ours) and what."""

    location: str  # "api/apps/demo_app.py:12", or the container path when outside the mounts
    message: str  # "SyntaxError: invalid syntax"
    lines: tuple[str, ...]  # the traceback as printed, paths mapped to the checkout

    @property
    def signature(self) -> tuple[str, str]:
        return self.location, self.message


def last_failure(log: str, workdir: str = "/ragflow") -> Failure | None:
    """The last traceback in ``log``, with ``/ragflow/...`` paths made checkout-relative.

    >>> log = '''Traceback (most recent call last):
    ...   File "/ragflow/api/ragflow_server.py", line 3, in <module>
    ...   File "/ragflow/api/apps/demo_app.py", line 12
    ...     def broken(:
    ...                ^
    ... SyntaxError: invalid syntax'''
    >>> f = last_failure(log)
    >>> f.location, f.message
    ('api/apps/demo_app.py:12', 'SyntaxError: invalid syntax')
    """
    lines = [_strip_prefix(line) for line in log.splitlines()]
    start = max((i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")), default=None)
    if start is None:
        return None
    block: list[str] = []
    location, message = "", ""
    prefix = workdir.rstrip("/") + "/"
    for line in lines[start:]:
        frame = _FRAME.match(line)
        if frame:
            path = frame["file"]
            shown = path[len(prefix):] if path.startswith(prefix) else path
            location = f"{shown}:{frame['line']}"
            line = line.replace(path, shown, 1)
        block.append(line)
        exc = _EXC.match(line.strip())
        if exc and not line.startswith(" "):
            message = line.strip()
            break
        if len(block) > 200:
            break
    return Failure(location or "?", message or (block[-1].strip() if block else ""), tuple(block))


def _strip_prefix(line: str) -> str:
    """Drop a compose-style ``service-1  | `` prefix when the log came through compose."""
    head, sep, tail = line.partition(" | ")
    return tail if sep and " " not in head.strip() and len(head) < 60 else line
