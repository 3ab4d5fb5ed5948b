"""Turn a stream of file events into batches: trailing-edge debounce with a cap.

A batch is due once no event has arrived for ``quiet`` seconds, or ``max_wait`` seconds
after its first event, whichever comes first: a burst (a ``git checkout``, a formatter run)
becomes one batch, and a steady trickle (a log file being written in a watched folder)
cannot postpone a reload forever.

The decision is pure and clocked (:meth:`Debouncer.due`, :meth:`Debouncer.take`), so
tests drive it with a fake clock; :meth:`Debouncer.next_batch` is the blocking door for
the watch loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["KINDS", "Batch", "Debouncer"]

KINDS = ("created", "modified", "deleted", "moved", "overflow")
"""Kinds of change: ``moved`` marks the destination of a rename (an editor's atomic save);
its source is reported as ``deleted``. ``overflow`` (path "") means events were lost and
anything under the root may have changed."""

# A waiting consumer looks at its stop Event at least this often; an Event cannot wake a Condition.
_STOP_POLL = 0.05


@dataclass(frozen=True)
class Batch:
    """The changes gathered between two reloads.

    ``kinds`` maps each path to its last kind of change; ``first`` and ``last`` are the
    clock times of the first and last event; ``count`` is the number of raw events.

    Example:
        >>> batch = Batch(frozenset({"api/app.py"}), {"api/app.py": "modified"}, 1.0, 1.2, 3)
        >>> sorted(batch.paths), batch.kinds["api/app.py"], batch.count
        (['api/app.py'], 'modified', 3)
    """

    paths: frozenset[str]
    kinds: Mapping[str, str] = field(hash=False)
    first: float
    last: float
    count: int

    def __post_init__(self) -> None:
        if not isinstance(self.kinds, MappingProxyType):
            object.__setattr__(self, "kinds", MappingProxyType(dict(self.kinds)))


class Debouncer:
    """Collect events from any thread and hand them out as debounced :class:`Batch` es.

    Example:
        >>> now = [0.0]
        >>> d = Debouncer(quiet=0.15, max_wait=2.0, clock=lambda: now[0])
        >>> d.add("api/app.py"); d.add("api/app.py", "modified"); d.add("rag/x.py", "created")
        >>> d.due(0.1), d.take(0.1)
        (False, None)
        >>> batch = d.take(0.2)
        >>> sorted(batch.paths), batch.count
        (['api/app.py', 'rag/x.py'], 3)

    In a watch loop (``add`` is the watcher's ``on_change``)::

        while (batch := debouncer.next_batch(stop)) is not None:
            reload(batch)   # events arriving meanwhile go into the next batch
    """

    def __init__(self, quiet: float = 0.15, max_wait: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        if quiet < 0 or max_wait < quiet:
            raise ValueError(f"need 0 <= quiet <= max_wait, got quiet={quiet}, max_wait={max_wait}")
        self.quiet = quiet
        self.max_wait = max_wait
        self._clock = clock
        self._cond = threading.Condition()
        self._kinds: dict[str, str] = {}
        self._first: float | None = None
        self._last = 0.0
        self._count = 0

    def add(self, path: str, kind: str = "modified", t: float | None = None) -> None:
        """Record one event; ``t`` defaults to the clock's now. Safe from any thread."""
        if t is None:
            t = self._clock()
        with self._cond:
            if self._first is None:
                self._first = self._last = t
            else:
                self._first = min(self._first, t)
                self._last = max(self._last, t)
            # Re-insert so the mapping keeps the order of the latest events.
            self._kinds.pop(path, None)
            self._kinds[path] = kind
            self._count += 1
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Number of raw events waiting for the next batch."""
        with self._cond:
            return self._count

    def _deadline(self) -> float | None:
        if self._first is None:
            return None
        return min(self._last + self.quiet, self._first + self.max_wait)

    def due(self, now: float) -> bool:
        """True if a batch is ready at clock time ``now``."""
        with self._cond:
            deadline = self._deadline()
            return deadline is not None and now >= deadline

    def take(self, now: float) -> Batch | None:
        """Hand out the pending batch if it is due at ``now``, else None."""
        with self._cond:
            return self._take_locked(now)

    def _take_locked(self, now: float) -> Batch | None:
        deadline = self._deadline()
        if deadline is None or now < deadline:
            return None
        assert self._first is not None
        batch = Batch(frozenset(self._kinds), self._kinds, self._first, self._last, self._count)
        self._kinds = {}
        self._first = None
        self._count = 0
        return batch

    def wake(self) -> None:
        """Wake a consumer blocked in :meth:`next_batch` so it re-checks its stop Event now."""
        with self._cond:
            self._cond.notify_all()

    def next_batch(self, stop: threading.Event, timeout: float | None = None) -> Batch | None:
        """Block until a batch is due and return it; None once ``stop`` is set or ``timeout`` passes.

        ``stop`` is honoured within about 50 ms (at once after :meth:`wake`). Waits use real
        time, so pair this with the real clock; fake clocks are for :meth:`take`.
        """
        end = None if timeout is None else self._clock() + timeout
        with self._cond:
            while not stop.is_set():
                now = self._clock()
                batch = self._take_locked(now)
                if batch is not None:
                    return batch
                if end is not None and now >= end:
                    return None
                wait = _STOP_POLL
                deadline = self._deadline()
                if deadline is not None:
                    wait = min(wait, deadline - now)
                if end is not None:
                    wait = min(wait, end - now)
                self._cond.wait(max(wait, 0.0))
        return None
