"""What devenv runs inside the server container, as real files of this package.

- ``agent.py``: the agent the host talks to (:mod:`devenv.engine.agent`);
- ``bash_env.sh``: the ``BASH_ENV`` hook that lets restart loops relaunch at once and
  notes each launch and exit in the loop log;
- ``warm.py``: the warm start the hook routes the loops' ``python3 X`` through;
- ``patch.py``: the in-place patch of function bodies warm.py loads (``reload.patch``).

They are read with :mod:`importlib.resources`, so they ship in the wheel as they
are; the agent's constants are the contract both sides use.
"""

from __future__ import annotations

from importlib import resources

from .agent import LOOP_LOG, RELAUNCH_MARKER


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def agent_source() -> str:
    """The agent's source, to run as ``python3 -c``."""
    return _read("agent.py")


def patch_source() -> str:
    """The in-place patch's source (:mod:`devenv.container.patch`), written next to warm.py."""
    return _read("patch.py")


def warm_source() -> str:
    """The warm start's source (:mod:`devenv.container.warm`), written next to the hook."""
    return _read("warm.py")


_LAUNCH_FUNCTION = """\
# The loops' `python3 X` for these scripts: noted in the loop log ("L pid script"), then run.
# With warm start on, it goes through devenv's warm.py, which forks the process from a parent
# that has the third-party modules imported (or starts it cold when in doubt). Where the loop
# runs `python3 X &`, the call has a subshell of its own and execs, so the loop's `wait` and
# `$!` see the same pid; elsewhere it runs as a child.
__devenv_warm_py=%(path)s
__devenv_scripts=%(scripts)s
__devenv_exec=%(exec)s
python3() {
  if [ $# -ge 1 ]; then
    case "$__devenv_scripts" in
      *" $1 "*)
        printf 'L %%s %%s\\n' "$BASHPID" "$1" 2>/dev/null >> %(log)s || :
        local __devenv_own=0  # the call has a subshell of its own (`X &`): exec keeps the pid; never exec the main shell
        case "$__devenv_exec" in *" $1 "*) [ "$BASHPID" != "$$" ] && __devenv_own=1 ;; esac
        if [ -n "$__devenv_warm_py" ] && [ "${DEVENV_WARM:-1}" != 0 ] && [ -f "$__devenv_warm_py" ]; then
          [ "$__devenv_own" = 1 ] && exec python3 "$__devenv_warm_py" "$@"
          command python3 "$__devenv_warm_py" "$@"
          return
        fi
        [ "$__devenv_own" = 1 ] && exec python3 "$@" ;;
    esac
  fi
  command python3 "$@"
}
"""


def bash_env_hook(warm_path: str | None = None, scripts: tuple[str, ...] = (), background: tuple[str, ...] = (),
                  loop_log: str = LOOP_LOG) -> str:
    """The ``BASH_ENV`` hook, with the relaunch marker and the loop log named as the agent reads them.

    ``scripts``: the processes the loops run; their launches are noted in the loop log, and with
    ``warm_path`` they run through the warm start. ``background``: those launched as ``python3 X &``
    (safe to ``exec``). ``loop_log``: where launches and exits are noted (tests move it).

    >>> "/tmp/devenv-relaunch-$BASHPID" in bash_env_hook()
    True
    >>> "python3()" in bash_env_hook(), "python3()" in bash_env_hook(None, ("a.py",))
    (False, True)
    >>> "__devenv_warm_py=''" in bash_env_hook(None, ("a.py",)), "__devenv_warm_py=/h/warm.py" in bash_env_hook("/h/warm.py", ("a.py",))
    (True, True)
    """
    import shlex

    launch = ""
    if scripts:
        launch = _LAUNCH_FUNCTION % {"path": shlex.quote(warm_path or ""), "scripts": shlex.quote(" %s " % " ".join(scripts)),
                                     "exec": shlex.quote(" %s " % " ".join(s for s in background if s in scripts)),
                                     "log": shlex.quote(loop_log)}
    text = _read("bash_env.sh").replace("@RELAUNCH_MARKER@", RELAUNCH_MARKER.replace("%d", "$BASHPID"))
    return text.replace("@LOOP_LOG@", loop_log).replace("@LAUNCH@\n", launch)
