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
import functools
import hashlib
import marshal
import os
import socket
import sys
import threading
import time
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
_GENERATORS = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType, types.FrameType)
_LRU = type(functools.lru_cache()(lambda: None))  # functools' C wrapper type, not importable by name
LAST_SCAN = {}  # type: dict  # the last search: what it found and how long it took


def _roots(modules, real):
    """The functions reachable from the modules compiled from ``real``: their globals, classes,
    methods, properties, and through decorators (``__wrapped__``, closures)."""
    found, seen, classes = [], set(), set()
    todo = [v for m in modules for v in vars(m).values()]
    while todo:
        obj = todo.pop()
        if isinstance(obj, type):
            if id(obj) not in classes and any(getattr(obj, "__module__", None) == m.__name__ for m in modules):
                classes.add(id(obj))
                todo.extend(vars(obj).values())
            continue
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
        elif isinstance(obj, property):
            todo.extend(f for f in (obj.fget, obj.fset, obj.fdel) if f is not None)
            continue
        elif isinstance(obj, types.MethodType):
            obj = obj.__func__
        elif type(obj) is _LRU:
            obj = obj.__wrapped__
        elif type(obj) is functools.partial:
            obj = obj.func
        if type(obj) is not types.FunctionType or id(obj) in seen:
            continue
        seen.add(id(obj))
        found.append(obj)
        wrapped = getattr(obj, "__wrapped__", None)
        if wrapped is not None:
            todo.append(wrapped)
        for cell in obj.__closure__ or ():
            try:
                todo.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
    return found


class Live:
    """Everything alive in this process that runs code compiled from a file.

    The code objects come from the functions the modules reach (nested ones are constants of
    their enclosing function's code); then one search of the collector's objects, in C
    (``gc.get_referrers``), finds every function made from them anywhere (closures a factory
    made, copies kept by a registry or Flask's view table) and every suspended generator or
    frame inside them. A RAGFlow server has a million objects: walking them in Python took a
    second, this takes a few tens of milliseconds.
    """

    def __init__(self, modules, real):
        import gc

        started = time.time()
        codes = {}
        todo = [f.__code__ for f in _roots(modules, real) if os.path.realpath(f.__code__.co_filename) == real]
        while todo:
            code = todo.pop()
            if id(code) not in codes:
                codes[id(code)] = code
                todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
        self.codes = codes
        self.functions = {}  # qualified name -> [function]
        self.suspended = []  # frames of generators and coroutines, frames kept by tracebacks
        for obj in gc.get_referrers(*codes.values()) if codes else ():
            kind = type(obj)
            if kind is types.FunctionType and codes.get(id(obj.__code__)) is obj.__code__:
                code = obj.__code__
                self.functions.setdefault(getattr(code, "co_qualname", None) or obj.__qualname__, []).append(obj)
            elif kind in _GENERATORS:
                frame = obj if kind is types.FrameType else (
                    getattr(obj, "gi_frame", None) or getattr(obj, "cr_frame", None) or getattr(obj, "ag_frame", None))
                if frame is not None:
                    self.suspended.append(frame)
        LAST_SCAN.update(codes=len(codes), functions=sum(len(v) for v in self.functions.values()),
                         ms=round((time.time() - started) * 1000, 1))

    def caches(self, functions):
        """The ``functools.lru_cache`` wrappers of these functions."""
        import gc

        return [obj for obj in gc.get_referrers(*functions) if type(obj) is _LRU] if functions else []


# --- the patch --------------------------------------------------------------------------
def plan_patch(modules, real, filename, old, new):
    """``(swaps, reason)``: the (function, new code) pairs to apply to the file ``real`` (compiled as
    ``filename``, the module's ``__file__``) and (lru_cache, None) for caches to empty; or why a
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
    changed = []
    for name, codes in sorted(new_codes.items()):
        before = old_codes.get(name, [])
        if len(before) != len(codes):
            return [], "function %s is new or gone" % name
        if any(marshal.dumps(a) != marshal.dumps(b) for a, b in zip(before, codes)):
            if len(codes) > 1:
                return [], "%s is defined %d times in the module" % (name, len(codes))
            changed.append((name, codes[0]))
    if not changed:
        return [], None  # comments, blank lines at the end: nothing runs differently
    live = Live(modules, real)
    swaps = []
    for name, code in changed:
        functions = live.functions.get(name, [])
        if not functions and ".<locals>." not in name:
            # A module-level function or method with no function object: a decorator kept only
            # something made from it, which a restart would remake from the new code.
            return [], "function %s is not reachable in the running process (a decorator hides it)" % name
        for f in functions:
            if f.__code__.co_freevars != code.co_freevars:
                return [], "function %s closes over other names now" % name
            swaps.append((f, code))
    running = _running([f.__code__ for f, _code in swaps], live.suspended)
    if running:
        # A loop in a thread (or a suspended generator) would go on with the old code, where a
        # restart would run the new one.
        return [], "function %s is running now (a thread or a generator is inside it)" % _qualname(running)
    return swaps + [(c, None) for c in live.caches([f for f, _code in swaps])], None


def _running(codes, suspended):
    """A code object among ``codes`` (or compiled inside one) that a thread or a suspended generator is executing."""
    ids = {}
    todo = list(codes)
    while todo:
        code = todo.pop()
        if id(code) not in ids:
            ids[id(code)] = code
            todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    me = threading.get_ident()
    for frame in [f for tid, f in sys._current_frames().items() if tid != me] + list(suspended):
        while frame is not None:
            if ids.get(id(frame.f_code)) is frame.f_code:
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
    swaps, reason = plan_patch(modules, real, modules[0].__file__, recorded[0], new)
    if reason:
        return {"path": path, "refused": reason}
    for f, code in swaps:  # all or nothing: only once every function agreed
        if code is None:
            f.cache_clear()  # results of the old code go, as after a restart
        else:
            f.__code__ = code
    _SOURCES[real] = (new, recorded[1])
    import linecache

    linecache.checkcache(real)
    return {"path": path, "patched": sorted(set(_qualname(c) for _f, c in swaps if c is not None)),
            "sha256": hashlib.sha256(new).hexdigest()}


def _qualname(code):
    return getattr(code, "co_qualname", None) or code.co_name


def _file_of(module):
    f = getattr(module, "__file__", None)
    return os.path.realpath(f) if isinstance(f, str) else None


def patch(paths):
    """Patch every path, or none: the first refusal stops, and the process must restart."""
    started = time.time()
    answers = []
    # The server's own threads would take the interpreter every 5 ms: the patch keeps it a
    # little longer, and gives it back at once when done.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.1)
    try:
        for path in paths:
            answer = patch_file(path)
            answers.append(answer)
            if "refused" in answer:
                return {"ok": False, "files": answers, "path": path, "refused": answer["refused"]}
    finally:
        sys.setswitchinterval(interval)
    return {"ok": True, "files": answers, "ms": round((time.time() - started) * 1000, 1), "scan": dict(LAST_SCAN)}


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
    # Bound and listening under another name, then renamed: the agent never meets a socket file
    # that refuses connections (it would take it for a dead process's and remove it).
    making = os.path.join(os.path.dirname(path), ".%d.tmp" % os.getpid())  # short: AF_UNIX paths end at 108 bytes
    try:
        os.unlink(making)
    except OSError:
        pass
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(making)
    os.chmod(making, 0o600)
    sock.listen(4)
    os.replace(making, path)

    def loop():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                try:
                    with conn.makefile("rb") as reader:
                        answer = patch(json.loads(reader.readline().decode("utf-8"))["paths"])
                except Exception as e:  # any error is a refusal: devenv restarts the process
                    answer = {"ok": False, "refused": "%s: %s" % (type(e).__name__, e)}
                try:
                    conn.sendall((json.dumps(answer) + "\n").encode("utf-8"))
                except OSError:
                    pass

    threading.Thread(target=loop, name="devenv-patch", daemon=True).start()
    import atexit

    atexit.register(_unlink, path)  # a process killed outright leaves it: the agent removes those
    return path


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def install(root, script):
    """In a process warm.py runs: record RAGFlow's sources as they are imported, and listen."""
    record_sources(root)
    return serve(SOCKET % (script.strip("/").replace("/", "_"), os.getpid()))
