"""Run a command in its own session, so a Ctrl-C meant for devenv does not reach it.

devenv runs compose through this when it changes containers during a watch:
an interrupted ``compose up --force-recreate`` could leave a container
removed but not started. devenv waits for the shielded command (a second
Ctrl-C abandons the wait); the command always finishes its work.
Usage: ``python -m devenv._shield docker compose ...``.
"""

import os
import signal
import sys

if __name__ == "__main__":  # importing it (pytest --doctest-modules) must not exec anything
    if hasattr(os, "setsid"):
        try:
            os.setsid()
        except OSError:  # already a session leader
            pass
    if hasattr(signal, "pthread_sigmask"):
        # devenv starts this with SIGINT blocked (engine._sigint_blocked), so a Ctrl-C that came
        # before setsid is pending: ignoring it drops it; then the command gets SIGINT as usual.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execvp(sys.argv[1], sys.argv[1:])
