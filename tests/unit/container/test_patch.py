"""The in-place patch of function bodies, in this interpreter, on modules imported from temp files."""

from __future__ import annotations

import functools
import importlib
import json
import socket
import sys
import traceback

import pytest

from devenv.container import patch


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A package folder whose modules' sources are recorded as they are imported."""
    pkg = tmp_path / "pkgp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    undo = patch.record_sources(str(tmp_path))
    yield pkg
    undo()
    for name in [n for n in sys.modules if n == "pkgp" or n.startswith("pkgp.")]:
        del sys.modules[name]
    patch._SOURCES.clear()


def load(tree, name, source):
    (tree / f"{name}.py").write_text(source)
    importlib.invalidate_caches()
    return importlib.import_module(f"pkgp.{name}")


def save(tree, name, source) -> dict:
    (tree / f"{name}.py").write_text(source)
    return patch.patch([str(tree / f"{name}.py")])


APP = '''\
import functools

CALLS = []


def route(f):
    @functools.wraps(f)
    def wrapper(*a, **k):
        CALLS.append(f.__name__)
        return f(*a, **k)
    return wrapper


@route
def hello():
    return "old"


class Service:
    def answer(self):
        return 1

    @staticmethod
    def static():
        return "s1"

    @property
    def prop(self):
        return "p1"


def maker():
    def inner():
        return "i1"
    return inner
'''


def test_a_body_change_is_served_by_the_same_function_objects_and_module_state_is_kept(tree):
    mod = load(tree, "app", APP)
    view, service = mod.hello, mod.Service()
    assert view() == "old" and mod.CALLS == ["hello"]
    answer = save(tree, "app", APP.replace('return "old"', 'return "new"').replace("return 1", "return 2")
                  .replace('"s1"', '"s2"').replace('"p1"', '"p2"').replace('"i1"', '"i2"'))
    assert answer["ok"], answer
    assert set(answer["files"][0]["patched"]) == {"hello", "Service.answer", "Service.static", "Service.prop", "maker"}
    assert view() == "new" and service.answer() == 2 and mod.Service.static() == "s2" and service.prop == "p2"
    assert mod.maker()() == "i2"
    assert mod.CALLS == ["hello", "hello"]  # the decorator's wrapper and the module's list are the running ones


def test_a_function_that_only_moved_reports_its_new_lines_in_a_traceback(tree):
    source = "def first():\n    return 1\n\n\ndef boom():\n    raise ValueError('x')\n"
    mod = load(tree, "moved", source)
    answer = save(tree, "moved", source.replace("    return 1\n", "    a = 1\n    b = 2\n    return a\n"))
    assert answer["ok"], answer
    with pytest.raises(ValueError) as e:
        mod.boom()
    assert traceback.extract_tb(e.value.__traceback__)[-1].lineno == 8  # was 6 before the save


@pytest.mark.parametrize("change, reason", [
    (("CALLS = []", "CALLS = [0]"), "more than function bodies changed"),
    (("import functools", "import functools, os"), "more than function bodies changed"),
    (("def hello():", "def hello(name=None):"), "more than function bodies changed"),
    (("@route\ndef hello", "def hello"), "more than function bodies changed"),
    (('return "old"', 'return "old"\n\n\ndef added():\n    return 1'), "more than function bodies changed"),
    (('return "old"', 'return "old" +'), "does not compile"),
])
def test_anything_beyond_function_bodies_is_refused_and_nothing_is_swapped(tree, change, reason):
    mod = load(tree, "app", APP)
    answer = save(tree, "app", APP.replace(*change).replace("return 1", "return 2"))
    assert not answer["ok"] and reason in answer["refused"], answer
    assert mod.hello() == "old" and mod.Service().answer() == 1  # all or nothing


def test_a_function_a_decorator_hides_is_refused(tree):
    source = "REG = {}\n\ndef hide(f):\n    REG['f'] = f.__code__\n    return lambda: 0\n\n@hide\ndef f():\n    return 1\n"
    load(tree, "hidden", source)
    answer = save(tree, "hidden", source.replace("return 1", "return 2"))
    assert not answer["ok"] and "not reachable" in answer["refused"], answer


def test_a_closure_over_new_names_is_refused(tree):
    source = "def outer():\n    x = 1\n    def inner():\n        return 0\n    return inner\n\nf = outer()\n"
    load(tree, "clos", source)
    # inner now closes over x: the enclosing outer's code changes (fine), but module-level `f` is an
    # existing inner whose free variables would change: f is reachable, so it must be refused.
    answer = save(tree, "clos", source.replace("return 0", "return x"))
    assert not answer["ok"] and "closes over other names" in answer["refused"], answer


def test_a_module_not_imported_here_is_not_patched_and_not_refused(tree):
    (tree / "unused.py").write_text("def f():\n    return 1\n")
    answer = patch.patch([str(tree / "unused.py")])
    assert answer["ok"] and answer["files"] == [{"path": str(tree / "unused.py"), "loaded": False}]


def test_a_module_imported_before_recording_is_refused(tree, tmp_path):
    mod = load(tree, "early", "def f():\n    return 1\n")
    patch._SOURCES.clear()
    answer = save(tree, "early", "def f():\n    return 2\n")
    assert not answer["ok"] and "not recorded" in answer["refused"] and mod.f() == 1


def test_the_socket_answers_one_json_line(tree, tmp_path):
    mod = load(tree, "sock", "def f():\n    return 1\n")
    (tree / "sock.py").write_text("def f():\n    return 2\n")
    path = patch.serve(str(tmp_path / "p.sock"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(json.dumps({"paths": [str(tree / "sock.py")]}).encode() + b"\n")
        answer = json.loads(s.makefile().readline())
    assert answer["ok"] and answer["files"][0]["patched"] == ["f"] and mod.f() == 2
    assert len(answer["files"][0]["sha256"]) == 64


def test_skeleton_ignores_bodies_and_keeps_docstrings():
    assert patch.why_not("def f():\n    '''doc'''\n    return 1\n", "def f():\n    '''doc'''\n    return 2\n") is None
    assert patch.why_not("def f():\n    '''doc'''\n", "def f():\n    '''other'''\n") is not None
    unused = functools  # the fixture's module imports functools too
    assert unused


def test_the_socket_path_is_the_agents_contract():
    from devenv.container import agent

    assert patch.SOCKET == agent.PATCH_SOCKET


def test_a_closure_a_factory_made_and_another_module_keeps_gets_the_new_body(tree):
    load(tree, "deco", "def factory():\n    def wrapper():\n        return 1\n    return wrapper\n")
    user = load(tree, "user", "from pkgp.deco import factory\nW = factory()\n")
    answer = save(tree, "deco", "def factory():\n    def wrapper():\n        return 2\n    return wrapper\n")
    assert answer["ok"] and set(answer["files"][0]["patched"]) == {"factory", "factory.<locals>.wrapper"}, answer
    assert user.W() == 2


def test_a_function_a_thread_is_inside_is_refused(tree):
    import threading

    source = "import threading\nSTOP = threading.Event()\n\ndef loop():\n    while not STOP.wait(0.01):\n        pass\n"
    mod = load(tree, "looping", source)
    t = threading.Thread(target=mod.loop)
    t.start()
    try:
        answer = save(tree, "looping", source.replace("pass", "x = 1"))
        assert not answer["ok"] and "function loop is running now" in answer["refused"], answer
    finally:
        mod.STOP.set()
        t.join()
    answer = save(tree, "looping", source.replace("pass", "x = 2"))  # nobody inside it now
    assert answer["ok"], answer


def test_a_suspended_generator_of_the_old_code_is_refused(tree):
    source = "def gen():\n    yield 1\n    yield 2\n"
    mod = load(tree, "gen", source)
    g = mod.gen()
    next(g)
    answer = save(tree, "gen", source.replace("yield 2", "yield 3"))
    assert not answer["ok"] and "function gen is running now" in answer["refused"], answer
    del g


def test_an_lru_cache_of_a_swapped_function_is_emptied(tree):
    source = "import functools\n\n@functools.lru_cache()\ndef value():\n    return 1\n"
    mod = load(tree, "cached", source)
    assert mod.value() == 1
    answer = save(tree, "cached", source.replace("return 1", "return 2"))
    assert answer["ok"] and mod.value() == 2, answer


def test_it_runs_on_the_oldest_python_a_ragflow_image_ships():
    import ast
    from pathlib import Path

    ast.parse(Path(patch.__file__).read_text(), feature_version=(3, 8))
