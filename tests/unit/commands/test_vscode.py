"""``devenv vscode``: the entries, the JSONC merge, and the problem matcher on lines devenv really prints."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devenv.app.cli import app, report
from devenv.app.ui import TAG_UP, UI
from devenv.app.workspace import open_workspace
from devenv.commands import vscode as V
from devenv.core import jsonc as J
from devenv.core.errors import DevenvError, UnhealthyError
from devenv.core.tracebacks import last_failure
from devenv.loop.reloader import ReloadReport
from devenv.loop.session import WatchSession
from tests.fakes import FakeEngine
from tests.fixtures import EXPECTED

runner = CliRunner()

# --- the entries, against hand-written JSON -----------------------------------------------------

EXPECTED_MATCHER = {
    "owner": "devenv",
    "source": "devenv",
    "severity": "error",
    "fileLocation": ["relative", "${workspaceFolder}"],
    "pattern": {"regexp": r"^\[devenv\] error: ([^\s:/][^\s:]*):(\d+): (.*)$", "file": 1, "line": 2, "message": 3},
    "background": {
        "activeOnStart": True,
        "beginsPattern": r"^\[devenv\] (up|change):",
        "endsPattern": r"^\[devenv\] (ready|reload ok|reload failed):",
    },
}

EXPECTED_TASKS = [
    {
        "label": "devenv: up",
        "detail": "Start RAGFlow in dev mode, wait until healthy, reload on save",
        "type": "process",
        "command": "devenv",
        "args": ["up"],
        "options": {"cwd": "${workspaceFolder}"},
        "isBackground": True,
        "problemMatcher": EXPECTED_MATCHER,
    },
    {
        "label": "devenv: up (debug)",
        "detail": "Like devenv: up, with the debugger port open on 127.0.0.1",
        "type": "process",
        "command": "devenv",
        "args": ["up", "--debug"],
        "options": {"cwd": "${workspaceFolder}"},
        "isBackground": True,
        "problemMatcher": EXPECTED_MATCHER,
    },
    {
        "label": "devenv: down",
        "detail": "Stop and remove the containers (volumes, caches and logs are kept)",
        "type": "process",
        "command": "devenv",
        "args": ["down"],
        "options": {"cwd": "${workspaceFolder}"},
        "problemMatcher": [],
    },
    {
        "label": "devenv: verify",
        "detail": "Prove the dev loop works: mounts live, restart, new process, healthy",
        "type": "process",
        "command": "devenv",
        "args": ["verify"],
        "options": {"cwd": "${workspaceFolder}"},
        "problemMatcher": [],
    },
]


def expected_launch(port: int, mappings: list[dict[str, str]]) -> dict:
    return {
        "name": "devenv: attach to RAGFlow server",
        "type": "debugpy",
        "request": "attach",
        "connect": {"host": "127.0.0.1", "port": port},
        "pathMappings": mappings,
        "justMyCode": False,
    }


def test_task_entries() -> None:
    assert V.task_entries() == EXPECTED_TASKS


def test_launch_entry_maps_each_package() -> None:
    assert V.launch_entry("packages", ["api", "rag"], 5678) == expected_launch(5678, [
        {"localRoot": "${workspaceFolder}/api", "remoteRoot": "/ragflow/api"},
        {"localRoot": "${workspaceFolder}/rag", "remoteRoot": "/ragflow/rag"},
    ])


def test_launch_entry_maps_the_checkout_in_checkout_mode() -> None:
    assert V.launch_entry("checkout", (), 6000) == expected_launch(6000, [{"localRoot": "${workspaceFolder}", "remoteRoot": "/ragflow"}])


# --- the command on a fixture checkout ----------------------------------------------------------

def invoke(root: Path, *args: str):
    return runner.invoke(app, ["-C", str(root), "vscode", *args])


def read(path: Path):
    node = J.parse(path.read_text(encoding="utf-8"))
    assert node is not None
    return node.value


def test_writes_both_files(checkout) -> None:
    root = checkout("v0.24.0")
    result = invoke(root)
    assert result.exit_code == 0, result.output
    tasks = read(root / ".vscode/tasks.json")
    assert tasks == {"version": "2.0.0", "tasks": EXPECTED_TASKS}
    launch = read(root / ".vscode/launch.json")
    mappings = [{"localRoot": f"${{workspaceFolder}}/{p}", "remoteRoot": f"/ragflow/{p}"} for p in EXPECTED["v0.24.0"].packages]
    assert launch == {"version": "0.2.0", "configurations": [expected_launch(5678, mappings)]}
    assert "devenv up --debug" in (root / ".vscode/launch.json").read_text()  # the note, as a comment
    assert sorted(p.name for p in (root / ".vscode").iterdir()) == ["launch.json", "tasks.json"]


def test_settings_choose_port_and_mappings(checkout) -> None:
    root = checkout("v0.24.0")
    (root / "devenv.toml").write_text('[server]\ndebug_port = 5999\n[mounts]\nmode = "checkout"\n')
    assert invoke(root).exit_code == 0
    launch = read(root / ".vscode/launch.json")
    assert launch["configurations"] == [expected_launch(5999, [{"localRoot": "${workspaceFolder}", "remoteRoot": "/ragflow"}])]


def test_mounts_packages_setting_is_followed(checkout) -> None:
    root = checkout("v0.24.0")
    (root / "devenv.toml").write_text('[mounts]\npackages = ["api"]\n')
    assert invoke(root).exit_code == 0
    mappings = read(root / ".vscode/launch.json")["configurations"][0]["pathMappings"]
    assert mappings == [{"localRoot": "${workspaceFolder}/api", "remoteRoot": "/ragflow/api"}]


def test_second_run_changes_nothing_and_says_so(checkout) -> None:
    root = checkout("v0.24.0")
    assert invoke(root).exit_code == 0
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (root / ".vscode").iterdir()}
    result = invoke(root)
    assert result.exit_code == 0
    assert result.output.count("unchanged") == 2
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (root / ".vscode").iterdir()} == before


def test_dry_run_prints_and_writes_nothing(checkout) -> None:
    root = checkout("v0.24.0")
    result = invoke(root, "--dry-run")
    assert result.exit_code == 0
    assert not (root / ".vscode").exists()
    assert "// .vscode/tasks.json" in result.stdout and "// .vscode/launch.json" in result.stdout
    assert '"label": "devenv: up"' in result.stdout and '"name": "devenv: attach to RAGFlow server"' in result.stdout


USER_TASKS = """\
{
\t// See https://go.microsoft.com/fwlink/?LinkId=733558
\t// for the documentation about the tasks.json format
\t"version": "2.0.0",
\t"tasks": [
\t\t{
\t\t\t"label": "build web", // npm, not devenv
\t\t\t"type": "shell",
\t\t\t"command": "cd web && npm run build",
\t\t\t/* "group": "build", */
\t\t},
\t\t{
\t\t\t"label": "devenv: up",
\t\t\t"type": "shell",
\t\t\t"command": "devenv up --old-flag",
\t\t},
\t\t{"label": "lint", "type": "shell", "command": "ruff check . // not a comment"},
\t],
\t"inputs": [
\t\t{"id": "x", "type": "promptString", "description": "/* not a comment either */"},
\t],
}
"""


def test_merge_keeps_user_entries_and_comments(checkout) -> None:
    root = checkout("v0.24.0")
    path = root / ".vscode/tasks.json"
    path.parent.mkdir()
    path.write_text(USER_TASKS)
    result = invoke(root)
    assert result.exit_code == 0, result.output
    text = path.read_text()
    for kept in ("// See https://go.microsoft.com/fwlink/?LinkId=733558", "// npm, not devenv", '/* "group": "build", */',
                 '{"label": "lint", "type": "shell", "command": "ruff check . // not a comment"}'):
        assert kept in text
    assert text.startswith(USER_TASKS[:USER_TASKS.index('\t\t{\n\t\t\t"label": "devenv: up"')])  # untouched up to devenv's entry
    assert text.endswith('\t"inputs": [\n\t\t{"id": "x", "type": "promptString", "description": "/* not a comment either */"},\n\t],\n}\n')
    data = read(path)
    labels = [t["label"] for t in data["tasks"]]
    assert labels == ["build web", "devenv: up", "lint", "devenv: up (debug)", "devenv: down", "devenv: verify"]  # replaced in place
    assert data["tasks"][1] == EXPECTED_TASKS[0]
    assert data["inputs"] == [{"id": "x", "type": "promptString", "description": "/* not a comment either */"}]
    assert not path.with_name("tasks.json.bak").exists()
    again = invoke(root)
    assert "tasks.json already has devenv's entries: unchanged" in again.output and path.read_text() == text


def test_merge_adds_the_array_and_keeps_crlf(checkout) -> None:
    root = checkout("v0.24.0")
    path = root / ".vscode/launch.json"
    path.parent.mkdir()
    path.write_bytes(b'{\r\n    "version": "0.2.0" // mine\r\n}\r\n')
    assert invoke(root).exit_code == 0
    raw = path.read_bytes()
    assert b"\n" not in raw.replace(b"\r\n", b"")
    text = raw.decode()
    assert text.startswith('{\r\n    "version": "0.2.0", // mine\r\n    "configurations": [\r\n        {\r\n')
    assert read(path)["configurations"][0]["name"] == V.ATTACH_NAME


@pytest.mark.parametrize("text, where", [
    ('{"tasks": [ {"label": "a"} ', "line 1, column 28"),
    ('{\n  "tasks": {}\n}', "line 2, column 12"),
    ("[1, 2]", "line 1, column 1"),
    ('{"tasks": [] /* open', "line 1, column 14"),
])
def test_unreadable_file_is_left_alone(checkout, text: str, where: str) -> None:
    root = checkout("v0.24.0")
    path = root / ".vscode/tasks.json"
    path.parent.mkdir()
    path.write_text(text)
    result = invoke(root)
    assert result.exit_code == 2
    assert f"[devenv] error: {path} is not JSON with comments that devenv can read: {where}" in result.output
    assert path.read_text() == text
    assert sorted(p.name for p in path.parent.iterdir()) == ["tasks.json"]  # launch.json not written either


def test_safety_net_keeps_a_bak_when_the_edit_cannot_be_verified(checkout, monkeypatch) -> None:
    root = checkout("v0.24.0")
    path = root / ".vscode/tasks.json"
    path.parent.mkdir()
    path.write_text(USER_TASKS)
    path.with_name("tasks.json.bak").write_text("an older backup")
    monkeypatch.setattr(J, "_edits", lambda text, *a: [(0, 1, "")])  # an edit that breaks the file
    result = invoke(root)
    assert result.exit_code == 0
    assert "could not keep its comments and layout; the original is tasks.json.bak2" in result.output
    assert path.with_name("tasks.json.bak2").read_text() == USER_TASKS
    assert path.with_name("tasks.json.bak").read_text() == "an older backup"  # no backup is overwritten
    data = read(path)
    assert [t["label"] for t in data["tasks"]] == ["build web", "devenv: up", "lint", "devenv: up (debug)", "devenv: down", "devenv: verify"]
    assert data["tasks"][1] == EXPECTED_TASKS[0] and data["inputs"][0]["id"] == "x"


# --- the reader and the layout ----------------------------------------------------------------

def test_parse_tolerates_comments_and_trailing_commas() -> None:
    text = '\ufeff// top\n{"a": "x // y", /* b */ "b": [1, -2.5e3, true, null,], "c": "q\\"/*",}\n// end'
    assert J.parse(text).value == {"a": "x // y", "b": [1, -2500.0, True, None], "c": 'q"/*'}
    assert J.parse("  // nothing\n") is None


def test_merge_into_empty_array_with_a_comment_and_empty_file() -> None:
    target = J.Target("x", "tasks", "label", "2.0.0", ({"label": "devenv: a", "args": ["x"]},))
    assert J.merge('{"tasks": [\n  // later\n]}', target).text == (
        '{"tasks": [\n  {\n    "label": "devenv: a",\n    "args": ["x"]\n  }\n  // later\n]}'
    )
    assert J.merge("", target).text == '{\n\t"version": "2.0.0",\n\t"tasks": [\n\t\t{\n\t\t\t"label": "devenv: a",\n\t\t\t"args": ["x"]\n\t\t}\n\t]\n}\n'
    assert J.merge("// notes", target).text.startswith("// notes\n{\n")


# --- the problem matcher on lines devenv prints -------------------------------------------------

def test_patterns_stay_in_the_javascript_subset() -> None:
    for pattern in (V.ERROR_PATTERN, V.BEGINS_PATTERN, V.ENDS_PATTERN):
        re.compile(pattern)
        assert not re.search(r"\(\?P|\(\?[aiLmsux]|\\[AZ]|\(\?<[=!]|\(\?>", pattern), pattern  # Python-only or lookbehind


def real_traceback(root: Path, source: str) -> str:
    """What a real Python prints when it imports ``api/apps/demo_app.py`` holding ``source``."""
    module = root / "api/apps/demo_app.py"
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(source)
    proc = subprocess.run([sys.executable, "-c", "import api.apps.demo_app"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=60)
    assert proc.returncode == 1 and "Traceback (most recent call last)" in proc.stderr, proc.stderr
    return proc.stderr


def watch_session(root: Path, err: io.StringIO) -> WatchSession:
    ws = open_workspace(root, FakeEngine(), {})
    plan = ws.plan()
    return WatchSession(ws, plan, ws.engine, UI(out=io.StringIO(), err=err), threading.Event())


def printed_by_a_reload(root: Path, log: str | None) -> list[str]:
    """The lines the watch loop prints for a save of demo_app.py whose reload ends as ``log`` says."""
    err = io.StringIO()
    session = watch_session(root, err)

    def reload(decision, saved_at=None) -> ReloadReport:  # the real reloader needs a container; its outcome:
        report = ReloadReport(decision.paths, decision.describe())
        if log is None:
            report.ok, report.seconds = True, 0.42
        else:
            report.error = "not healthy: http://127.0.0.1:9380/v1/system/ping: no answer (connection refused)"
            report.failure = last_failure(log, workdir=str(root))
        return report

    session.reloader.run = reload  # type: ignore[method-assign]
    session.handle(["api/apps/demo_app.py"], time.monotonic())
    return err.getvalue().splitlines()


def matching(pattern: str, lines: list[str]) -> list[re.Match]:
    return [m for m in (re.search(pattern, line) for line in lines) if m]


@pytest.mark.parametrize("source, line, message", [
    ("import os\n\ndef broken(:\n    pass\n", 3, "SyntaxError: "),
    ("def ratio():\n    return 1 / 0\n\n\nvalue = ratio()\n", 2, "ZeroDivisionError: division by zero"),
])
def test_error_pattern_finds_the_crash_in_a_failed_reload(checkout, source: str, line: int, message: str) -> None:
    root = checkout("v0.24.0")
    lines = printed_by_a_reload(root, real_traceback(root, source))
    errors = matching(V.ERROR_PATTERN, lines)
    assert len(errors) == 1, lines
    file, number, text = errors[0].groups()
    assert (file, int(number)) == ("api/apps/demo_app.py", line)
    assert (root / file).is_file()  # fileLocation: relative to the workspace folder, the checkout
    assert text.startswith(message)
    assert [m.group(1) for m in matching(V.BEGINS_PATTERN, lines)] == ["change"]
    assert [m.group(1) for m in matching(V.ENDS_PATTERN, lines)] == ["reload failed"]
    assert any(line.startswith("    ") and "demo_app.py" in line for line in lines)  # the traceback, indented, not matched


def test_a_good_reload_ends_the_busy_state(checkout) -> None:
    root = checkout("v0.24.0")
    lines = printed_by_a_reload(root, None)
    assert [m.group(1) for m in matching(V.BEGINS_PATTERN, lines)] == ["change"]
    assert [m.group(1) for m in matching(V.ENDS_PATTERN, lines)] == ["reload ok"]
    assert matching(V.ERROR_PATTERN, lines) == []


def test_up_begins_and_ready_ends(checkout) -> None:
    root = checkout("v0.24.0")
    err = io.StringIO()
    session = watch_session(root, err)
    session.ui.emit(TAG_UP, "starting project docker: ragflow-cpu (v0.24.0) in dev mode")  # as `devenv up` does
    session.stop.set()  # run prints "ready" once its watcher runs, then sees the stop
    session.run(ready="ragflow-cpu healthy in 41.0 s (v0.24.0); API http://127.0.0.1:9380")
    lines = err.getvalue().splitlines()
    assert [m.group(1) for m in matching(V.BEGINS_PATTERN, lines)] == ["up"]
    assert [m.group(1) for m in matching(V.ENDS_PATTERN, lines)] == ["ready"]
    assert matching(V.ERROR_PATTERN, lines) == []


@pytest.mark.parametrize("error", [
    DevenvError("cannot reach http://127.0.0.1:9380: connection refused", fix="start the stack"),
    UnhealthyError("ragflow-cpu is not healthy: http://127.0.0.1:9380/v1/system/ping: no answer", details=["  x.py:3: boom"]),
    DevenvError("/ragflow/api/x.py:3: not in the checkout"),
])
def test_other_errors_are_not_problems(error: DevenvError) -> None:
    err = io.StringIO()
    report(UI(out=io.StringIO(), err=err), error)  # how the CLI prints every error
    lines = err.getvalue().splitlines()
    assert lines[0].startswith("[devenv] error: ")
    assert matching(V.ERROR_PATTERN, lines) == []


@pytest.mark.parametrize("text", [
    '{"version": "2.0.0", "tasks": [{"label": "mine"}]}',
    '{\n    "tasks": [\n        {"label": "mine"} // same line\n    ]\n}\n',
    '{\n\t"tasks": [\n\t\t{"label": "mine"}, /* c */\n\t],\n}\n',
    '{\n\t"tasks": [\n\t\t{"label": "devenv: down", "args": ["old"]}, // stale\n\t\t{"label": "mine"}\n\t]\n}\n',
    '{}',
    '{ // nothing yet\n}',
    '{"version": "2.0.0",}',
    '{"tasks": []}',
    '{"tasks": "x", "tasks": [{"label": "mine"}]}',  # duplicate key: the last one counts
])
def test_every_layout_is_edited_in_place_and_converges(text: str) -> None:
    target = V.targets("packages", ["api"], 5678)[0]
    once = J.merge(text, target)
    assert once.preserved and once.changed
    assert J.merge(once.text, target) == J.Merged(once.text, False, True)
    items = J.parse(once.text).value["tasks"]
    assert [t for t in items if t["label"] == "mine"] == ([{"label": "mine"}] if "mine" in text else [])
    ours = [t for t in items if t["label"].startswith("devenv: ")]
    assert len(ours) == len(EXPECTED_TASKS) and {t["label"]: t for t in ours} == {e["label"]: e for e in EXPECTED_TASKS}
    for comment in re.findall(r"//[^\n]*|/\*.*?\*/", text):
        assert comment in once.text
