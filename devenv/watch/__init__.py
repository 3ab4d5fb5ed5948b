"""devenv's file watcher: ignore rules, a debouncer and a pruning watchdog adapter.

Importing this package stays cheap (no watchdog): :class:`Watcher` is loaded on first use.

Example::

    rules = load_ignore_rules(root, extra=settings.watch_ignore)
    debouncer = Debouncer(quiet=0.15, max_wait=2.0)
    with Watcher(root, rules, debouncer.add) as watcher:
        while (batch := debouncer.next_batch(stop)) is not None:
            reload(batch.paths)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devenv.watch.debounce import KINDS, Batch, Debouncer
from devenv.watch.ignore import DEFAULT_PATTERNS, IgnoreRules, load_ignore_rules

if TYPE_CHECKING:
    from devenv.watch.watcher import Watcher

__all__ = ["DEFAULT_PATTERNS", "KINDS", "Batch", "Debouncer", "IgnoreRules", "Watcher", "load_ignore_rules"]


def __getattr__(name: str) -> Any:
    # The watcher pulls in watchdog; keep it off the import path of `devenv --help`.
    if name == "Watcher":
        from devenv.watch.watcher import Watcher

        return Watcher
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
