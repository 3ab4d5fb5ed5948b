"""What devenv runs inside the server container, as real files of this package.

- ``agent.py``: the agent the host talks to (:mod:`devenv.engine.agent`);
- ``bash_env.sh``: the ``BASH_ENV`` hook that lets restart loops relaunch at once;
- ``warm.py``: the warm start the hook routes the loops' ``python3 X`` through.

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


def warm_source() -> str:
    """The warm start's source (:mod:`devenv.container.warm`), written next to the hook."""
    return _read("warm.py")


_WARM_FUNCTION = """\
# Warm start: the loops' `python3 X` for these scripts goes through devenv's warm.py, which
# forks the process from a parent that has the third-party modules imported (or starts it
# cold when in doubt). Where the loop runs `python3 X &`, the call has a subshell of its own
# and execs, so the loop's `wait` sees the same pid; elsewhere it runs as a child.
__devenv_warm_py=%(path)s
__devenv_warm_scripts=%(scripts)s
__devenv_warm_exec=%(exec)s
python3() {
  if [ "${DEVENV_WARM:-1}" != 0 ] && [ $# -ge 1 ] && [ -f "$__devenv_warm_py" ]; then
    case "$__devenv_warm_scripts" in
      *" $1 "*)
        case "$__devenv_warm_exec" in
          *" $1 "*) exec python3 "$__devenv_warm_py" "$@" ;;
        esac
        command python3 "$__devenv_warm_py" "$@"
        return ;;
    esac
  fi
  command python3 "$@"
}
"""


def bash_env_hook(warm_path: str | None = None, scripts: tuple[str, ...] = (), background: tuple[str, ...] = ()) -> str:
    """The ``BASH_ENV`` hook, with the relaunch marker named as the agent writes it.

    With ``warm_path``, the loops' ``python3`` runs ``scripts`` through the warm start;
    ``background`` are those launched as ``python3 X &`` (safe to ``exec``).

    >>> "/tmp/devenv-relaunch-$BASHPID" in bash_env_hook()
    True
    >>> "python3()" in bash_env_hook(), "python3()" in bash_env_hook("/h/warm.py", ("a.py",))
    (False, True)
    """
    import shlex

    warm = ""
    if warm_path and scripts:
        warm = _WARM_FUNCTION % {"path": shlex.quote(warm_path), "scripts": shlex.quote(" %s " % " ".join(scripts)),
                                 "exec": shlex.quote(" %s " % " ".join(s for s in background if s in scripts))}
    text = _read("bash_env.sh").replace("@RELAUNCH_MARKER@", RELAUNCH_MARKER.replace("%d", "$BASHPID"))
    return text.replace("@WARM@\n", warm)
