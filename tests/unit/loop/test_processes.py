"""The process tracker against recorded ``procs`` answers: what runs, relaunches, crash loops."""

from __future__ import annotations

from devenv.loop.processes import LONG_LIFE, CrashLoop, ProcessTracker

SERVER, TASKS = "api/ragflow_server.py", "rag/svr/task_executor.py"


def proc(script, pid, start=None, age=1.0):
    return {"script": script, "pid": pid, "start": pid if start is None else start, "age": age}


def tracker():
    return ProcessTracker({"server": SERVER, "task_executor": TASKS, "admin": "admin/server/admin_server.py"})


def test_only_processes_seen_count_as_running():
    t = tracker()
    t.observe([proc(SERVER, 10), proc(TASKS, 20)], now=0)
    assert t.running() == ["server", "task_executor"]
    assert not t.ever_ran("admin")


def test_a_crash_loop_is_reported_once_on_the_second_unexpected_exit():
    t = tracker()
    seen = [t.observe([proc(SERVER, 10), proc(TASKS, 20)], now=0)]
    seen.append(t.observe([proc(TASKS, 20)], now=1))  # server died once
    seen.append(t.observe([proc(SERVER, 11), proc(TASKS, 20)], now=2))  # relaunched
    seen.append(t.observe([proc(SERVER, 12), proc(TASKS, 20)], now=3))  # died again, relaunched between polls
    seen.append(t.observe([proc(SERVER, 13), proc(TASKS, 20)], now=4))  # and again: same episode, said once
    assert seen[:3] == [None, None, None]
    assert seen[3] == CrashLoop("server", SERVER, 2, 1)
    assert seen[4] is None
    assert t.kinds["server"].restarts == 3


def test_exits_devenv_caused_are_reloads_not_crashes():
    t = tracker()
    t.observe([proc(SERVER, 10)], now=0)
    for i in range(5):  # five reloads in a row
        t.expect_exit(["server"])
        assert t.observe([proc(SERVER, 11 + i)], now=1 + i) is None
    assert t.kinds["server"].restarts == 5 and t.kinds["server"].exits == []


def test_a_reload_starts_a_new_episode():
    t = tracker()
    t.observe([proc(SERVER, 10)], now=0)
    t.observe([proc(SERVER, 11)], now=1)
    assert t.observe([proc(SERVER, 12)], now=2) is not None  # crash loop
    t.expect_exit(["server"])  # the user saves a fix: devenv restarts it
    assert t.observe([proc(SERVER, 13)], now=3) is None
    t.observe([proc(SERVER, 14)], now=4)
    assert t.observe([proc(SERVER, 15)], now=5) is not None  # the fix did not help: said again


def test_a_long_life_ends_the_episode():
    t = tracker()
    t.observe([proc(SERVER, 10)], now=0)
    t.observe([proc(SERVER, 11, age=LONG_LIFE + 1)], now=1)  # one crash, then it ran for minutes
    assert t.observe([proc(SERVER, 12)], now=200) is None  # a single crash much later is not a loop


def test_a_loop_that_ended_still_counts():
    t = tracker()
    t.observe([proc(SERVER, 10)], now=0)
    t.observe([proc(SERVER, 11)], now=1)
    assert t.observe([], now=2) == CrashLoop("server", SERVER, 2, 1)  # `set -e` ended the loop after the second


def test_a_reused_pid_is_a_new_process():
    t = tracker()
    t.observe([proc(SERVER, 10, start=100)], now=0)
    t.observe([proc(SERVER, 10, start=200)], now=1)
    assert t.kinds["server"].restarts == 1 and len(t.kinds["server"].exits) == 1


def test_a_new_container_forgets_the_old_ones_history():
    t = tracker()
    t.for_container("a")
    t.observe([proc(SERVER, 10)], now=0)
    t.observe([proc(SERVER, 11)], now=1)
    t.for_container("b")
    assert t.snapshot(2) == [] and not t.ever_ran("server")


def test_snapshot_lists_pid_uptime_and_restarts():
    t = tracker()
    t.observe([proc(SERVER, 10, age=5.0)], now=0)
    t.expect_exit(["server"])
    t.observe([proc(SERVER, 11, age=0.5)], now=1)
    (only,) = t.snapshot(1)
    assert (only["name"], only["pid"], only["uptime_seconds"], only["restarts"]) == ("server", 11, 0.5, 1)


def test_an_answer_about_some_scripts_leaves_the_others_alone():
    t = tracker()
    t.observe([proc(SERVER, 10), proc(TASKS, 20)], now=0)
    t.observe([proc(SERVER, 11)], now=1, only=[SERVER])
    assert t.running() == ["server", "task_executor"] and t.kinds["task_executor"].exits == []

def test_a_loop_that_does_not_note_its_exits_is_watched_by_looking_again():
    # Launches without exits (a loop with no `sleep` after `wait`): the log cannot be trusted for it.
    t = ProcessTracker({"server": "s.py"})
    log = lambda n: {"s.py": {"launches": n, "exits": 0, "devenv_exits": 0}}  # noqa: E731
    assert t.observe([{"script": "s.py", "pid": 1, "start": 1, "age": 1.0}], now=0.0, loops=log(1)) is None
    assert t.observe([{"script": "s.py", "pid": 2, "start": 2, "age": 0.1}], now=1.0, loops=log(2)) is None
    found = t.observe([{"script": "s.py", "pid": 3, "start": 3, "age": 0.1}], now=2.0, loops=log(3))
    assert found is not None and found.exits == 2


def test_exits_devenv_caused_do_not_count_and_a_crash_after_a_reload_does():
    t = ProcessTracker({"server": "s.py"})
    log = lambda launches, exits, mine: {"s.py": {"launches": launches, "exits": exits, "devenv_exits": mine}}  # noqa: E731
    assert t.observe([], now=0.0, loops=log(1, 0, 0)) is None
    t.expect_exit(["server"])
    assert t.observe([], now=1.0, loops=log(2, 1, 1)) is None  # devenv's reload (its marker)
    assert t.observe([], now=2.0, loops=log(3, 2, 1)) is None  # the new code dies once
    assert t.observe([], now=3.0, loops=log(4, 3, 1)) == CrashLoop("server", "s.py", 2, 2.0)
    assert t.snapshot(3.0)[0]["restarts"] == 3
