"""The Python processes inside the server container, as devenv sees them over time.

RAGFlow's entrypoint runs each process in ``while true; ... & wait; sleep 1; done``:
a process that dies at import is relaunched a second later in a container that
stays ``running``, so neither the engine nor compose sees a crash loop. The
:class:`ProcessTracker` is fed the agent's ``procs`` answers (a millisecond
each) and notices what the engine cannot: which processes actually run (only
those are restarted on a reload), how often each was relaunched, and a crash
loop, on the second exit devenv did not cause.

Pure: no engine, no clock of its own (``now`` is passed in), so it is unit-tested
with recorded answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

LONG_LIFE = 120.0  # seconds: a process that lived this long ends a crash-loop episode
LOOP_EXITS = 2  # unexpected exits in a row that make a crash loop


@dataclass
class Seen:
    """One process kind (script) over time."""

    name: str
    script: str
    pid: int | None = None
    start: int | None = None  # the kernel's start time (ticks since boot): with the pid, a process's identity
    age: float | None = None  # seconds, at the last observation
    since: float | None = None  # when devenv first saw the current process
    restarts: int = 0  # relaunches devenv saw (its own reloads included)
    exits: list[float] = field(default_factory=list)  # unexpected exits of the current episode
    expected: bool = False  # devenv signalled it: its next exit is a reload, not a crash
    reported: bool = False  # this episode's crash loop was reported
    counted: int | None = None  # exits devenv did not cause, as the loop log last said (None: no log for it)

    def as_json(self, now: float) -> dict[str, Any]:
        return {"name": self.name, "script": self.script, "pid": self.pid, "uptime_seconds": self.age,
                "restarts": self.restarts, "running": self.pid is not None,
                "crash_exits": len(self.exits)}


@dataclass(frozen=True)
class CrashLoop:
    """A process kind that exited ``exits`` times in a row without devenv asking."""

    name: str
    script: str
    exits: int
    first_exit: float  # ``now``-clock time of the episode's first exit (for the log's ``since``)


class ProcessTracker:
    """What runs, what restarted and what crash-loops, from successive ``procs`` answers.

    >>> t = ProcessTracker({"server": "api/ragflow_server.py"})
    >>> t.observe([{"script": "api/ragflow_server.py", "pid": 10, "start": 1, "age": 3.0}], now=0.0) is None
    True
    >>> t.observe([], now=1.0) is None  # first exit: could be anything
    True
    >>> t.observe([{"script": "api/ragflow_server.py", "pid": 11, "start": 2, "age": 0.5}], now=2.0) is None
    True
    >>> t.observe([{"script": "api/ragflow_server.py", "pid": 12, "start": 3, "age": 0.2}], now=3.0)
    CrashLoop(name='server', script='api/ragflow_server.py', exits=2, first_exit=1.0)

    With the loop log's counts, exits between two looks count too (none of these processes was seen):

    >>> t = ProcessTracker({"server": "api/ragflow_server.py"})
    >>> t.observe([], now=0.0, loops={"api/ragflow_server.py": {"launches": 2, "exits": 1, "devenv_exits": 1}}) is None
    True
    >>> t.observe([], now=1.0, loops={"api/ragflow_server.py": {"launches": 4, "exits": 3, "devenv_exits": 1}})
    CrashLoop(name='server', script='api/ragflow_server.py', exits=2, first_exit=1.0)
    """

    def __init__(self, scripts: Mapping[str, str]) -> None:
        self.kinds = {name: Seen(name, script) for name, script in scripts.items()}
        self.container: str | None = None

    @property
    def scripts(self) -> list[str]:
        return [k.script for k in self.kinds.values()]

    def for_container(self, container_id: str) -> None:
        """A new container starts with no history."""
        if container_id != self.container:
            self.kinds = {k.name: Seen(k.name, k.script) for k in self.kinds.values()}
            self.container = container_id

    def expect_exit(self, names: Iterable[str]) -> None:
        """devenv is about to restart these: their next exit is a reload, and a new episode starts."""
        for name in names:
            if name in self.kinds:
                kind = self.kinds[name]
                kind.expected, kind.exits, kind.reported = True, [], False

    def observe(self, procs: Iterable[Mapping[str, Any]], now: float, only: Iterable[str] | None = None,
                loops: Mapping[str, Mapping[str, int]] | None = None) -> CrashLoop | None:
        """Take one ``procs`` answer; returns a crash loop the first time one is seen in an episode.

        ``only``: the scripts the answer covers (default: every kind); the others keep their state.
        ``loops``: the answer's loop log counts (launches, exits, devenv's exits) per script. Where a
        kind has them, its exits are counted from them, exactly, instead of from pids coming and
        going between two looks (which misses a process that lives 40 ms between looks 0.5 s apart).
        """
        scope = set(only) if only is not None else None
        by_script: dict[str, Mapping[str, Any]] = {}
        for entry in procs:  # several processes of one script (a forked worker): the oldest is the loop's child
            current = by_script.get(entry["script"])
            if current is None or entry.get("start", 0) < current.get("start", 0):
                by_script[entry["script"]] = entry
        found = None
        for kind in self.kinds.values():
            if scope is not None and kind.script not in scope:
                continue
            p: Mapping[str, Any] | None = by_script.get(kind.script)
            identity = (p["pid"], p.get("start")) if p else None
            logged = self._logged(kind, (loops or {}).get(kind.script), now)
            if not logged and kind.pid is not None and identity != (kind.pid, kind.start):
                self._exited(kind, now)
            if p is None:
                kind.pid = kind.start = kind.age = None
            else:
                if identity != (kind.pid, kind.start):
                    if kind.since is not None:
                        kind.restarts += 1
                    kind.pid, kind.start, kind.since = p["pid"], p.get("start"), now
                kind.age = p.get("age")
                if kind.age is not None and kind.age >= LONG_LIFE:
                    kind.exits, kind.reported = [], False  # it runs: the episode is over
            if len(kind.exits) >= LOOP_EXITS and not kind.reported:
                kind.reported = True
                found = found or CrashLoop(kind.name, kind.script, len(kind.exits), kind.exits[0])
        return found

    def _logged(self, kind: Seen, counts: Mapping[str, int] | None, now: float) -> bool:
        """Count the exits the loop log noted since the last look; False when it cannot be trusted for this kind."""
        if not counts or counts.get("launches", 0) > counts.get("exits", 0) + 1:
            return False  # no log, or a loop that does not `sleep` after an exit: its exits are not noted
        unexpected = counts["exits"] - counts.get("devenv_exits", 0)
        new = unexpected - (kind.counted or 0)
        kind.counted = unexpected
        kind.exits += [now] * max(0, new)
        kind.restarts = max(kind.restarts, counts["launches"] - 1)
        return True

    def _exited(self, kind: Seen, now: float) -> None:
        if kind.expected:
            kind.expected = False
            return
        kind.exits.append(now)

    def running(self) -> list[str]:
        """Names of the kinds with a live process at the last observation."""
        return [k.name for k in self.kinds.values() if k.pid is not None]

    def ever_ran(self, name: str) -> bool:
        """Whether devenv saw a process of this kind in this container (running now or not), or the loop log noted one."""
        kind = self.kinds.get(name)
        return kind is not None and (kind.pid is not None or kind.since is not None or kind.counted is not None)

    def snapshot(self, now: float) -> list[dict[str, Any]]:
        return [k.as_json(now) for k in self.kinds.values() if k.since is not None or k.pid is not None or k.counted is not None]


class ProcessProbe:
    """Feeds a :class:`ProcessTracker` from the server container's agent (one request, ~1 ms).

    The one place that asks the engine about processes outside a reload; the
    reloader feeds the same tracker from its own answers.
    """

    def __init__(self, engine: Any, scripts: Mapping[str, str]) -> None:
        self.engine = engine
        self.tracker = ProcessTracker(scripts)

    def container_key(self, container: Any) -> str:
        # compose restart keeps the container's id: its start time tells a restarted one apart
        started = container.started_at.timestamp() if container.started_at else 0
        return f"{container.id}@{started:.0f}"

    def poll(self, container: Any, now: float) -> CrashLoop | None:
        """Observe the container's processes now; errors (a container that is starting) are not news."""
        from ..core.errors import EngineError

        self.tracker.for_container(self.container_key(container))
        try:
            answer = self.engine.agent(container.id).request({"op": "procs", "scripts": self.tracker.scripts}, timeout=5)
        except EngineError:
            return None
        return self.tracker.observe(answer["procs"], now, loops=answer.get("loops"))

    def listening(self, container: Any, port: int) -> bool:
        from ..core.errors import EngineError

        try:
            return bool(self.engine.agent(container.id).request({"op": "listening", "port": port}, timeout=5)["listening"])
        except (EngineError, KeyError):
            return False
