"""Tracebacks from a container's log, pointed at the checkout."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from devenv.core.tracebacks import last_failure


def real_traceback(tmp_path, source: str) -> str:
    """A traceback as Python really prints it, with paths rewritten to the container's /ragflow."""
    pkg = tmp_path / "api" / "apps"
    pkg.mkdir(parents=True)
    (tmp_path / "api" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "demo_app.py").write_text(source)
    done = subprocess.run([sys.executable, "-c", "import api.apps.demo_app"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode != 0
    return done.stderr.replace(str(tmp_path), "/ragflow")


def test_a_syntax_error_points_at_the_checkout_file(tmp_path):
    log = "starting server\n" + real_traceback(tmp_path, "X = 1\ndef broken(:\n    pass\n")
    f = last_failure(log)
    assert f.location == "api/apps/demo_app.py:2"
    assert f.message.startswith("SyntaxError")


def test_a_runtime_error_reports_the_innermost_frame(tmp_path):
    f = last_failure(real_traceback(tmp_path, "def f():\n    return 1 / 0\n\nf()\n"))
    assert f.location == "api/apps/demo_app.py:2"
    assert f.message == "ZeroDivisionError: division by zero"


def test_the_last_traceback_wins_and_compose_prefixes_are_dropped():
    log = textwrap.dedent("""\
        ragflow-cpu-1  | Traceback (most recent call last):
        ragflow-cpu-1  |   File "/ragflow/api/old.py", line 1, in <module>
        ragflow-cpu-1  | NameError: name 'x' is not defined
        ragflow-cpu-1  | Traceback (most recent call last):
        ragflow-cpu-1  |   File "/ragflow/rag/new.py", line 7, in <module>
        ragflow-cpu-1  | ImportError: cannot import name 'y'
        """)
    f = last_failure(log)
    assert f.location == "rag/new.py:7" and f.message == "ImportError: cannot import name 'y'"


def test_frames_outside_the_checkout_keep_their_path():
    log = 'Traceback (most recent call last):\n  File "/usr/lib/python3.11/x.py", line 3, in f\nOSError: boom\n'
    assert last_failure(log).location == "/usr/lib/python3.11/x.py:3"


def test_no_traceback_no_failure():
    assert last_failure("all good\nserver started\n") is None
