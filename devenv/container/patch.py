"""devenv's in-place patch of function bodies, inside a running Python process.

The fastest reload is no restart: when a save changes only the bodies of functions
(a route handler's logic, a helper's), the running process can take the new code
objects into its existing function objects (``f.__code__ = new``) in milliseconds.
It is strict, and refuses (devenv then restarts the process as usual) unless all of
these hold:

- the process compiled this module from a source devenv recorded at import (or at
  its last patch), so "what changed" is known, not guessed;
- the new source, with every function body blanked, parses to the same tree as
  the old one: no module-level statement, import, class attribute, decorator,
  signature, default value or docstring changed; no function added or removed;
- every function whose code changed is found live (through decorators' ``__wrapped__``
  and closures) with the same free variables, so the swap cannot break a closure.

What it does not give (and why it is off by default): module-level state is the
running process's, not fresh; a cached result computed by the old code stays.

Loaded by ``warm.py`` in the processes it starts (:func:`install`); standard library
only; runs on the image's Python (3.8+).
"""

import ast
import hashlib
import marshal
import os
import socket
import sys
import threading
import types

SOCKET = "/dev/shm/devenv-patch/%s.%d.sock"  # the script ("/" as "_") and the pid: agent.PATCH_SOCKET
_SOURCES = {}  # type: dict  # realpath -> (source bytes the live module was compiled from, mtime_ns)


# --- what changed -----------------------------------------------------------------------
class _Blank(ast.NodeTransformer):
    """Every function body replaced by ``...``; its docstring kept (a changed docstring is a change)."""

    def _blank(self, node):
        doc = node.body[0] if node.body and isinstance(node.body[0], ast.Expr) and isinstance(
            getattr(node.body[0], "value", None), ast.Constant) and isinstance(node.body[0].value.value, str) else None
        self.generic_visit(node)  # decorators, defaults and annotations are compared as they are
        node.body = ([doc] if doc is not None else []) + [ast.Expr(ast.Constant(Ellipsis))]
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = _blank


def skeleton(source, filename="<module>"):
    """The module's tree with function bodies blanked, as text (no line numbers).

    >>> skeleton("def f():\\n    return 1\\n") == skeleton("def f():\\n\\n    x = 2\\n    return x\\n")
    True
    >>> skeleton("X = 1\\ndef f(): pass\\n") == skeleton("X = 2\\ndef f(): pass\\n")
    False
    """
    tree = ast.parse(source, filename)
    return ast.dump(_Blank().visit(tree), include_attributes=False)


def why_not(old, new, filename="<module>"):
    """None when ``new`` differs from ``old`` only inside function bodies; else the reason."""
    try:
        new_skeleton = skeleton(new, filename)
    except SyntaxError as e:
        return "it does not compile (%s at line %s)" % (e.msg, e.lineno)
    if skeleton(old, filename) != new_skeleton:
        return "more than function bodies changed (module-level code, a signature, a decorator or a docstring)"
    return None


CO_OPTIMIZED = 0x1  # set on a function's code, not on a class body's


def code_objects(code, prefix=""):
    """``{qualified name: [code]}`` of every function compiled in ``code`` (nested ones included)."""
    out = {}
    for const in code.co_consts:
        if not isinstance(const, types.CodeType) or const.co_name.startswith("<"):
            continue  # lambdas and comprehensions are compiled into their function's code
        name = getattr(const, "co_qualname", None) or (prefix + const.co_name)
        if const.co_flags & CO_OPTIMIZED:
            out.setdefault(name, []).append(const)
            inner = code_objects(const, name + ".<locals>.")
        else:  # a class body: its methods are named after it
            inner = code_objects(const, name + ".")
        for k, v in inner.items():
            out.setdefault(k, []).extend(v)
    return out


# --- the live functions -----------------------------------------------------------------
def live_functions(real):
    """``{qualified name: [function]}`` of every function object alive in this process whose code
    was compiled from the file ``real`` (a realpath): module-level ones, methods, and the closures
    decorators and factories made, wherever they are kept (Flask's view table, another module)."""
    import gc

    out = {}
    paths = {}
    for obj in gc.get_objects():
        if type(obj) is not types.FunctionType:
            continue
        filename = obj.__code__.co_filename
        if filename not in paths:
            paths[filename] = os.path.realpath(filename) == real
        if paths[filename]:
            code = obj.__code__
            out.setdefault(getattr(code, "co_qualname", None) or obj.__qualname__, []).append(obj)
    return out


# --- the patch --------------------------------------------------------------------------
def plan_patch(real, filename, old, new):
    """``(swaps, reason)``: the (function, new code) pairs to apply to the file ``real``, or why a
    restart is needed.

    Every function whose code differs in any way is swapped, line numbers included (a function
    that only moved must report its new lines in a traceback, as after a restart), and every live
    copy of it: the closures a factory already made get the new body too, or the patch is refused.
    """
    reason = why_not(old, new, filename)
    if reason:
        return [], reason
    new_codes = code_objects(compile(new, filename, "exec", dont_inherit=True))
    old_codes = code_objects(compile(old, filename, "exec", dont_inherit=True))
    live = live_functions(real)
    swaps = []
    for name, codes in sorted(new_codes.items()):
        before = old_codes.get(name, [])
        if len(before) != len(codes):
            return [], "function %s is new or gone" % name
        if all(marshal.dumps(a) == marshal.dumps(b) for a, b in zip(before, codes)):
            continue
        if len(codes) > 1:
            return [], "%s is defined %d times in the module" % (name, len(codes))
        code = codes[0]
        functions = live.get(name, [])
        if not functions and ".<locals>." not in name:
            # A module-level function or method with no function object: a decorator kept only
            # something made from it, which a restart would remake from the new code.
            return [], "function %s is not reachable in the running process (a decorator hides it)" % name
        for f in functions:
            if f.__code__.co_freevars != code.co_freevars:
                return [], "function %s closes over other names now" % name
            swaps.append((f, code))
    running = _running([f.__code__ for f, _code in swaps])
    if running:
        # A loop in a thread (or a suspended generator) would go on with the old code, where a
        # restart would run the new one.
        return [], "function %s is running now (a thread or a generator is inside it)" % _qualname(running)
    return swaps, None


def _running(codes):
    """A code object among ``codes`` (or compiled inside one) that a thread or a generator is executing."""
    ids = {}
    todo = list(codes)
    while todo:
        code = todo.pop()
        if id(code) not in ids:
            ids[id(code)] = code
            todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    me = threading.get_ident()
    frames = [f for tid, f in sys._current_frames().items() if tid != me]
    import gc

    for obj in gc.get_objects():
        frame = getattr(obj, "gi_frame", None) or getattr(obj, "cr_frame", None) or getattr(obj, "ag_frame", None) \
            if isinstance(obj, (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)) else None
        if frame is not None:
            frames.append(frame)
    for frame in frames:
        while frame is not None:
            if id(frame.f_code) in ids and frame.f_code is ids[id(frame.f_code)]:
                return frame.f_code
            frame = frame.f_back
    return None


def patch_file(path):
    """Take the saved bytes of ``path`` into every module compiled from it; a JSON-able answer."""
    real = os.path.realpath(path)
    recorded = _SOURCES.get(real)
    modules = [m for m in list(sys.modules.values()) if _file_of(m) == real]
    if not modules:
        return {"path": path, "loaded": False}  # not imported here: its next import reads the new bytes
    if recorded is None:
        return {"path": path, "refused": "its source was not recorded when it was imported"}
    try:
        with open(real, "rb") as f:
            new = f.read()
    except OSError as e:
        return {"path": path, "refused": "cannot read it (%s)" % e.strerror}
    swaps, reason = plan_patch(real, modules[0].__file__, recorded[0], new)
    if reason:
        return {"path": path, "refused": reason}
    for f, code in swaps:  # all or nothing: only once every function agreed
        f.__code__ = code
    _clear_caches(set(id(f) for f, _code in swaps))
    _SOURCES[real] = (new, recorded[1])
    import linecache

    linecache.checkcache(real)
    return {"path": path, "patched": sorted(set(_qualname(c) for _f, c in swaps)),
            "sha256": hashlib.sha256(new).hexdigest()}


def _clear_caches(swapped):
    """Empty the ``functools.lru_cache`` of every swapped function: results of the old code are gone,
    as after a restart."""
    import functools
    import gc

    kind = type(functools.lru_cache()(lambda: None))
    for obj in gc.get_objects():
        if type(obj) is kind and id(getattr(obj, "__wrapped__", None)) in swapped:
            obj.cache_clear()


def _qualname(code):
    return getattr(code, "co_qualname", None) or code.co_name


def _file_of(module):
    f = getattr(module, "__file__", None)
    return os.path.realpath(f) if isinstance(f, str) else None


def patch(paths):
    """Patch every path, or none: the first refusal stops, and the process must restart."""
    answers = []
    for path in paths:
        answer = patch_file(path)
        answers.append(answer)
        if "refused" in answer:
            return {"ok": False, "files": answers, "path": path, "refused": answer["refused"]}
    return {"ok": True, "files": answers}


# --- recording sources and listening --------------------------------------------------------
def record_sources(root):
    """From now on, note the source of each module compiled from ``root`` (outside site-packages)."""
    from importlib.machinery import SourceFileLoader

    original = SourceFileLoader.get_code
    root = os.path.realpath(root) + os.sep

    def get_code(self, fullname):
        path = os.path.realpath(self.get_filename(fullname))
        if not path.startswith(root) or "site-packages" in path or os.sep + ".venv" + os.sep in path:
            return original(self, fullname)
        try:
            before = os.stat(path).st_mtime_ns
            with open(path, "rb") as f:
                source = f.read()
        except OSError:
            return original(self, fullname)
        code = original(self, fullname)
        try:
            if os.stat(path).st_mtime_ns == before:  # saved meanwhile: what was compiled is unknown
                _SOURCES[path] = (source, before)
            else:
                _SOURCES.pop(path, None)
        except OSError:
            pass
        return code

    SourceFileLoader.get_code = get_code

    def undo():
        SourceFileLoader.get_code = original

    return undo


def serve(path):
    """Answer patch requests (one JSON line in, one out) on a unix socket, in a daemon thread."""
    import json

    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.unlink(path)
    except OSError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o600)
    sock.listen(4)

    def loop():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                try:
                    data = b""
                    while not data.endswith(b"\n"):
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    answer = patch(json.loads(data.decode("utf-8"))["paths"])
                except Exception as e:  # any error is a refusal: devenv restarts the process
                    answer = {"ok": False, "refused": "%s: %s" % (type(e).__name__, e)}
                try:
                    conn.sendall((json.dumps(answer) + "\n").encode("utf-8"))
                except OSError:
                    pass

    threading.Thread(target=loop, name="devenv-patch", daemon=True).start()
    return path


def install(root, script):
    """In a process warm.py runs: record RAGFlow's sources as they are imported, and listen."""
    record_sources(root)
    return serve(SOCKET % (script.strip("/").replace("/", "_"), os.getpid()))
