"""Run a command in its own session, so a Ctrl-C meant for devenv does not reach it.

devenv runs compose through this when it changes containers during a watch:
an interrupted ``compose up --force-recreate`` could leave a container
removed but not started. devenv waits for the shielded command (a second
Ctrl-C abandons the wait); the command always finishes its work.
Usage: ``python -m devenv.engine.shield docker compose ...``.

:func:`sigint_blocked` is the parent's half: it masks SIGINT while the shield is spawned.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def sigint_blocked(active: bool) -> Iterator[None]:
    """Block SIGINT in this thread while shielded commands are spawned.

    A child inherits the mask, so a Ctrl-C that reaches the process group in the
    instant before devenv.engine.shield's setsid stays pending instead of killing the
    shield (Python takes tens of milliseconds to get there); the shield drops it.
    devenv itself still gets the signal: CPython runs its handler in the main
    thread whichever thread the kernel delivers it to.
    """
    if not active or not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


if __name__ == "__main__":  # importing it (pytest --doctest-modules) must not exec anything
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except OSError:  # already a session leader
            pass
    if hasattr(signal, "pthread_sigmask"):
        # devenv starts this with SIGINT blocked (sigint_blocked), so a Ctrl-C that came
        # before setsid is pending: ignoring it drops it; then the command gets SIGINT as usual.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execvp(sys.argv[1], sys.argv[1:])
