"""One inotify budget: the watcher's choice and doctor's verdict never disagree."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devenv.app import preflight as P
from devenv.watch.limits import INOTIFY_FIX, Budget
from devenv.watch.watcher import choose_mode


@given(folders=st.integers(0, 100_000), limit=st.integers(1, 200_000), in_use=st.integers(0, 100_000))
def test_the_watcher_polls_exactly_when_doctor_warns(folders: int, limit: int, in_use: int) -> None:
    mode, _ = choose_mode(system="Linux", force_polling=None, folders=folders, limit=limit, in_use=in_use)
    check = P.check_inotify(folders, in_use, limit=limit)
    assert (mode == "polling") == (check.status == P.WARN)
    if check.status == P.WARN:
        assert check.fix == INOTIFY_FIX


@given(folders=st.integers(0, 100_000), in_use=st.integers(0, 100_000))
def test_the_limit_it_asks_for_fits(folders: int, in_use: int) -> None:
    assert Budget(folders, Budget(folders, 1, in_use).needed, in_use).fits
