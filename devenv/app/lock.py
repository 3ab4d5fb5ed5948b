"""One lock per checkout: ``.devenv/lock``, held with an OS lock (``flock``) while a command
changes the stack or watches it.

``up``, ``watch``, ``down`` and ``restart`` take it; a second one fails at once with the
holder's pid and command (no waiting: those commands can run for minutes). The one
exception is ``down`` against a watcher: it asks the watcher to stop (SIGTERM), waits for
the lock, then stops the stack, so nothing starts it again.

The lock is the kernel's, on an open file: it goes away with the process however that
ends (even ``kill -9``), and two processes can never both hold it. The file's text
(pid, command, phase) is only for the messages; it is rewritten in place, never
replaced, since a rename would give the next process a different file to lock.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Callable

from ..core.errors import DevenvError
from ..core.plan import STATE_DIR

LOCK_FILE = "lock"
STARTING = "starting"
WATCHING = "watching"
GRACE = 3.0  # seconds `down` waits for a holder that is not (yet) watching

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; devenv runs unlocked there
    fcntl = None  # type: ignore[assignment]


class LockedError(DevenvError):
    """Another devenv command holds this checkout."""


@dataclass(frozen=True)
class Holder:
    pid: int
    command: str
    phase: str
    since: float

    def describe(self) -> str:
        what = f"devenv {self.command} (process {self.pid}, since {time.strftime('%H:%M:%S', time.localtime(self.since))})"
        return what + (" is watching" if self.phase == WATCHING else f" is running ({self.phase})" if self.phase else " is running")


def lock_path(root: Path) -> Path:
    return root / STATE_DIR / LOCK_FILE


def read_holder(root: Path) -> Holder | None:
    """What the lock file says about its holder (None when empty or unreadable)."""
    try:
        data = json.loads(lock_path(root).read_text(encoding="utf-8") or "null")
        return Holder(int(data["pid"]), str(data["command"]), str(data.get("phase", "")), float(data.get("since", 0)))
    except (OSError, ValueError, TypeError, KeyError):
        return None


class CheckoutLock:
    """``with CheckoutLock(root, "up"):`` ... ; raises :class:`LockedError` when held."""

    def __init__(self, root: Path, command: str) -> None:
        self.root, self.command = root, command
        self.phase = ""
        self.since = time.time()
        self._fd: int | None = None

    # --- taking and giving back --------------------------------------------------------------
    def try_acquire(self) -> bool:
        """Take the lock if free; False when another process holds it.

        The lock is the checkout folder itself (``flock`` on a descriptor of the folder), so taking
        it writes nothing: a command that then refuses leaves the checkout as it was. Who holds it is
        written to ``.devenv/lock`` once that folder exists (for the other command's message).
        """
        if fcntl is None:
            return True
        try:
            fd = os.open(self.root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as e:
            raise DevenvError(f"cannot open {self.root}: {e.strerror}", fix=f"make {self.root} readable by you") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        self._write(create=False)  # a command that then refuses leaves no new file behind
        return True

    def acquire(self, *, wait: float = 0) -> None:
        deadline = time.monotonic() + wait
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise self.locked_error()
            time.sleep(0.1)

    def locked_error(self) -> LockedError:
        holder = self.holder()
        who = holder.describe() if holder else "another devenv command is running"
        if holder is not None and holder.phase == WATCHING:
            fix = (f"use that one, or stop it first (Ctrl-C in its terminal, or: kill {holder.pid}; `devenv down` also stops it); "
                   "`devenv up --detach` starts the stack without watching")
        elif holder is None:
            fix = "stop it first (Ctrl-C in its terminal, or `devenv down`, which also stops a watcher)"
        else:
            fix = "wait until it finishes, then try again"
        return LockedError(f"{who} in {self.root}; one devenv command at a time changes a checkout's stack", fix=fix)

    def holder(self) -> Holder | None:
        """The holder as its file says; a holder that has just taken the lock may not have written yet."""
        for _ in range(10):
            holder = read_holder(self.root)
            if holder is not None:
                return holder
            time.sleep(0.05)
        return None

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self._write()

    def release(self) -> None:
        if self._fd is None:
            return
        path = lock_path(self.root)
        holder = read_holder(self.root)
        if holder is not None and holder.pid == os.getpid():
            try:
                path.write_text("", encoding="utf-8")
            except OSError:
                pass
        os.close(self._fd)  # closing the only descriptor ends the flock
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def _write(self, *, create: bool = True) -> None:
        """Say who holds the lock, in ``.devenv/lock`` when devenv's folder exists (never made for it);
        ``create``: also when the file does not exist yet (a phase change: the command is under way)."""
        path = lock_path(self.root)
        if self._fd is None or not path.parent.is_dir() or not (create or path.exists()):
            return
        text = json.dumps({"pid": os.getpid(), "command": self.command, "phase": self.phase, "since": self.since})
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, text.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError:
            pass  # only the other command's message is poorer for it

    def __enter__(self) -> "CheckoutLock":
        if not self.held:
            self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def stop_watcher(lock: CheckoutLock, *, timeout: float = 30, before: Callable[[Holder], None] | None = None) -> Holder | None:
    """For ``down``: take ``lock``; when a watcher holds it, ask it to stop (SIGTERM) and wait.

    ``before`` runs just before the signal (``down`` leaves the watcher a note saying why).
    Returns the watcher that was stopped, or None. Any other holder is an error at once.
    """
    grace = time.monotonic() + GRACE  # a short command ends, a watcher may be about to say so
    while True:
        if lock.try_acquire():
            return None
        holder = lock.holder()
        if holder is not None and holder.phase == WATCHING:
            break
        if time.monotonic() >= grace:
            raise lock.locked_error()
        time.sleep(0.1)
    if before is not None:
        before(holder)
    try:
        os.kill(holder.pid, 15)  # SIGTERM: the watcher finishes a reload under way, then exits
    except ProcessLookupError:
        pass
    except PermissionError:
        raise LockedError(f"{holder.describe()} in {lock.root} and belongs to another user", fix="stop it in its own terminal") from None
    deadline = time.monotonic() + timeout
    while not lock.try_acquire():
        if time.monotonic() >= deadline:
            raise LockedError(f"{holder.describe()} and did not stop within {timeout:.0f} s of SIGTERM",
                              fix=f"stop it (kill {holder.pid}), then run devenv down again")
        time.sleep(0.1)
    return holder
