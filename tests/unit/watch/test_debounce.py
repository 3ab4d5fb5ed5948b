"""Debouncer: driven by a fake clock through due()/take(); one threaded test for stop."""

from __future__ import annotations

import threading
import time

import pytest

from devenv.watch.debounce import Batch, Debouncer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def debouncer(clock: FakeClock) -> Debouncer:
    return Debouncer(quiet=0.15, max_wait=2.0, clock=clock)


def test_nothing_pending_means_nothing_due(debouncer: Debouncer, clock: FakeClock) -> None:
    assert not debouncer.due(clock.now + 100)
    assert debouncer.take(clock.now + 100) is None


def test_batch_is_due_after_the_quiet_period(debouncer: Debouncer, clock: FakeClock) -> None:
    debouncer.add("api/app.py")
    clock.advance(0.1)
    debouncer.add("api/app.py")
    assert not debouncer.due(clock.now + 0.149)
    assert debouncer.take(clock.now + 0.149) is None
    batch = debouncer.take(clock.now + 0.15)
    assert batch == Batch(frozenset({"api/app.py"}), {"api/app.py": "modified"}, 100.0, 100.1, 2)
    assert debouncer.take(clock.now + 10) is None  # taken: nothing left


def test_batch_deduplicates_and_keeps_the_last_kind(debouncer: Debouncer, clock: FakeClock) -> None:
    debouncer.add("a.py", "created")
    debouncer.add("a.py", "modified")
    debouncer.add("b.py", "modified")
    debouncer.add("b.py", "deleted")
    debouncer.add("c.py", "moved")
    batch = debouncer.take(clock.now + 1)
    assert batch is not None
    assert batch.paths == {"a.py", "b.py", "c.py"}
    assert dict(batch.kinds) == {"a.py": "modified", "b.py": "deleted", "c.py": "moved"}
    assert batch.count == 5
    with pytest.raises(TypeError):
        batch.kinds["a.py"] = "created"  # type: ignore[index]


def test_explicit_event_times(debouncer: Debouncer) -> None:
    debouncer.add("a.py", t=10.0)
    debouncer.add("b.py", t=10.1)
    assert not debouncer.due(10.2)
    batch = debouncer.take(10.25)
    assert batch is not None and (batch.first, batch.last) == (10.0, 10.1)


def test_burst_of_2000_files_is_one_batch(debouncer: Debouncer, clock: FakeClock) -> None:
    batches = []
    for i in range(2000):
        # A few events per file, as inotify reports create, modify and close-write.
        for kind in ("created", "modified", "modified"):
            debouncer.add(f"api/gen/f{i}.py", kind)
        clock.advance(0.0001)
        if (batch := debouncer.take(clock.now)) is not None:
            batches.append(batch)
    clock.advance(0.15)
    batches.append(debouncer.take(clock.now))
    assert len(batches) == 1
    assert len(batches[0].paths) == 2000
    assert batches[0].count == 6000


def test_steady_trickle_is_capped_by_max_wait(debouncer: Debouncer, clock: FakeClock) -> None:
    """One event every 50 ms for 5 s never goes quiet: max_wait must still cut batches."""
    taken: list[tuple[float, Batch]] = []
    for i in range(100):
        debouncer.add(f"logs/{i % 3}.txt")
        for _ in range(5):  # a consumer polling every 10 ms
            clock.advance(0.01)
            if (batch := debouncer.take(clock.now)) is not None:
                taken.append((clock.now, batch))
    clock.advance(0.15)
    last = debouncer.take(clock.now)
    assert last is not None
    assert len(taken) >= 2
    # Each batch is cut max_wait after its first event (give or take one 10 ms poll), so
    # batches come no more than max_wait apart (plus the 50 ms until the next event).
    assert all(t - batch.first <= 2.0 + 0.01 + 1e-6 for t, batch in taken)
    times = [t for t, _ in taken]
    gaps = [b - a for a, b in zip([100.0, *times], times)]
    assert all(gap <= 2.0 + 0.05 + 0.01 + 1e-6 for gap in gaps), gaps
    assert sum(batch.count for _, batch in taken) + last.count == 100


def test_events_during_a_busy_consumer_land_in_the_next_batch(debouncer: Debouncer, clock: FakeClock) -> None:
    debouncer.add("a.py")
    clock.advance(0.2)
    first = debouncer.take(clock.now)
    assert first is not None and first.paths == {"a.py"}
    # The consumer now reloads for 3 s while edits keep arriving.
    for name in ("b.py", "c.py", "a.py"):
        clock.advance(1.0)
        debouncer.add(name)
    assert debouncer.pending == 3
    clock.advance(0.2)
    second = debouncer.take(clock.now)
    assert second is not None and second.paths == {"a.py", "b.py", "c.py"}
    assert second.first == first.first + 0.2 + 1.0


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="quiet"):
        Debouncer(quiet=3.0, max_wait=2.0)


def test_next_batch_returns_a_due_batch_with_the_real_clock() -> None:
    debouncer = Debouncer(quiet=0.05, max_wait=1.0)
    stop = threading.Event()
    threading.Timer(0.05, debouncer.add, args=("a.py",)).start()
    batch = debouncer.next_batch(stop, timeout=10)
    assert batch is not None and batch.paths == {"a.py"}


def test_next_batch_times_out() -> None:
    start = time.monotonic()
    assert Debouncer().next_batch(threading.Event(), timeout=0.1) is None
    assert time.monotonic() - start < 5


def test_stop_wakes_next_batch_promptly() -> None:
    debouncer = Debouncer(quiet=0.15, max_wait=2.0)
    stop = threading.Event()
    result: list[object] = []
    returned = threading.Event()

    def consume() -> None:
        result.append(debouncer.next_batch(stop))
        returned.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    time.sleep(0.1)  # let it block (a head start, not a timing assertion)
    debouncer.add("pending.py")  # pending but not yet due
    stop.set()
    # Honoured within ~0.1 s; the bound is generous for a loaded CI machine.
    assert returned.wait(2.0)
    assert result == [None]
    assert debouncer.pending == 1  # not lost: the next consumer gets it


def test_wake_makes_stop_immediate() -> None:
    debouncer = Debouncer()
    stop = threading.Event()
    done = threading.Event()
    consumer = threading.Thread(target=lambda: (debouncer.next_batch(stop), done.set()), daemon=True)
    consumer.start()
    stop.set()
    debouncer.wake()
    assert done.wait(2.0)


def test_add_is_thread_safe() -> None:
    debouncer = Debouncer(quiet=0.05, max_wait=5.0)

    def produce(n: int) -> None:
        for i in range(500):
            debouncer.add(f"t{n}/f{i}.py")

    producers = [threading.Thread(target=produce, args=(n,)) for n in range(4)]
    for p in producers:
        p.start()
    for p in producers:
        p.join()
    batch = debouncer.next_batch(threading.Event(), timeout=10)
    assert batch is not None and batch.count == 2000 and len(batch.paths) == 2000
