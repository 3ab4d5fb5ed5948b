"""Watcher on real temporary folders: inotify (Linux) and polling.

Every wait has a deadline instead of a fixed sleep; "not reported" is checked by writing a
sentinel file after the ignored writes and waiting for the sentinel (events keep order).
"""

from __future__ import annotations

import errno
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devenv.watch.ignore import IgnoreRules
from devenv.watch.watcher import INOTIFY_FIX, Watcher, choose_mode, pruned_folders

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")
DEADLINE = 5.0
POLL = 0.1


class Recorder:
    """Collects on_change calls; waits on a condition with a deadline."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, path: str, kind: str) -> None:
        with self._cond:
            self.events.append((path, kind))
            self._cond.notify_all()

    @property
    def paths(self) -> set[str]:
        with self._cond:
            return {p for p, _ in self.events}

    def wait_for(self, predicate: Callable[[list[tuple[str, str]]], bool], timeout: float = DEADLINE) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self.events), timeout)

    def wait_path(self, path: str, kind: str | None = None, timeout: float = DEADLINE) -> bool:
        return self.wait_for(lambda evs: any(p == path and kind in (None, k) for p, k in evs), timeout)

    def clear(self) -> None:
        with self._cond:
            self.events.clear()


def write(path: Path, text: str = "x = 1\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    write(root / "api" / "app.py")
    write(root / "rag" / "nlp" / "x.py")
    write(root / "web" / "src" / "App.tsx")
    write(root / "web" / "node_modules" / "react" / "index.js")
    write(root / ".git" / "HEAD", "ref: refs/heads/main\n")
    write(root / "api" / "__pycache__" / "app.cpython-311.pyc")
    return root


MODES = [pytest.param(None, marks=linux_only, id="inotify"), pytest.param(True, id="polling")]


@pytest.fixture(params=MODES)
def watching(request: pytest.FixtureRequest, tree: Path) -> Iterator[tuple[Watcher, Recorder, Path]]:
    recorder = Recorder()
    logs: list[str] = []
    with Watcher(tree, IgnoreRules(), recorder, force_polling=request.param, poll_interval=POLL, log=logs.append) as w:
        assert w.mode == ("polling" if request.param else "inotify")
        yield w, recorder, tree
    assert not logs, logs


def test_a_write_is_reported_with_its_relative_path(watching: tuple[Watcher, Recorder, Path]) -> None:
    _, recorder, root = watching
    write(root / "api" / "app.py", "x = 2\n")
    assert recorder.wait_path("api/app.py", "modified")
    write(root / "rag" / "nlp" / "new.py")
    assert recorder.wait_path("rag/nlp/new.py")


def test_writes_in_ignored_folders_are_not_reported(watching: tuple[Watcher, Recorder, Path]) -> None:
    _, recorder, root = watching
    write(root / "web" / "node_modules" / "react" / "index.js", "changed")
    write(root / "web" / "node_modules" / "new-pkg" / "lib" / "a.js")
    write(root / ".git" / "index", "changed")
    write(root / "api" / "__pycache__" / "app.cpython-311.pyc", "changed")
    write(root / "api" / "app.pyc", "changed")
    write(root / "api" / "sentinel.py")
    assert recorder.wait_path("api/sentinel.py")
    assert recorder.paths <= {"api/sentinel.py"}, recorder.events


def test_atomic_save_reports_the_destination(watching: tuple[Watcher, Recorder, Path]) -> None:
    watcher, recorder, root = watching
    for temp in (".app.py.swp", "app.py.tmp", "app.py~"):
        recorder.clear()
        write(root / "api" / temp, "x = 3\n")
        os.replace(root / "api" / temp, root / "api" / "app.py")
        assert recorder.wait_path("api/app.py")
        assert recorder.paths == {"api/app.py"}, recorder.events
        if watcher.mode == "inotify":
            assert ("api/app.py", "moved") in recorder.events


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="GNU sed's temporary file name")
def test_sed_in_place_reports_only_the_edited_file(watching: tuple[Watcher, Recorder, Path]) -> None:
    """`sed -i` writes ./sedXXXXXX, then renames it over the file: only the file is a change."""
    import subprocess

    _, recorder, root = watching
    subprocess.run(["sed", "-i", "s/x = 1/x = 9/", str(root / "api" / "app.py")], check=True)
    assert recorder.wait_path("api/app.py")
    write(root / "api" / "sentinel.py")
    assert recorder.wait_path("api/sentinel.py")
    assert recorder.paths == {"api/app.py", "api/sentinel.py"}, recorder.events


def test_delete_is_reported(watching: tuple[Watcher, Recorder, Path]) -> None:
    _, recorder, root = watching
    (root / "api" / "app.py").unlink()
    assert recorder.wait_path("api/app.py", "deleted")


def test_move_is_deleted_source_and_new_destination(watching: tuple[Watcher, Recorder, Path]) -> None:
    _, recorder, root = watching
    os.rename(root / "api" / "app.py", root / "api" / "main.py")
    assert recorder.wait_path("api/app.py", "deleted")
    assert recorder.wait_path("api/main.py")


def test_files_in_new_folders_are_seen(watching: tuple[Watcher, Recorder, Path]) -> None:
    _, recorder, root = watching
    # Create the file right after its folders, many times: the race between a new folder
    # and its watch must not lose the file.
    expected = set()
    for i in range(20):
        folder = root / "agent" / f"pkg{i}" / "sub"
        os.makedirs(folder)
        (folder / "m.py").write_text("x")
        expected.add(f"agent/pkg{i}/sub/m.py")
    assert recorder.wait_for(lambda evs: expected <= {p for p, _ in evs}), sorted(expected - recorder.paths)


def test_renamed_folder_reports_new_paths_afterwards(watching: tuple[Watcher, Recorder, Path]) -> None:
    _, recorder, root = watching
    os.rename(root / "rag", root / "rag2")
    assert recorder.wait_path("rag2/nlp/x.py") or recorder.wait_path("rag2")
    recorder.clear()
    write(root / "rag2" / "nlp" / "x.py", "edited")
    assert recorder.wait_path("rag2/nlp/x.py", "modified")
    assert not any(p.startswith("rag/") for p in recorder.paths)


@linux_only
def test_new_ignored_folders_cost_no_watch(tree: Path) -> None:
    recorder = Recorder()
    with Watcher(tree, IgnoreRules(), recorder) as watcher:
        before = watcher.watch_count
        write(tree / "rag" / "__pycache__" / "x.pyc")
        write(tree / "web" / "node_modules" / "pkg" / "deep" / "a.js")
        os.makedirs(tree / "common" / "util")
        write(tree / "common" / "util" / "sentinel.py")
        assert recorder.wait_path("common/util/sentinel.py")
        assert watcher.watch_count == before + 2
        assert not any("__pycache__" in p or "node_modules" in p for p in recorder.paths)


def inotify_watches_in_process() -> int:
    """Ground truth from the kernel: one "inotify wd:" line per watch in this process."""
    from devenv.watch.limits import inotify_watches

    return inotify_watches()


def build_big_ignored_tree(root: Path) -> None:
    for i in range(300):
        (root / "web" / "node_modules" / f"pkg{i // 10}" / f"dir{i}").mkdir(parents=True, exist_ok=True)
    for name in ("api", "rag", "deepdoc", "agent", "common"):
        write(root / name / "__init__.py")


@linux_only
def test_watch_count_excludes_ignored_trees(tmp_path: Path) -> None:
    build_big_ignored_tree(tmp_path)
    kept = pruned_folders(tmp_path, IgnoreRules())
    assert sorted(kept) == ["", "agent", "api", "common", "deepdoc", "rag", "web"]
    baseline = inotify_watches_in_process()
    with Watcher(tmp_path, IgnoreRules(), Recorder()) as watcher:
        assert watcher.mode == "inotify"
        assert watcher.watch_count == 7  # root, web and five source folders
        assert inotify_watches_in_process() - baseline == 7
    assert inotify_watches_in_process() == baseline


def test_polling_prunes_ignored_trees_too(tmp_path: Path) -> None:
    build_big_ignored_tree(tmp_path)
    recorder = Recorder()
    with Watcher(tmp_path, IgnoreRules(), recorder, force_polling=True, poll_interval=POLL) as watcher:
        assert watcher.mode == "polling"
        assert watcher.watch_count == 7
        assert watcher.reason == "polling was asked for"
        write(tmp_path / "web" / "node_modules" / "pkg0" / "dir0" / "x.js")
        write(tmp_path / "api" / "sentinel.py")
        assert recorder.wait_path("api/sentinel.py")
        assert recorder.paths == {"api/sentinel.py"}


def test_polling_snapshot_never_lists_ignored_entries(tmp_path: Path) -> None:
    from devenv.watch.watcher import _pruning_scandir

    build_big_ignored_tree(tmp_path)
    listdir = _pruning_scandir(str(tmp_path), IgnoreRules())
    assert {e.name for e in listdir(str(tmp_path / "web"))} == set()  # only node_modules there
    assert {e.name for e in listdir(str(tmp_path))} == {"api", "rag", "deepdoc", "agent", "common", "web"}


@linux_only
def test_too_many_folders_for_the_limit_picks_polling_loudly(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / "src" / f"d{i}").mkdir(parents=True)
    logs: list[str] = []
    recorder = Recorder()
    with Watcher(tmp_path, IgnoreRules(), recorder, max_watches=16, poll_interval=POLL, log=logs.append) as watcher:
        assert watcher.mode == "polling"
        assert watcher.watch_count == 22
        write(tmp_path / "src" / "d3" / "a.py")
        assert recorder.wait_path("src/d3/a.py")
    assert len(logs) == 1
    assert "22 folders" in logs[0] and "16" in logs[0] and INOTIFY_FIX in logs[0] and "POLLING" in logs[0]


def fail_add_callback(monkeypatch: pytest.MonkeyPatch, after: int, err: int) -> None:
    from watchdog.observers.inotify_c import InotifyFD

    real_add = InotifyFD.add_callback
    calls = []

    def add_callback(self: InotifyFD, *args: object, **kwargs: object) -> int:
        calls.append(args[0])
        if len(calls) > after:
            raise OSError(err, os.strerror(err))
        return real_add(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(InotifyFD, "add_callback", add_callback)


@linux_only
def test_running_out_of_watches_while_starting_falls_back_to_polling(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_add_callback(monkeypatch, after=3, err=errno.ENOSPC)
    logs: list[str] = []
    recorder = Recorder()
    baseline = inotify_watches_in_process()
    with Watcher(tree, IgnoreRules(), recorder, poll_interval=POLL, log=logs.append) as watcher:
        assert watcher.mode == "polling"
        assert inotify_watches_in_process() == baseline  # the partial watches were released
        write(tree / "api" / "new.py")
        assert recorder.wait_path("api/new.py")
    assert len(logs) == 1 and "ran out" in logs[0] and INOTIFY_FIX in logs[0]


@linux_only
def test_never_polling_keeps_inotify_over_the_limit_and_says_so(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / "src" / f"d{i}").mkdir(parents=True)
    logs: list[str] = []
    recorder = Recorder()
    with Watcher(tmp_path, IgnoreRules(), recorder, force_polling=False, max_watches=16, log=logs.append) as watcher:
        assert watcher.mode == "inotify"
        write(tmp_path / "src" / "d3" / "a.py")
        assert recorder.wait_path("src/d3/a.py")
    assert len(logs) == 1 and INOTIFY_FIX in logs[0] and "unwatched" in logs[0]


@linux_only
def test_never_polling_keeps_partial_watches_when_the_limit_runs_out(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_add_callback(monkeypatch, after=3, err=errno.ENOSPC)
    logs: list[str] = []
    with Watcher(tree, IgnoreRules(), Recorder(), force_polling=False, log=logs.append) as watcher:
        assert watcher.mode == "inotify"
        assert watcher.watch_count == 3
    assert len(logs) == 1 and "NOT watched" in logs[0] and INOTIFY_FIX in logs[0]


@linux_only
def test_never_polling_without_inotify_is_an_error(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devenv.core.errors import DevenvError

    fail_add_callback(monkeypatch, after=0, err=errno.EMFILE)
    with pytest.raises(DevenvError, match="inotify") as raised, Watcher(tree, IgnoreRules(), Recorder(), force_polling=False):
        pass
    assert raised.value.fix and "watch.polling" in raised.value.fix


def test_a_failing_callback_does_not_stop_the_watcher(watching: tuple[Watcher, Recorder, Path]) -> None:
    watcher, recorder, root = watching
    failed = threading.Event()

    def flaky(path: str, kind: str) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("consumer bug")
        recorder(path, kind)

    watcher._on_change = flaky  # noqa: SLF001 - swap the consumer under test
    write(root / "api" / "first.py")
    assert failed.wait(DEADLINE)
    write(root / "api" / "second.py")
    assert recorder.wait_path("api/second.py")


@pytest.mark.parametrize("force_polling", MODES)
def test_exit_is_bounded_and_leaves_no_threads(tree: Path, force_polling: bool | None) -> None:
    before = set(threading.enumerate())
    watcher = Watcher(tree, IgnoreRules(), Recorder(), force_polling=force_polling, poll_interval=POLL)
    with watcher:
        pass
    start = time.monotonic()
    watcher.stop()  # idempotent
    assert time.monotonic() - start < 1.0
    deadline = time.monotonic() + DEADLINE
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - before


def test_symlinked_folders_are_not_followed(tree: Path) -> None:
    os.symlink(tree, tree / "api" / "loop")
    os.symlink(tree / "web" / "node_modules", tree / "modules")
    kept = pruned_folders(tree, IgnoreRules())
    assert sorted(kept) == ["", "api", "rag", "rag/nlp", "web", "web/src"]


def test_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), Watcher(tmp_path / "nope", IgnoreRules(), Recorder()):
        pass


@pytest.mark.parametrize(
    ("system", "force", "folders", "limit", "mode"),
    [
        ("Linux", None, 700, 8192, "inotify"),
        ("Linux", False, 700, 8192, "inotify"),
        ("Linux", None, 7400, 8192, "polling"),  # over 90 % of the limit
        ("Linux", None, 700, None, "inotify"),
        ("Linux", True, 10, 8192, "polling"),
        ("Linux", False, 7400, 8192, "inotify"),  # polling is off: warn, do not switch
        ("Darwin", None, 700, None, "native"),
        ("Windows", None, 700, None, "native"),
        ("FreeBSD", None, 700, None, "polling"),
    ],
)
def test_choose_mode(system: str, force: bool | None, folders: int, limit: int | None, mode: str) -> None:
    chosen, reason = choose_mode(system=system, force_polling=force, folders=folders, limit=limit)
    assert chosen == mode
    assert reason
    if system == "Linux" and folders > 1000:
        assert str(folders) in reason and str(limit) in reason and INOTIFY_FIX in reason


def test_importing_the_package_does_not_import_watchdog() -> None:
    import subprocess

    code = "import sys, devenv.watch; print(any(m.startswith('watchdog') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@linux_only
def test_a_kernel_queue_overflow_is_reported_and_the_watch_goes_on(tree: Path) -> None:
    """The kernel's overflow event, handed to the watcher's inotify fd as its reader thread hands it
    (watchdog 7.1.1 also calls ``on_events_lost`` then: without it the thread died silently)."""
    from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent

    recorder, logs = Recorder(), []
    with Watcher(tree, IgnoreRules(), recorder, log=logs.append) as w:
        assert w.mode == "inotify"
        w._backend._fd.handle_event(InotifyEvent(-1, InotifyConstants.IN_Q_OVERFLOW, 0, b""))
        assert recorder.wait_path("", "overflow"), recorder.events
        assert any("overflowed" in line for line in logs), logs
        write(tree / "rag" / "nlp" / "after.py")
        assert recorder.wait_path("rag/nlp/after.py"), recorder.events
