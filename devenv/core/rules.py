"""Which change gets which action: path rules as small values, decided purely.

A :class:`PathRule` maps glob patterns to an :class:`Action`; the first rule
that matches a path decides for it, and :func:`decide` merges the actions of
a whole batch into one :class:`Decision` (the strongest action wins; process
restarts are united).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .config import Settings
from .globs import anchored
from .override import OVERRIDE_NAME
from .release import ProcessSpec

# From weakest to strongest; a stronger action covers what a weaker one would do.
NONE, NOTICE, WEB, SIGNAL, SYNC, RESTART, RECREATE = "none", "notice", "web", "signal", "sync", "restart", "recreate"
STRENGTH = {NONE: 0, NOTICE: 1, WEB: 1, SIGNAL: 2, SYNC: 3, RESTART: 4, RECREATE: 5}
ALL = "*"  # signal every known process


@dataclass(frozen=True)
class PathRule:
    """Paths matching any of ``patterns`` get ``action``.

    >>> r = PathRule(("admin/**",), "signal", ("admin",), "admin server code")
    >>> r("admin/server/x.py"), r("api/x.py")
    (True, False)
    """

    patterns: tuple[str, ...]
    action: str
    processes: tuple[str, ...] = ()
    why: str = ""

    def __call__(self, path: str) -> bool:
        return any(anchored(p).matches(path, False) for p in self.patterns)

    def __repr__(self) -> str:
        procs = f" {','.join(self.processes)}" if self.processes else ""
        return f"<rule {' '.join(self.patterns)} -> {self.action}{procs}>"


@dataclass(frozen=True)
class Decision:
    """What to do for a batch of changed paths."""

    action: str
    processes: frozenset[str] = frozenset()
    paths: tuple[str, ...] = ()  # the paths that asked for something
    reasons: tuple[str, ...] = ()
    web: bool = False  # web/src changed: the UI needs a build
    notices: tuple[str, ...] = ()

    @property
    def nothing(self) -> bool:
        return self.action == NONE and not self.web and not self.notices

    def describe(self) -> str:
        if self.action == SIGNAL:
            return "restart processes " + ", ".join(sorted(self.processes))
        return {SYNC: "uv sync, then restart processes", RESTART: "restart the container",
                RECREATE: "plan again and recreate the container", WEB: "web UI build", NOTICE: "nothing to reload",
                NONE: "nothing"}[self.action]


def default_rules(packages: Sequence[str], processes: Sequence[ProcessSpec], settings: Settings) -> list[PathRule]:
    """The built-in rules, after the user's own ``[[rules]]``."""
    names = {p.name for p in processes}
    rules = [PathRule(r.paths, r.action, tuple(r.processes) or (ALL,), "devenv.toml rule") for r in settings.rules]
    rules += [
        PathRule((f"docker/{OVERRIDE_NAME}", f"docker/{OVERRIDE_NAME}.bak", "docker/.devenv-check-*"), NONE, why="devenv's own files"),
        PathRule(("docker/entrypoint.sh", "docker/entrypoint*.sh", "docker/service_conf.yaml.template", "docker/.env",
                  "docker/*.yml", "docker/*.yaml", "docker/nginx/**", "devenv.toml"), RECREATE, why="container configuration"),
        PathRule(("pyproject.toml", "uv.lock"), SYNC if settings["reload.uv_sync"] else NOTICE, (ALL,), "dependencies"),
        PathRule(("web/src/**", "web/public/**", "web/*.json", "web/*.ts", "web/*.js"), WEB, why="web UI source"),
        PathRule(("conf/**",), NOTICE, why="conf/ is the image's (mounting it would write the rendered config into the checkout)"),
    ]
    # Narrow rules for code only one process imports; everything else restarts all of them.
    narrow = [
        (("admin/**",), "admin"), (("mcp/**",), "mcp"), (("api/apps/**",), "server"),
        (("rag/svr/task_executor.py",), "task_executor"), (("rag/svr/sync_data_source.py",), "data_sync"),
    ]
    for patterns, proc in narrow:
        if proc in names and any(p.split("/")[0] in packages for p in patterns):
            rules.append(PathRule(patterns, SIGNAL, (proc,), f"{proc} code"))
    rules.append(PathRule(tuple(f"{pkg}/**" for pkg in packages), SIGNAL, (ALL,), "source package"))
    return rules


def decide(paths: Iterable[str], rules: Sequence[PathRule], known_processes: Sequence[str]) -> Decision:
    """Merge the rules' actions for a batch of changed paths.

    >>> rules = [PathRule(("api/**",), SIGNAL, (ALL,)), PathRule(("docker/.env",), RECREATE)]
    >>> decide(["api/a.py"], rules, ["server", "task_executor"]).processes == {"server", "task_executor"}
    True
    >>> decide(["api/a.py", "docker/.env"], rules, ["server"]).action
    'recreate'
    """
    action, web = NONE, False
    procs: set[str] = set()
    hits: list[str] = []
    reasons: list[str] = []
    notices: list[str] = []
    for path in sorted(set(paths)):
        rule = next((r for r in rules if r(path)), None)
        if rule is None or rule.action == NONE:
            continue
        hits.append(path)
        if rule.why and rule.why not in reasons:
            reasons.append(rule.why)
        if rule.action == WEB:
            web = True
        elif rule.action == NOTICE:
            notices.append(f"{path}: {rule.why}; no reload")
        elif rule.action in (SIGNAL, SYNC):
            procs.update(known_processes if ALL in rule.processes else rule.processes)
        if STRENGTH[rule.action] > STRENGTH[action]:
            action = rule.action
    return Decision(action, frozenset(procs), tuple(hits), tuple(reasons), web, tuple(notices))
