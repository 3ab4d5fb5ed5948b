"""devenv's warm start for RAGFlow's Python processes, inside the container.

A restart loop's ``"$PY" api/ragflow_server.py`` is routed by devenv's ``BASH_ENV``
hook to ``python3 warm.py api/ragflow_server.py`` (the *shim*). The shim asks the
*warm parent* of its kind (script + interpreter + ``LD_PRELOAD`` + environment)
over a unix socket to fork a fresh child: the parent has already imported the
third-party modules the script needed last time (never RAGFlow's own packages),
so the child only imports RAGFlow's code and runs the script as ``__main__``.
The shim hands the child its stdin/stdout/stderr, relays signals to it and exits
with its exit code, so the loop sees one process as before.

Every doubt falls back to a cold start (``exec python3 script``), and the shim
says why in ``last-<script>.json``: no module list yet, the parent still
starting or refused, a changed third-party file or ``pyproject.toml``/``uv.lock``,
a module of RAGFlow's tree in the parent, threads in the parent, any error.

Roles: ``warm.py SCRIPT ARGS...`` (shim), ``warm.py --serve KEY SCRIPT`` (parent,
started by a shim), ``warm.py --status`` (JSON for devenv). Standard library
only; runs on the image's Python (3.8+).
"""

import array
import hashlib
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import time

RUN_DIR = os.environ.get("DEVENV_WARM_RUN") or "/tmp/devenv-warm"  # sockets and status (lost with the container)
STATE_DIR = os.environ.get("DEVENV_WARM_STATE") or "/devenv-warm"  # module lists (bind-mounted from .devenv/warm)
# devenv leaves this before it SIGTERMs a shim to replace the process: the child is killed at once.
REPLACE_MARKER = "/tmp/devenv-replace-%d"
RELAYED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
VOLATILE_ENV = ("_", "OLDPWD", "SHLVL", "PWD")
ALLOWED_THREADS = ("jemalloc_bg_thd",)
PARENT_START_TIMEOUT = 300  # a parent that takes longer to become ready is considered dead
MAX_MESSAGE = 4 << 20


# --- shared helpers -----------------------------------------------------------------------
def _slug(script):
    return script.strip("/").replace("/", "_")


def _write_json(path, data):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        pass


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _is_parent(pid, key):
    """``pid`` is alive and is the warm parent of ``key`` (not a reused pid after a container restart)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return _alive(pid) and b"--serve" in argv and key.encode() in argv


def kind_key(script, environ, executable=None):
    """One warm parent per script, interpreter, LD_PRELOAD and environment."""
    env = sorted((k, v) for k, v in environ.items() if k not in VOLATILE_ENV)
    blob = json.dumps([os.path.abspath(script), executable or sys.executable, environ.get("LD_PRELOAD", ""), env])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def own_tops(root):
    """RAGFlow's own top-level names: the folders and modules of the project root."""
    tops = set()
    try:
        for name in os.listdir(root):
            if name.startswith(".") or name in ("site-packages",):
                continue
            path = os.path.join(root, name)
            if os.path.isdir(path) or name.endswith((".py", ".so")):
                tops.add(name.split(".")[0])
    except OSError:
        pass
    return tops


class OwnTree:
    """Tells RAGFlow's own modules from third-party ones by where their top-level package
    resolves: a folder of the root named like a package (RAGFlow's ``mcp/``) does not make
    the installed package of that name RAGFlow's. When in doubt, a module is RAGFlow's."""

    def __init__(self, root):
        self.root, self.site_dirs, self.folders, self.tops = root, _site_dirs(), own_tops(root), {}

    def top_is_own(self, top):
        if top not in self.tops:
            mod = sys.modules.get(top)
            try:
                if mod is not None:
                    origin, locations = getattr(mod, "__file__", None), list(getattr(mod, "__path__", None) or [])
                else:
                    import importlib.util
                    spec = importlib.util.find_spec(top)
                    origin, locations = (spec.origin, list(spec.submodule_search_locations or [])) if spec else (None, None)
            except Exception:
                origin, locations = None, None
            if locations is None:  # not importable by name (e.g. Cython's _cython_3_x): a folder of the root decides
                if top not in self.folders:
                    return False  # not cached: it may show up later, made by a package's import
                own = True
            else:
                own = self.file_is_own(origin) or any(self.file_is_own(os.path.join(loc, "__init__.py")) for loc in locations)
                own = own or (origin in (None, "namespace") and not locations and top in self.folders)
            self.tops[top] = own
        return self.tops[top]

    def file_is_own(self, path):
        return is_own_file(path, self.root, self.site_dirs)

    def is_own(self, name, mod=None):
        if self.top_is_own(name.split(".")[0]):
            return True
        return self.file_is_own(getattr(mod if mod is not None else sys.modules.get(name), "__file__", None))


def _site_dirs():
    import site
    dirs = set()
    try:
        dirs.update(site.getsitepackages())
    except AttributeError:
        pass
    dirs.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return sorted(os.path.realpath(d) for d in dirs if os.path.isdir(d))


def is_own_file(path, root, site_dirs):
    """A file of the project's tree (not its venv's packages)."""
    if not path or not os.path.isabs(path):  # "built-in", "frozen": no file at all
        return False
    real = os.path.realpath(path)
    if not real.startswith(os.path.realpath(root) + os.sep):
        return False
    return not any(real.startswith(d + os.sep) for d in site_dirs)


def module_list_path(script):
    return os.path.join(STATE_DIR, "modules-%s.json" % _slug(script))


def last_path(script):
    return os.path.join(RUN_DIR, "last-%s.json" % _slug(script))


# --- the module recorder (in children and learning runs) ----------------------------------
def record_modules(script, root, interval=None, stop=None):
    """Write the modules this process imported (daemon thread): once their number holds still for
    ``interval`` seconds, again whenever it grows, and at exit. A process that a quick series
    of edits replaces after 20 s still leaves its list."""
    if interval is None:
        interval = float(os.environ.get("DEVENV_WARM_RECORD_INTERVAL") or 1.0)
    written = [None]

    def write():
        tree = OwnTree(root)
        names = [name for name, mod in list(sys.modules.items())
                 if mod is not None and name not in ("__main__", "__mp_main__") and not tree.is_own(name, mod)]
        if names == written[0]:
            return
        path = module_list_path(script)
        old = _read_json(path) or {}
        if old.get("modules") != names or old.get("executable") != sys.executable:
            _write_json(path, {"script": script, "executable": sys.executable, "root": root, "modules": names,
                               "deny": old.get("deny", []), "at": time.time()})
        written[0] = names

    def loop():
        last = -1
        while stop is None or not stop.is_set():
            time.sleep(interval)
            n = len(sys.modules)
            if n == last:
                try:
                    write()
                except Exception:
                    pass
            last = n

    import atexit
    atexit.register(lambda: write() if written[0] is None else None)
    t = threading.Thread(target=loop, name="devenv-warm-record", daemon=True)
    t.start()
    return t


def run_script(argv, root):
    """Run ``argv[0]`` as ``__main__`` the way ``python3 script`` does, recording its modules."""
    script = argv[0]
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    record_modules(script, root)
    if os.environ.get("DEVENV_PATCH") == "1":
        _patch_listener(root, script)
    runpy.run_path(script, run_name="__main__")


def _patch_listener(root, script):
    """devenv's in-place patch (patch.py, next to this file): record RAGFlow's sources as they are
    imported and answer patch requests. A failure only means saves restart the process."""
    try:
        import importlib.util

        where = os.path.join(os.path.dirname(os.path.abspath(__file__)), "patch.py")
        spec = importlib.util.spec_from_file_location("devenv_patch", where)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.install(root, script)
    except Exception as e:
        sys.stderr.write("devenv warm: in-place patch unavailable (%s: %s)\n" % (type(e).__name__, e))


# --- the shim ------------------------------------------------------------------------------
def _note(script, **fields):
    fields.update({"pid": os.getpid(), "at": time.time(), "script": script})
    _write_json(last_path(script), fields)


def cold(argv, reason, learn=False):
    """Today's start: ``python3 script`` in this very process (same pid)."""
    _note(argv[0], mode="cold", reason=reason)
    sys.stderr.write("devenv warm: cold start of %s (%s)\n" % (argv[0], reason))
    sys.stderr.flush()
    for sig in RELAYED:
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if learn:
        run_script(argv, os.getcwd())
        return
    # argv[0] as the loop wrote it ("python3"), as without devenv: tools that read cmdlines see the same
    os.execv(sys.executable, [(getattr(sys, "orig_argv", None) or ["python3"])[0]] + list(argv))


def _send(conn, data, fds=()):
    payload = json.dumps(data).encode()
    header = len(payload).to_bytes(4, "big")
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    conn.sendmsg([header + payload], anc)


def _recv(conn, with_fds=False):
    """One framed JSON message (and the fds passed with it); None at EOF."""
    fds = array.array("i")
    buf = b""
    while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "big"):
        if with_fds and not fds:
            data, anc, _flags, _addr = conn.recvmsg(65536, socket.CMSG_SPACE(16 * fds.itemsize))
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        else:
            data = conn.recv(65536)
        if not data:
            for fd in fds:
                os.close(fd)
            if buf:
                raise ValueError("truncated message")
            return None
        buf += data
        if len(buf) > MAX_MESSAGE:
            raise ValueError("message too large")
    size = int.from_bytes(buf[:4], "big")
    msg = json.loads(buf[4:4 + size].decode())
    return (msg, list(fds)) if with_fds else msg


def _spawn_parent(key, script):
    """Start the warm parent of this kind, detached (double fork: the loop does not wait for it)."""
    os.makedirs(RUN_DIR, exist_ok=True)
    lock = os.path.join(RUN_DIR, "%s.starting" % key)
    for _attempt in (1, 2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            break
        except FileExistsError:
            try:
                with open(lock) as f:
                    pid = int(f.read().strip() or 0)
                age = time.time() - os.stat(lock).st_mtime
            except (OSError, ValueError):
                pid, age = 0, 0.0
            if (pid == 0 and age < 5) or (_is_parent(pid, key) and age < PARENT_START_TIMEOUT):
                return "the warm parent is still starting (it preloads the modules)"
            try:  # its parent died while starting: start another
                os.unlink(lock)
            except OSError:
                pass
    else:
        return "cannot start a warm parent (%s is in the way)" % lock
    os.close(fd)
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                log = os.open(os.path.join(RUN_DIR, "parent-%s.log" % key), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), "--serve", key, script])
        finally:
            os._exit(0)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # in a warm parent, its SIGCHLD reaping may get there first
        pass
    return None


def shim(argv):
    """Run ``argv`` (script, args) warm through the parent of its kind, else cold."""
    script = argv[0]
    try:
        outcome = _warm(argv)
    except Exception as e:  # any error in the fast path: today's start
        outcome = ("cold", "warm start failed: %s: %s" % (type(e).__name__, e))
    if outcome[0] == "cold":
        return cold(argv, outcome[1])
    if outcome[0] == "learn":
        return cold(argv, outcome[1], learn=True)
    return outcome[1]  # the child's exit code


def _warm(argv):
    script = argv[0]
    if os.environ.get("DEVENV_WARM", "1") in ("0", "false", "off"):
        return ("cold", "warm start is off (DEVENV_WARM)")
    if os.path.exists(os.path.join(STATE_DIR, "off")):  # .devenv/warm/off on the host: off without a recreate
        return ("cold", "warm start is off (.devenv/warm/off)")
    listing = _read_json(module_list_path(script))
    if not listing or not listing.get("modules"):
        return ("learn", "no module list yet: this run records one")
    if listing.get("executable") != sys.executable:
        return ("learn", "the module list is for another interpreter")
    key = kind_key(script, os.environ)
    path = os.path.join(RUN_DIR, "%s.sock" % key)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
    except OSError as e:
        conn.close()
        sys.stderr.write("devenv warm: no warm parent at %s (%s)\n" % (path, e.strerror))
        info = _read_json(os.path.join(RUN_DIR, "parent-%s.json" % key)) or {}
        if info.get("state") == "refused" and info.get("list_at") == listing.get("at"):
            return ("cold", "warm parent refused: %s" % info.get("reason"))
        why = _spawn_parent(key, script)
        return ("cold", why or "the warm parent is starting (next start is warm)")
    relay = Relay()  # signals that arrive from now on reach the child, or the cold start
    asked = time.time()
    try:
        _send(conn, {"argv": list(argv), "cwd": os.getcwd(), "env": dict(os.environ)}, fds=(0, 1, 2))
        answer = _recv(conn)
    except (OSError, ValueError) as e:
        answer = {"cold": "the warm parent closed the connection (%s)" % e}
    if answer is None or "pid" not in answer:
        conn.close()
        relay.cold()
        return ("cold", (answer or {}).get("cold") or "the warm parent closed the connection")
    _note(script, mode="warm", child=answer["pid"], fork_ms=round((time.time() - asked) * 1000, 1), parent=answer.get("parent"))
    return ("warm", relay.run(conn, answer["pid"]))


class Relay:
    """The shim's signal handling: relay to the child; a signal before the child exists waits for it."""

    def __init__(self):
        self.child, self.pending, self.replaced = None, [], False
        for sig in RELAYED:
            signal.signal(sig, self.on_signal)

    def on_signal(self, sig, _frame):
        marker = REPLACE_MARKER % os.getpid()
        if sig == signal.SIGTERM and os.path.exists(marker):
            self.replaced = True
            try:
                os.unlink(marker)
            except OSError:
                pass
            sig = signal.SIGKILL  # devenv replaces it anyway: skip the ~4 s shutdown
        if self.child is None:
            self.pending.append(sig)
            return
        try:
            os.kill(self.child, sig)
        except OSError:
            pass

    def cold(self):
        """No child after all: a signal that came meanwhile is for the cold start (this process)."""
        for sig in RELAYED:
            signal.signal(sig, signal.SIG_DFL)
        for sig in self.pending:
            os.kill(os.getpid(), sig)

    def run(self, conn, child):
        """Relay until the parent reports the child's exit; return the loop's exit code."""
        self.child = child
        for sig in self.pending:
            self.on_signal(sig, None) if sig != signal.SIGKILL else os.kill(child, sig)
        try:
            answer = _recv(conn)
        except (OSError, ValueError):
            answer = None
        conn.close()
        if answer is None:  # the parent died: wait for the child itself, its code is lost
            while _alive(child):
                time.sleep(0.05)
            return 0 if self.replaced else 1
        # A foreground loop under `set -e` ends on a non-zero code: a replacement devenv made exits 0.
        return 0 if self.replaced else int(answer.get("exit", 1))


# --- the warm parent -----------------------------------------------------------------------
class Parent:
    """Imports the third-party modules of one process kind and forks a child per start."""

    def __init__(self, key, script, root):
        self.key, self.script, self.root = key, script, root
        self.status_path = os.path.join(RUN_DIR, "parent-%s.json" % key)
        self.sock_path = os.path.join(RUN_DIR, "%s.sock" % key)
        self.status = {"pid": os.getpid(), "key": key, "script": script, "started": time.time(), "state": "starting",
                       "hits": 0, "fallbacks": 0}
        self.watched = {}
        self.children = {}
        self.stopping = None
        self.replaced = False
        self.successor = False
        self.sock_ino = None

    def save(self, **fields):
        self.status.update(fields)
        if not self.replaced:  # the successor owns the status file now
            _write_json(self.status_path, self.status)

    def refuse(self, reason, listing=None):
        self.save(state="refused", reason=reason, list_at=(listing or {}).get("at"))
        self._unlock()
        return None

    def _unlock(self):
        try:
            os.unlink(os.path.join(RUN_DIR, "%s.starting" % self.key))
        except OSError:
            pass

    def preload(self):
        """Import the recorded third-party modules; returns a refusal reason or None.

        It first waits ``DEVENV_WARM_DELAY`` seconds (default 10): the parent starts beside the
        cold start that needed it, and on a small machine both at once slow that start down."""
        time.sleep(float(os.environ.get("DEVENV_WARM_DELAY") or 10))
        listing = _read_json(module_list_path(self.script)) or {}
        self.listing = listing
        tree = OwnTree(self.root)
        site_dirs = tree.site_dirs
        deny = set(listing.get("deny", []))
        started, loaded, failed = time.time(), 0, 0
        for name in listing.get("modules", []):
            if name in deny or name in sys.modules or tree.top_is_own(name.split(".")[0]):
                continue
            before = set(sys.modules)
            try:
                importlib.import_module(name)
                loaded += 1
            except BaseException:  # noqa: B036 - a module that fails here is left to the child
                failed += 1
            own = [m for m in set(sys.modules) - before if tree.is_own(m)]
            if own:
                listing.setdefault("deny", []).append(name)
                _write_json(module_list_path(self.script), listing)
                return "importing %s pulled in RAGFlow's %s (it is skipped from now on)" % (name, sorted(own)[0])
        self.save(preloaded=loaded, failed=failed, preload_s=round(time.time() - started, 2))
        pools = self.threads()
        threads = self.unsafe_threads()
        if threads:
            return "threads after preloading (fork would be unsafe): %s" % ", ".join(threads)
        self.save(pools_stopped_at_fork=len(pools))
        self.watch(site_dirs)
        return None

    def unsafe_threads(self):
        """Threads that outlive a fork. Native pools such as OpenBLAS stop theirs in a
        ``pthread_atfork`` handler (and restart them on next use), so a probe fork tells them
        apart from threads that would be copied mid-work: only those make a fork unsafe."""
        if not self.threads():
            return []
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        return self.threads()

    def threads(self):
        """Threads other than the main one and those known to be fork-safe."""
        extra = []
        for tid in os.listdir("/proc/self/task"):
            if int(tid) == os.getpid():
                continue
            try:
                with open("/proc/self/task/%s/comm" % tid) as f:
                    name = f.read().strip()
            except OSError:
                name = "?"
            if name not in ALLOWED_THREADS:
                extra.append(name)
        return extra

    def watch(self, site_dirs):
        """Remember what the parent's state depends on: its modules' files, site dirs, the lock files."""
        paths = set(site_dirs)
        for mod in list(sys.modules.values()):
            f = getattr(mod, "__file__", None)
            if f:
                paths.add(f)
        for name in ("pyproject.toml", "uv.lock"):
            paths.add(os.path.join(self.root, name))
        for p in paths:
            self.watched[p] = self._stamp(p)

    @staticmethod
    def _stamp(path):
        try:
            st = os.stat(path)
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            return None

    def changed(self):
        for p, stamp in self.watched.items():
            if self._stamp(p) != stamp:
                name = os.path.basename(p)
                return "%s changed" % (name if name in ("pyproject.toml", "uv.lock") else p)
        threads = self.unsafe_threads()
        if threads:
            return "threads appeared in the warm parent: %s" % ", ".join(threads)
        return None

    def serve(self):
        """Answer shims until stale; in a forked child, return the job to run."""
        # No `nice` while preloading: the children would inherit it, and a container may not
        # raise its priority back (no CAP_SYS_NICE).
        reason = self.preload()
        if reason:
            return self.refuse(reason, self.listing)
        # What the preloaded modules set up is what a cold start would have: children get it back.
        self.dispositions = dict((sig, signal.getsignal(sig)) for sig in RELAYED + (signal.SIGCHLD,))
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        tmp = "%s.%d" % (self.sock_path, os.getpid())
        listener.bind(tmp)
        listener.listen(16)
        os.replace(tmp, self.sock_path)
        self.sock_ino = os.stat(self.sock_path).st_ino
        self._unlock()
        self.save(state="ready", ready_at=time.time())
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: None)
        sel = selectors.DefaultSelector()
        sel.register(listener, selectors.EVENT_READ, "accept")
        sel.register(wake_r, selectors.EVENT_READ, "wake")
        self.closers = [listener, sel]
        self.raw_fds = [wake_r, wake_w]
        terminate = [False]
        signal.signal(signal.SIGTERM, lambda *_: terminate.__setitem__(0, True))
        while True:
            for k, _ in sel.select(timeout=1.0):
                if k.data == "accept":
                    try:
                        conn, _addr = listener.accept()
                    except OSError:
                        continue
                    job = self.handle(conn, sel)
                    if job is not None:
                        return job
                elif k.data == "wake":
                    try:
                        while os.read(wake_r, 512):
                            pass
                    except OSError:
                        pass
                else:  # a shim's connection: EOF means the shim is gone, so is its child's reason to live
                    self._shim_gone(k.fileobj, k.data, sel)
            self.reap(sel)
            if terminate[0] and not self.stopping:
                self.stop("asked to stop")
            if not self.stopping and self._stamp(self.sock_path) is not None and self._stamp(self.sock_path)[2] != self.sock_ino:
                # A successor bound the socket: it takes the next starts; this one ends with its children.
                self.stopping, self.replaced = "replaced by a parent with the new module list", True
            if self.stopping and not self.children:
                self.save(state="exited", reason=self.stopping)
                return None

    def stop(self, reason):
        self.stopping = reason
        if self.replaced:
            return
        try:
            os.unlink(self.sock_path)
        except OSError:
            pass

    def handle(self, conn, sel):
        try:
            got = _recv(conn, with_fds=True)
        except (OSError, ValueError):
            conn.close()
            return None
        if got is None:
            conn.close()
            return None
        msg, fds = got
        doubt = self.stopping or self.changed()
        if not doubt and len(fds) != 3:
            doubt = "the shim passed %d file descriptors, not 3" % len(fds)
        if doubt:
            self.status["fallbacks"] += 1
            if not self.stopping:
                self.stop(doubt)
            self.save(state="stopping", reason=doubt)
            for fd in fds:
                os.close(fd)
            try:
                _send(conn, {"cold": doubt})
            except OSError:
                pass
            conn.close()
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            return self.child_job(msg, fds, conn)
        for fd in fds:
            os.close(fd)
        self.children[pid] = conn
        sel.register(conn, selectors.EVENT_READ, pid)
        self.status["hits"] += 1
        self.save(children=sorted(self.children))
        listing = _read_json(module_list_path(self.script)) or {}
        if listing.get("at") != self.listing.get("at") and not self.stopping and not self.successor:
            # The script imports more (or other) modules now: start a parent that preloads the new
            # list; it takes over the socket when ready, and this one serves until then.
            self.successor = True
            try:
                _spawn_parent(self.key, self.script)
            except OSError:
                pass
        try:
            _send(conn, {"pid": pid, "parent": os.getpid()})
        except OSError:
            pass
        return None

    def _shim_gone(self, conn, pid, sel):
        try:
            data = conn.recv(1)
        except OSError:
            data = b""
        if data:
            return
        sel.unregister(conn)
        if pid in self.children:
            try:
                os.kill(pid, signal.SIGKILL)  # nobody waits for it any more: no orphan holding the port
            except OSError:
                pass

    def reap(self, sel):
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            try:
                sel.unregister(conn)
            except (KeyError, ValueError):
                pass
            try:
                _send(conn, {"exit": code})
            except OSError:
                pass
            conn.close()
            self.save(children=sorted(self.children))

    def child_job(self, msg, fds, conn):
        """In the forked child: drop the parent's state and become the process the shim asked for."""
        signal.set_wakeup_fd(-1)
        for sig, handler in self.dispositions.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for c in self.closers:
            c.close()
        for c in self.children.values():
            c.close()
        conn.close()
        for fd in self.raw_fds:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(msg["cwd"])
        os.environ.clear()
        os.environ.update(msg["env"])
        for stream in (sys.stdout, sys.stderr):  # as python3 decides at start: line-buffered on a terminal
            try:
                stream.reconfigure(line_buffering=stream is sys.stderr or os.isatty(stream.fileno()))
            except (AttributeError, OSError, ValueError):
                pass
        return msg["argv"]


def serve_main(key, script):
    parent = Parent(key, script, os.getcwd())
    try:
        with open(os.path.join(RUN_DIR, "%s.starting" % key), "w") as f:
            f.write(str(os.getpid()))  # the lock names its owner: a shim can tell starting from dead
    except OSError:
        pass
    try:
        job = parent.serve()
    except BaseException as e:
        if os.getpid() != parent.status["pid"]:
            raise
        parent.refuse("the warm parent failed: %s: %s" % (type(e).__name__, e), getattr(parent, "listing", None))
        raise
    if job is None:
        return 0
    # The forked child: run the script at the top of the stack, so it exits as `python3 script` does.
    run_script(job, os.getcwd())
    return 0


# --- status (for devenv's agent) ----------------------------------------------------------
def _rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def status():
    """The warm parents (alive ones with their resident memory) and each script's last start."""
    parents, last = [], {}
    try:
        names = sorted(os.listdir(RUN_DIR))
    except OSError:
        names = []
    for name in names:
        data = _read_json(os.path.join(RUN_DIR, name)) if name.endswith(".json") else None
        if data is None:
            continue
        if name.startswith("parent-"):
            data["alive"] = _is_parent(data.get("pid", 0), data.get("key", ""))
            data["rss_kb"] = _rss_kb(data["pid"]) if data["alive"] else None
            parents.append(data)
        elif name.startswith("last-"):
            last[data.get("script", name)] = data
    return {"parents": parents, "last": last}


def main(argv):
    if argv and argv[0] == "--status":
        print(json.dumps(status()))
        return 0
    if argv and argv[0] == "--serve":
        return serve_main(argv[1], argv[2])
    if not argv:
        sys.stderr.write("usage: warm.py SCRIPT [ARGS...] | --serve KEY SCRIPT | --status\n")
        return 2
    return shim(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
