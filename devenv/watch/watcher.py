"""Watch a checkout for changes, spending nothing on the folders its rules ignore.

On Linux the watcher drives one watchdog :class:`~watchdog.observers.inotify_c.InotifyFD`
(one inotify instance, one reader thread) through its ``WatchCallback`` protocol, instead
of watchdog's recursive ``InotifyEmitter``: that emitter walks and watches every folder,
ignored or not, and listens for open / close-without-write events, whose flood during its
own start-up walk overflows the kernel queue on a large tree. :class:`_PrunedInotifyTree`
walks only the folders the :class:`~devenv.watch.ignore.IgnoreRules` keep, for the initial
tree and for every folder created or moved in later, and asks only for change events.

When inotify cannot do the job (too many folders for ``fs.inotify.max_user_watches``, no
inotify, or ``force_polling``) a polling observer takes over, walking with the same pruning;
on macOS and Windows watchdog's native observer is used, with the rules applied to events.

watchdog is imported here only, and lazily, so importing :mod:`devenv.watch` stays cheap.
"""

from __future__ import annotations

import errno
import logging
import os
import platform
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import DevenvError
from .ignore import IgnoreRules, walk_folders
from .limits import INOTIFY_FIX, Budget, read_max_user_watches, watches_in_use

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

__all__ = ["INOTIFY_FIX", "Watcher", "choose_mode", "pruned_folders", "read_max_user_watches"]  # noqa: F822 (re-exported)

_logger = logging.getLogger("devenv.watch")


def _log_warning(message: str) -> None:
    _logger.warning(message)


def _walk(
    root: str, rules: IgnoreRules, start: str = "", enter: Callable[[str], bool] | None = None
) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    """Yield ``(folder, entries)`` for ``start`` and every folder below it the rules keep.

    ``enter(folder)`` runs before the folder is listed (False skips it and its subtree):
    a caller that adds a watch there sees everything created from then on, through the
    watch's events or through the listing. Symlinked folders are not entered.
    """
    return walk_folders(root, lambda child: not rules(child, True), start, enter)


def pruned_folders(root: Path, rules: IgnoreRules) -> list[str]:
    """Root-relative POSIX paths of the folders a watch needs ("" is the root itself).

    Example:
        >>> pruned_folders(Path("."), IgnoreRules())[:1]  # doctest: +SKIP
        ['']
    """
    return [folder for folder, _ in _walk(os.fspath(root), rules)]


def choose_mode(
    *,
    system: str,
    force_polling: bool | None,
    folders: int,
    limit: int | None,
    in_use: int = 0,
) -> tuple[str, str]:
    """Pick ``"inotify"``, ``"native"`` or ``"polling"`` and say why. Pure.

    ``force_polling``: True always polls, False never does (config ``watch.polling = never``:
    inotify even over the limit, with a warning), None decides. ``in_use``: watches this
    user's other programs hold (the limit is shared); see :class:`~devenv.watch.limits.Budget`.

    Example:
        >>> choose_mode(system="Linux", force_polling=None, folders=700, limit=8192)[0]
        'inotify'
        >>> choose_mode(system="Linux", force_polling=None, folders=8000, limit=8192)[0]
        'polling'
        >>> choose_mode(system="Linux", force_polling=None, folders=700, limit=8192, in_use=7000)[0]
        'polling'
    """
    if force_polling:
        return "polling", "polling was asked for"
    if system == "Linux":
        budget = Budget(folders, limit, in_use)
        if not budget.fits:
            over = (
                f"{budget.describe()}: the inotify limit (fs.inotify.max_user_watches) is too low; "
                f"devenv needs it above {budget.needed}. Fix: {INOTIFY_FIX}"
            )
            if force_polling is False:
                return "inotify", f"{over}; polling is off, so some folders may go unwatched"
            return "polling", over
        return "inotify", f"inotify: {budget.describe()}"
    if system in ("Darwin", "Windows"):
        return "native", f"watchdog's native observer on {system}"
    return "polling", f"no native watcher used on {system}"


def _kind_of_file_event(event: Any) -> str:
    if event.is_create:
        return "created"
    if event.is_moved_to:
        return "moved"
    if event.is_delete or event.is_moved_from:
        return "deleted"
    return "modified"


class _PrunedInotifyTree:
    """Watches on the kept folders of one tree, registered on a private watchdog InotifyFD.

    Implements watchdog's ``WatchCallback`` protocol (``on_event``, ``on_watch_deleted``,
    ``on_queue_overflow``); the InotifyFD owns the kernel fd, the reader thread, event
    parsing and shutdown. Watch paths are kept here, root-relative: a renamed folder is
    handled as its old subtree deleted plus its new one created, so no path goes stale.
    Callbacks run on the InotifyFD thread, outside its lock, so they may add watches.
    """

    def __init__(self, root: str, rules: IgnoreRules, emit: Callable[[str, str], None], log: Callable[[str], None]):
        from watchdog.observers.inotify_c import CallbackId, InotifyFD, Mask
        from watchdog.observers.inotify_c import InotifyConstants as C

        self._root = root
        self._rules = rules
        self._emit = emit
        self._log = log
        # Change events only: IN_OPEN / IN_CLOSE_NOWRITE would flood the queue on every read.
        self._mask = Mask(
            C.IN_MODIFY | C.IN_ATTRIB | C.IN_CLOSE_WRITE | C.IN_CREATE | C.IN_DELETE
            | C.IN_MOVED_FROM | C.IN_MOVED_TO | C.IN_DELETE_SELF | C.IN_MOVE_SELF
            | C.IN_ONLYDIR | C.IN_DONT_FOLLOW | C.IN_EXCL_UNLINK
        )  # fmt: skip
        self._fd = InotifyFD()
        self._fd.name = "devenv-watch-inotify"
        self._id = CallbackId(id(self))
        self._lock = threading.Lock()
        self._path_of: dict[Any, str] = {}
        self._wd_of: dict[str, Any] = {}
        self._closed = False
        self._limit_reported = False

    @property
    def watch_count(self) -> int:
        return len(self._path_of)

    def start(self, *, partial_ok: bool = False) -> None:
        """Start reading, then watch the tree.

        Running out of watches raises OSError(ENOSPC) (the caller polls instead), unless
        ``partial_ok``: then the folders that got a watch stay watched, with a warning.
        """
        self._fd.start()
        try:
            with self._lock:
                self._add_tree("", report=False, strict=not partial_ok)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 1.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._fd.stop()
        self._fd.join(timeout)

    # Under self._lock:

    def _add_tree(self, start: str, *, report: bool, strict: bool = False) -> list[str]:
        """Watch ``start`` and the kept folders below it; list what is there when reporting."""

        def enter(folder: str) -> bool:
            return folder in self._wd_of or self._add_watch(folder, strict=strict)

        found: list[str] = []
        for folder, entries in _walk(self._root, self._rules, start, enter):
            if report:
                found.extend(self._kept_children(folder, entries))
        return found

    def _kept_children(self, folder: str, entries: list[os.DirEntry[str]]) -> Iterator[str]:
        for entry in entries:
            child = f"{folder}/{entry.name}" if folder else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if not self._rules(child, is_dir):
                yield child

    def _add_watch(self, folder: str, *, strict: bool) -> bool:
        path = os.fsencode(os.path.join(self._root, folder) if folder else self._root)
        try:
            wd = self._fd.add_callback(path, self._mask, self, self._id)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                if strict:
                    raise
                if not self._limit_reported:
                    self._limit_reported = True
                    self._log(
                        f"devenv watch: inotify watch limit reached; {folder!r} and the folders created "
                        f"after it are NOT watched. Fix: {INOTIFY_FIX}, then restart devenv"
                    )
            elif folder == "":
                raise
            return False
        if wd < 0:  # watchdog returns -1 for EACCES instead of raising
            return False
        self._path_of[wd] = folder
        self._wd_of[folder] = wd
        return True

    def _drop_tree(self, folder: str) -> None:
        prefix = folder + "/"
        gone = [
            (wd, path)
            for path, wd in self._wd_of.items()
            if not folder or path == folder or path.startswith(prefix)
        ]
        for wd, path in gone:
            del self._wd_of[path]
            del self._path_of[wd]
        self._fd.remove_callbacks([(wd, self._id) for wd, _ in gone])

    # WatchCallback protocol, called on the InotifyFD thread:

    def on_event(self, event: Any) -> None:
        changes: list[tuple[str, str]] = []
        with self._lock:
            if self._closed:
                return
            folder = self._path_of.get(event.wd)
            if folder is None:
                return
            if not event.name:
                if folder == "" and (event.is_delete_self or event.is_move_self):
                    self._log(f"devenv watch: the watched folder {self._root} was removed or moved away")
                return
            rel = f"{folder}/{os.fsdecode(event.name)}" if folder else os.fsdecode(event.name)
            is_dir = event.is_directory
            if self._rules(rel, is_dir):
                return
            if not is_dir:
                changes.append((rel, _kind_of_file_event(event)))
            elif event.is_create or event.is_moved_to:
                changes.append((rel, "moved" if event.is_moved_to else "created"))
                changes.extend((path, "created") for path in self._add_tree(rel, report=True))
            elif event.is_delete or event.is_moved_from:
                self._drop_tree(rel)
                changes.append((rel, "deleted"))
        for rel, kind in changes:
            self._emit(rel, kind)

    def on_watch_deleted(self, wd: int) -> None:
        with self._lock:
            folder = self._path_of.pop(wd, None)
            if folder is not None and self._wd_of.get(folder) == wd:
                del self._wd_of[folder]

    def on_queue_overflow(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._log("devenv watch: the inotify event queue overflowed; re-watching the tree")
            self._drop_tree("")
            self._add_tree("", report=False)
        self._emit("", "overflow")

    def on_events_lost(self) -> None:
        """watchdog 7.1.1 calls this after every callback's ``on_queue_overflow``; without it the
        reader thread dies of an AttributeError there and the watch stops silently. The loss was
        reported above already."""


class _ObserverTree:
    """A watchdog observer (polling or native) whose events are filtered by the rules."""

    def __init__(self, observer: BaseObserver, root: str, rules: IgnoreRules, emit: Callable[[str, str], None]):
        from watchdog.events import FileSystemEventHandler

        def rel(path: bytes | str) -> str | None:
            relative = os.path.relpath(os.fsdecode(path), root)
            if relative == "." or relative.startswith(".." + os.sep):
                return None
            return relative.replace(os.sep, "/")

        def report(path: bytes | str, is_dir: bool, kind: str) -> None:
            relative = rel(path)
            if relative is not None and not rules(relative, is_dir):
                emit(relative, kind)

        class Handler(FileSystemEventHandler):
            def dispatch(self, event: Any) -> None:
                kind = event.event_type
                if kind == "moved":
                    report(event.src_path, event.is_directory, "deleted")
                    report(event.dest_path, event.is_directory, "moved")
                elif kind in ("created", "deleted") or (kind in ("modified", "closed") and not event.is_directory):
                    report(event.src_path, event.is_directory, "modified" if kind == "closed" else kind)

        self._observer = observer
        observer.schedule(Handler(), root, recursive=True)

    def start(self) -> None:
        self._observer.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._observer.stop()
        self._observer.join(timeout)


def _pruning_scandir(root: str, rules: IgnoreRules) -> Callable[[str | None], Iterator[os.DirEntry[str]]]:
    """An ``os.scandir`` for watchdog's polling snapshots that hides what the rules ignore."""

    def listdir(path: str | None) -> Iterator[os.DirEntry[str]]:
        folder = os.path.relpath(path or root, root).replace(os.sep, "/")
        folder = "" if folder == "." else folder
        with os.scandir(path or root) as it:
            for entry in it:
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if not rules(f"{folder}/{entry.name}" if folder else entry.name, is_dir):
                    yield entry

    return listdir


class Watcher:
    """Report changes under ``root`` that the rules do not ignore, as ``on_change(path, kind)``.

    ``path`` is root-relative POSIX; ``kind`` is one of :data:`devenv.watch.KINDS`.
    ``on_change`` runs on the watcher's thread: keep it short (``Debouncer.add`` is).
    ``force_polling``: True forces polling, None picks inotify / native / polling.
    ``max_watches`` overrides the inotify limit read from /proc (for tests).

    Example::

        debouncer = Debouncer()
        with Watcher(root, load_ignore_rules(root), debouncer.add) as watcher:
            log(f"watching {watcher.watch_count} folders ({watcher.mode})")
            while (batch := debouncer.next_batch(stop)) is not None:
                reload(batch)
    """

    def __init__(
        self,
        root: Path,
        rules: IgnoreRules,
        on_change: Callable[[str, str], None],
        *,
        force_polling: bool | None = None,
        poll_interval: float = 0.5,
        log: Callable[[str], None] = _log_warning,
        max_watches: int | None = None,
    ) -> None:
        self.root = os.path.abspath(os.fspath(root))
        self.rules = rules
        self._on_change = on_change
        self._force_polling = force_polling
        self._poll_interval = poll_interval
        self._log = log
        self._max_watches = max_watches
        self._backend: _PrunedInotifyTree | _ObserverTree | None = None
        self._folders = 0
        self.mode = ""
        self.reason = ""

    @property
    def watch_count(self) -> int:
        """Folders being watched: inotify watches in use, or folders walked by each poll."""
        if isinstance(self._backend, _PrunedInotifyTree):
            return self._backend.watch_count
        return self._folders

    def __repr__(self) -> str:
        return f"Watcher({self.root!r}, mode={self.mode or 'stopped'!r}, watches={self.watch_count})"

    def _emit(self, path: str, kind: str) -> None:
        # An exception escaping here would kill the watcher's thread and end all watching.
        try:
            self._on_change(path, kind)
        except Exception:
            _logger.exception("devenv watch: on_change failed for %r (%s)", path, kind)

    def start(self) -> Watcher:
        """Walk the tree, choose a mode and start watching; ready when this returns."""
        if not os.path.isdir(self.root):
            raise FileNotFoundError(errno.ENOENT, "no folder to watch", self.root)
        self._folders = len(pruned_folders(Path(self.root), self.rules))
        limit = self._max_watches if self._max_watches is not None else read_max_user_watches()
        self.mode, self.reason = choose_mode(
            system=platform.system(), force_polling=self._force_polling, folders=self._folders, limit=limit,
            in_use=0 if self._max_watches is not None else watches_in_use(),
        )
        if self.mode == "inotify":
            if "Fix:" in self.reason:
                self._log(f"devenv watch: {self.reason}")
            self._start_inotify(limit)
        elif self.mode == "polling" and not self._force_polling:
            self._warn_polling()
        if self.mode == "native":
            from watchdog.observers import Observer

            self._backend = _ObserverTree(Observer(), self.root, self.rules, self._emit)
            self._backend.start()
        elif self.mode == "polling":
            self._start_polling()
        return self

    def _start_inotify(self, limit: int | None) -> None:
        never_poll = self._force_polling is False
        try:
            tree = _PrunedInotifyTree(self.root, self.rules, self._emit, self._log)
            tree.start(partial_ok=never_poll)
        except (ImportError, AttributeError, OSError) as exc:
            if never_poll:
                raise DevenvError(
                    f"cannot watch {self.root} with inotify: {exc}", fix="set watch.polling to auto or always"
                ) from exc
            self._inotify_failed(exc, limit)
        else:
            self._backend = tree

    def _inotify_failed(self, exc: BaseException, limit: int | None) -> None:
        if isinstance(exc, (ImportError, AttributeError)):
            # watchdog's inotify internals moved (this adapter targets watchdog 7.x).
            self.reason = f"watchdog's inotify interface is not usable here ({exc})"
        elif isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            self.reason = (
                f"the inotify watch limit ({limit}) ran out while watching {self._folders} folders; "
                f"other programs hold watches too. Fix: {INOTIFY_FIX}"
            )
        else:
            self.reason = f"inotify failed: {exc}"
        self.mode = "polling"
        self._warn_polling()

    def _warn_polling(self) -> None:
        self._log(
            f"devenv watch: falling back to POLLING every {self._poll_interval:g} s (slower, costs CPU): {self.reason}"
        )

    def _start_polling(self) -> None:
        from watchdog.observers.polling import PollingObserverVFS

        observer = PollingObserverVFS(
            os.lstat, _pruning_scandir(self.root, self.rules), polling_interval=self._poll_interval
        )
        self._backend = _ObserverTree(observer, self.root, self.rules, self._emit)
        self._backend.start()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop watching; waits at most about ``timeout`` seconds. Idempotent."""
        backend, self._backend = self._backend, None
        if backend is not None:
            backend.stop(timeout)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
