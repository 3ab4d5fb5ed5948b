"""devenv's agent inside the server container.

Started once per container by the host (:mod:`devenv.engine.agent`) as
``python3 -u -c <this file's source>``; it then answers one JSON request per
line on stdin with one JSON line on stdout, so listing processes, hashing
files and signalling take a millisecond instead of a fresh ``docker exec``.
It reads ``/proc`` directly: no ps, no pkill, no shell.

This file is the contract's single source: the host imports its constants
(``RELAUNCH_MARKER``, ``OPS``), and the ``BASH_ENV`` hook is rendered from them
(:func:`devenv.container.bash_env_hook`). It must run on any Python 3.8+ that a
RAGFlow image ships, with the standard library only.
"""

import hashlib
import json
import os
import signal
import sys
import time

# When devenv restarts a Python process to load new code, it leaves this marker, named after
# the process's restart loop (its parent shell); the BASH_ENV hook makes that loop's next
# `sleep` return at once and removes it.
RELAUNCH_MARKER = "/tmp/devenv-relaunch-%d"
# Before it SIGTERMs a warm start's shim (warm.py) to replace the process, devenv leaves this
# marker: the shim then kills its child at once instead of waiting for its slow shutdown.
REPLACE_MARKER = "/tmp/devenv-replace-%d"
# The BASH_ENV hook notes each launch of a loop's script ("L pid script") and each exit its loop
# saw ("E pid loop-pid", "R ..." when devenv's marker caused it) here. /dev/shm is the
# container's own tmpfs, empty at each start (a restarted container keeps its /tmp).
LOOP_LOG = "/dev/shm/devenv-loops"
# Each process warm.py runs with reload.patch on listens here for in-place patches (patch.py's
# SOCKET; the script's path with "/" as "_", and its pid).
PATCH_SOCKET = "/dev/shm/devenv-patch/%s.%d.sock"
WARM_RUN = "/tmp/devenv-warm"  # warm.py's RUN_DIR: the parents' and the last starts' status files
OPS = ("procs", "hash", "reload", "ping", "listening", "kill", "warm", "patch")

def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])

def procs(scripts):
    out = []
    me = os.getpid()
    ticks = float(os.sysconf("SC_CLK_TCK"))
    now = uptime()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
            with open("/proc/%s/stat" % name) as f:
                stat = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if not argv or stat[0] in ("Z", "X") or "python" not in os.path.basename(argv[0]):
            continue
        for script in scripts:
            if any(a == script or a.endswith("/" + script) for a in argv[1:3]):
                entry = {"pid": int(name), "script": script, "start": int(stat[19]),
                         "age": round(max(0.0, now - int(stat[19]) / ticks), 2)}
                if argv[1].endswith("/warm.py"):
                    entry["warm"] = True  # a warm start's shim: the process the loop waits for
                out.append(entry)
                break
    return out

class LoopLog:
    """Launches and exits per script, read from LOOP_LOG as it grows (each answer reads only the new lines)."""

    def __init__(self, path=LOOP_LOG):
        self.path, self.offset, self.rest = path, 0, b""
        self.script_of = {}  # pid (the loop's `$!`) -> script, from the latest launch of that pid
        self.counts = {}  # script -> {"launches", "exits", "devenv_exits"}

    def read(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return self.counts
        self.offset += len(data)
        lines = (self.rest + data).split(b"\n")
        self.rest = lines.pop()  # an unfinished line waits for its end
        for line in lines:
            self.take(line.decode("utf-8", "replace").split(" ", 2))
        return self.counts

    def take(self, fields):
        if len(fields) != 3:
            return
        kind, pid, rest = fields
        if kind == "L":
            self.script_of[pid] = rest
            self.count(rest, "launches")
        elif kind in ("E", "R"):
            # `$!` is the loop's last child; a loop that runs its script in the foreground has no
            # child of its own, and its launch was noted under the loop's own pid.
            script = self.script_of.get(pid) or self.script_of.get(rest)
            if script is not None:
                self.count(script, "exits")
                if kind == "R":
                    self.count(script, "devenv_exits")

    def count(self, script, key):
        entry = self.counts.setdefault(script, {"launches": 0, "exits": 0, "devenv_exits": 0})
        entry[key] += 1

    def answer(self, scripts):
        counts = self.read()
        return dict((s, counts[s]) for s in scripts if s in counts)


LOOPS = LoopLog()


def listening(port):
    # A socket in LISTEN state (0A) on ``port``, from /proc/net/tcp{,6}: no ss, no netstat.
    suffix = ":%04X" % port
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 3 and cols[1].endswith(suffix) and cols[3] == "0A":
                return True
    return False

def dead_binds(under="/ragflow"):
    # Bind mounts whose host folder was deleted (and perhaps made again: a new inode the container
    # never sees). The kernel marks their root "//deleted" in /proc/self/mountinfo.
    dead = []
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[3].endswith("//deleted") and (fields[4] == under or fields[4].startswith(under + "/")):
                    dead.append(fields[4].replace("\\040", " "))
    except OSError:
        pass
    return dead

def kill(targets):
    # SIGKILL each {"pid", "start"} that is still that very process (a pid may have been reused).
    killed = []
    for t in targets:
        try:
            with open("/proc/%d/stat" % t["pid"]) as f:
                if int(f.read().rsplit(")", 1)[1].split()[19]) != t["start"]:
                    continue
            os.kill(t["pid"], signal.SIGKILL)
            killed.append(t["pid"])
        except (OSError, ValueError, IndexError, KeyError):
            pass
    return killed

def relaunch_now(pid):
    # devenv's BASH_ENV hook makes the loop's next `sleep` return at once when this marker,
    # named after the loop's shell (the process's parent), exists; the hook removes it.
    try:
        with open("/proc/%d/stat" % pid) as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        open(RELAUNCH_MARKER % ppid, "w").close()
    except (OSError, ValueError, IndexError):
        pass

def digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None

def pycache_prefixes(pids):
    """Where the processes keep bytecode apart from the sources: PYTHONPYCACHEPREFIX, from the
    agent's own environment (the container's) and from each server process's environment."""
    found = set()
    if os.environ.get("PYTHONPYCACHEPREFIX"):
        found.add(os.environ["PYTHONPYCACHEPREFIX"])
    for pid in pids:
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(b"PYTHONPYCACHEPREFIX="):
                value = item.split(b"=", 1)[1].decode("utf-8", "replace")
                if value:
                    found.add(value)
    return sorted(found)

def drop_bytecode(paths, prefixes):
    """Remove the cached bytecode of the changed sources before their process restarts.

    Python trusts a .pyc whose recorded source mtime (whole seconds) and size match the source:
    two saves of the same size within one second would otherwise run the first save's code.
    Looks in __pycache__ next to the source and under each PYTHONPYCACHEPREFIX.
    """
    removed = []
    for path in paths:
        if not path.endswith(".py"):
            continue
        folder, name = os.path.split(path)
        stem = name[:-3] + "."
        places = [os.path.join(folder, "__pycache__")] + [os.path.join(p, folder.lstrip("/")) for p in prefixes]
        for place in places:
            try:
                names = os.listdir(place)
            except OSError:
                continue
            for n in names:
                if n.startswith(stem) and n.endswith(".pyc"):
                    try:
                        os.unlink(os.path.join(place, n))
                        removed.append(os.path.join(place, n))
                    except OSError:
                        pass
    return removed

def await_bytes(expect, wait_ms):
    """The paths whose bytes still differ from ``expect`` after waiting up to ``wait_ms`` (mount lag)."""
    deadline = time.time() + wait_ms / 1000.0
    while True:
        bad = [p for p, h in expect.items() if digest(p) != h]
        if not bad or time.time() >= deadline:
            return bad
        time.sleep(0.01)

def reload(req):
    expect = req.get("expect", {})
    bad = await_bytes(expect, req.get("wait_ms", 0))
    before = procs(req.get("scripts", []))
    sent = []
    dropped = []
    if not bad or req.get("force"):
        dropped = drop_bytecode(list(expect), pycache_prefixes([p["pid"] for p in before]))
        for p in before:
            if req.get("relaunch_now"):
                relaunch_now(p["pid"])
            if p.get("warm"):
                try:
                    open(REPLACE_MARKER % p["pid"], "w").close()
                except OSError:
                    pass
            try:
                os.kill(p["pid"], signal.SIGTERM)
                sent.append(p)
            except OSError:
                pass
    return {"mismatched": bad, "seen": dict((p, digest(p)) for p in bad), "signalled": sent, "before": before,
            "dropped": dropped, "dead": dead_binds()}

def patch(req):
    """Ask every process of ``scripts`` that listens for patches to take the saved ``expect`` files in place."""
    import socket

    expect = req.get("expect", {})
    bad = await_bytes(expect, req.get("wait_ms", 0))
    if bad:
        return {"ok": False, "mismatched": bad, "refused": "the container does not see the saved bytes of %s" % bad[0]}
    folder = os.path.dirname(PATCH_SOCKET)
    try:
        names = os.listdir(folder)
    except OSError:
        names = []
    answers = []
    for script in req.get("scripts", []):
        slug = script.strip("/").replace("/", "_")
        live = []
        for name in names:
            head, _, rest = name.rpartition(".sock")[0].rpartition(".")
            if head == slug and rest.isdigit() and os.path.exists("/proc/%s" % rest):
                live.append(int(rest))
        listening = 0
        for pid in live:
            answer = {"ok": False, "refused": "no answer"}
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                    conn.settimeout(req.get("timeout", 20))
                    conn.connect(PATCH_SOCKET % (slug, pid))
                    conn.sendall((json.dumps({"paths": list(expect)}) + "\n").encode("utf-8"))
                    with conn.makefile("rb") as reader:
                        answer = json.loads(reader.readline().decode("utf-8"))
            except (ConnectionRefusedError, FileNotFoundError):
                # Nobody listens: the process that made it is gone (killed before it could clean
                # up) and its pid lives on as another process or thread. Not one of ours.
                try:
                    os.unlink(PATCH_SOCKET % (slug, pid))
                except OSError:
                    pass
                continue
            except (OSError, ValueError) as e:
                answer = {"ok": False, "refused": "pid %d did not answer (%s)" % (pid, e)}
            listening += 1
            answer.update({"script": script, "pid": pid})
            answers.append(answer)
            if not answer.get("ok"):
                return {"ok": False, "refused": answer.get("refused", "refused"), "path": answer.get("path"),
                        "processes": answers}
        running = len(procs([script]))  # one per restart loop (a warm start's shim stands for its child)
        if listening < max(1, running):
            how = "no %s process listens" % script if not listening else "only %d of %d %s processes listen" % (
                listening, running, script)
            return {"ok": False, "refused": how + " for patches (started cold, not by the warm start)"}
    # The processes run the new code; their next start must not take stale bytecode of it.
    drop_bytecode(list(expect), pycache_prefixes([a["pid"] for a in answers]))
    return {"ok": True, "processes": answers}

def warm_status():
    """What warm.py's status files say, with each live parent's resident memory."""
    parents, last = [], {}
    try:
        names = sorted(os.listdir(WARM_RUN))
    except OSError:
        names = []
    for name in names:
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(WARM_RUN, name)) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        if name.startswith("parent-"):
            rss = None
            try:
                with open("/proc/%d/cmdline" % data.get("pid", 0), "rb") as f:
                    alive = data.get("key", "?").encode() in f.read().split(b"\0")
                if alive:
                    with open("/proc/%d/status" % data["pid"]) as f:
                        rss = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), None)
            except (OSError, ValueError):
                alive = False
            data["alive"], data["rss_kb"] = alive, rss
            parents.append(data)
        elif name.startswith("last-"):
            last[data.get("script", name)] = data
    return {"parents": parents, "last": last}

def handle(req):
    op = req.get("op")
    if op == "procs":
        scripts = req.get("scripts", [])
        return {"procs": procs(scripts), "loops": LOOPS.answer(scripts)}
    if op == "hash":
        return {"hashes": dict((p, digest(p)) for p in req.get("paths", []))}
    if op == "reload":
        return reload(req)
    if op == "kill":
        return {"killed": kill(req.get("procs", []))}
    if op == "listening":
        return {"listening": listening(int(req.get("port", 0)))}
    if op == "warm":
        return warm_status()
    if op == "patch":
        return patch(req)
    if op == "ping":
        return {"pid": os.getpid(), "ticks": os.sysconf("SC_CLK_TCK")}
    return {"error": "unknown op %r" % op}


def serve(lines, write):
    """Answer each request line with one JSON line."""
    for line in lines:
        try:
            answer = handle(json.loads(line))
        except Exception as e:
            answer = {"error": "%s: %s" % (type(e).__name__, e)}
        write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    def _write(text):
        sys.stdout.write(text)
        sys.stdout.flush()

    serve(sys.stdin, _write)
