"""What devenv runs inside the server container, as real files of this package.

- ``agent.py``: the agent the host talks to (:mod:`devenv.engine.agent`);
- ``bash_env.sh``: the ``BASH_ENV`` hook that lets restart loops relaunch at once.

They are read with :mod:`importlib.resources`, so they ship in the wheel as they
are; the agent's constants are the contract both sides use.
"""

from __future__ import annotations

from importlib import resources

from .agent import RELAUNCH_MARKER


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def agent_source() -> str:
    """The agent's source, to run as ``python3 -c``."""
    return _read("agent.py")


def bash_env_hook() -> str:
    """The ``BASH_ENV`` hook, with the relaunch marker named as the agent writes it.

    >>> "/tmp/devenv-relaunch-$BASHPID" in bash_env_hook()
    True
    """
    return _read("bash_env.sh").replace("@RELAUNCH_MARKER@", RELAUNCH_MARKER.replace("%d", "$BASHPID"))
