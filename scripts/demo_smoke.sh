#!/usr/bin/env bash
# Smoke test of the bundled demo checkout (compose/demo) on a real Docker engine.
#
# Works on a temporary copy, so nothing is written into the repository. Brings the
# stack up (building the images when they are missing), checks the endpoints, that
# bash is PID 1, that a SIGTERM to the server is followed by a new server within
# about 2 s, that a syntax error keeps the loop alive and is recovered from, and
# that healthz reports the database down when the MySQL-like service stops.
# Tears everything down (containers, network, volumes) at the end; built images stay.
#
# Environment: DEVENV_DEMO_BASE_IMAGE (e.g. devenv-base:bookworm when nothing can be
# pulled) is passed through to compose. KEEP_TMP=1 keeps the temporary copy.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO_SRC="$(cd "$HERE/../compose/demo" && pwd)"

say()  { printf 'demo-smoke: %s\n' "$*" >&2; }
fail() { printf 'demo-smoke: FAILED: %s\n' "$*" >&2; exit 1; }
now()  { python3 -c 'import time; print(f"{time.time():.3f}")'; }
elapsed() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }

TMP="$(mktemp -d /tmp/devenv-demo-smoke.XXXXXX)"
DIR="$TMP/demo"
PROJECT="demo-smoke-$$-$RANDOM"
cp -a "$DEMO_SRC" "$DIR"
rm -rf "$DIR/docker/ragflow-logs" "$DIR/.devenv"
find "$DIR" -name __pycache__ -type d -prune -exec rm -rf {} +
# Create the bind-mount folder ourselves: one Docker creates is root-owned.
mkdir -p "$DIR/docker/ragflow-logs"

compose() {
  docker compose -p "$PROJECT" --project-directory "$DIR/docker" -f "$DIR/docker/docker-compose.yml" "$@"
}

cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    say "logs of the failed run:"
    compose logs --no-color --tail 40 >&2 2>/dev/null || true
  fi
  compose down -v --remove-orphans -t 1 >/dev/null 2>&1 || say "compose down failed"
  if [ "${KEEP_TMP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP" || say "could not remove $TMP"; fi
  exit "$rc"
}
trap cleanup EXIT

# Free host ports for the API and the web frontend.
read -r API_PORT WEB_PORT < <(python3 - <<'PY'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
)
export SVR_HTTP_PORT="$API_PORT" SVR_WEB_HTTP_PORT="$WEB_PORT"
API="http://127.0.0.1:$API_PORT"

# GET a URL; prints "STATUS BODY" (STATUS 0 when the connection fails).
http_get() {
  python3 - "$1" <<'PY'
import sys, urllib.error, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
except Exception as e:
    print(0, repr(e))
PY
}

# Poll a URL until it answers with STATUS (and optionally a body containing TEXT).
wait_for() { # URL STATUS TIMEOUT [TEXT]
  python3 - "$@" <<'PY'
import sys, time, urllib.error, urllib.request
url, want, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
text = sys.argv[4] if len(sys.argv) > 4 else ""
deadline, last = time.time() + timeout, None
while time.time() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            last = (r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        last = (e.code, e.read().decode())
    except Exception as e:
        last = (0, repr(e))
    if last[0] == want and text in last[1]:
        print(last[0], last[1])
        sys.exit(0)
    time.sleep(0.05)
print(f"timeout after {timeout}s, last answer: {last}", file=sys.stderr)
sys.exit(1)
PY
}

json_field() { # JSON FIELD
  python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

# 1. The configuration resolves with no environment but the base image variable.
say "compose config with a bare environment"
env -i PATH="$PATH" HOME="$HOME" ${DEVENV_DEMO_BASE_IMAGE:+DEVENV_DEMO_BASE_IMAGE="$DEVENV_DEMO_BASE_IMAGE"} \
  docker compose --project-directory "$DIR/docker" -f "$DIR/docker/docker-compose.yml" config --format json \
  | python3 -c '
import json, sys
c = json.load(sys.stdin)
services = sorted(c["services"])
assert services == ["es01", "mysql", "ragflow-cpu"], services
s = c["services"]["ragflow-cpu"]
assert s["image"] == "devenv-demo/ragflow:v0.24.0", s["image"]
assert s["profiles"] == ["cpu"], s["profiles"]
assert "mysql_data" in c["volumes"], c.get("volumes")
' || fail "compose config"

# 2. Up (builds missing images) and wait until the containers run / are healthy.
say "compose up -d --wait (project $PROJECT, API port $API_PORT, web port $WEB_PORT)"
missing=""
for image in devenv-demo/ragflow:v0.24.0 devenv-demo/mysql:8.0.39 devenv-demo/elasticsearch:8.11.3; do
  docker image inspect "$image" >/dev/null 2>&1 || missing="$missing $image"
done
[ -z "$missing" ] || say "images to build:$missing"
t0=$(now)
compose up -d --wait >"$TMP/up.log" 2>&1 || { cat "$TMP/up.log" >&2; fail "compose up"; }
t_up=$(now)
wait_for "$API/v1/system/healthz" 200 30 '"status": "ok"' >/dev/null || fail "healthz never became ok"
t_ok=$(now)
say "up --wait took $(elapsed "$t0" "$t_up") s; healthz ok after $(elapsed "$t0" "$t_ok") s"

# 3. Endpoints.
read -r status body < <(http_get "$API/v1/system/ping")
[ "$status" = 200 ] && [ "$body" = pong ] || fail "/v1/system/ping: $status $body"
read -r status body < <(http_get "$API/api/v1/system/ping")
[ "$status" = 200 ] && [ "$body" = pong ] || fail "/api/v1/system/ping: $status $body"
read -r status body < <(http_get "$API/api/v1/system/healthz")
[ "$status" = 200 ] && [ "$(json_field "$body" db)" = ok ] || fail "/api/v1/system/healthz: $status $body"
read -r status body < <(http_get "$API/v1/demo/code")
[ "$status" = 200 ] || fail "/v1/demo/code: $status $body"
[ "$(json_field "$body" mark)" = demo-initial ] || fail "unexpected mark: $body"
old_pid=$(json_field "$body" pid)
read -r status body < <(http_get "$API/v1/demo/env")
python3 -c '
import json, sys
e = json.loads(sys.argv[1])
assert e["venv"] is True and e["model"] == "baked-model" and e["web_dist"] is True and e["service_conf"] is True, e
assert e["packages"]["api"] == "/ragflow/api/__init__.py", e
' "$body" || fail "/v1/demo/env: $body"
wait_for "http://127.0.0.1:$WEB_PORT/" 200 5 "RAGFlow demo" >/dev/null || fail "web frontend"
say "ping, healthz, code (pid $old_pid), env and the web frontend answer"

# 4. Bash is PID 1 in the server container, and both loops run.
CID=$(compose ps -q ragflow-cpu)
[ -n "$CID" ] || fail "no ragflow-cpu container"
pid1=$(docker exec "$CID" cat /proc/1/comm)
[ "$pid1" = bash ] || fail "PID 1 is $pid1, not bash"

# Finds processes by a command-line fragment; with "term", also sends them SIGTERM.
PROCS_PY='
import os, signal, sys, time
mode, needle = sys.argv[1], sys.argv[2].encode()
found = []
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        with open(f"/proc/{p}/cmdline", "rb") as fh:
            args = fh.read().split(b"\0")
    except OSError:
        continue
    # The script path is the first argument ("python3 api/ragflow_server.py"); skip ourselves.
    if int(p) != os.getpid() and len(args) > 1 and args[0].endswith(b"python3") and args[1] == needle:
        found.append(int(p))
t = time.time()
if mode == "term":
    for pid in found:
        os.kill(pid, signal.SIGTERM)
print(" ".join(map(str, found)) or "-", f"{t:.3f}")
'
procs() { docker exec "$CID" python3 -c "$PROCS_PY" "$@"; }
read -r te_pids _ < <(procs list rag/svr/task_executor.py)
[ "$te_pids" != - ] || fail "no task executor running"
say "PID 1 is bash; task executor pid $te_pids"

# 5. SIGTERM to the server: its loop starts a new one about 1 s later.
read -r killed t_kill < <(procs term api/ragflow_server.py)
[ "$killed" = "$old_pid" ] || fail "SIGTERM went to '$killed', the server that answered was $old_pid"
python3 - "$API/v1/demo/code" "$old_pid" "$t_kill" <<'PY' || fail "no new server within 2.5 s of SIGTERM"
import json, sys, time, urllib.request
url, old, t_kill = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
while time.time() - t_kill < 2.5:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            pid = json.loads(r.read())["pid"]
        if pid != old:
            print(f"demo-smoke: new server pid {pid} answered {time.time() - t_kill:.2f} s after SIGTERM", file=sys.stderr)
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.02)
sys.exit(1)
PY
grep -q "pid=$old_pid got signal 15" "$DIR/docker/ragflow-logs/ragflow_server.log" \
  || fail "ragflow_server.log has no exit line for $old_pid"
[ "$(grep -c ' started pid=' "$DIR/docker/ragflow-logs/ragflow_server.log")" -ge 2 ] \
  || fail "ragflow_server.log does not show two starts"

# 6. A syntax error: the server exits non-zero with a traceback, the loop keeps
#    trying, and a fixed file is picked up.
docker exec "$CID" cp /ragflow/api/apps/demo_app.py /tmp/demo_app.py.good
docker exec "$CID" sh -c 'echo "def broken(:" >> /ragflow/api/apps/demo_app.py'
procs term api/ragflow_server.py >/dev/null
wait_for "$API/v1/system/ping" 0 5 >/dev/null || fail "the server still answers with a syntax error"
sleep 1.5
docker logs "$CID" 2>&1 | grep -q SyntaxError || fail "no SyntaxError traceback in the container log"
docker exec "$CID" sh -c 'cat /tmp/demo_app.py.good > /ragflow/api/apps/demo_app.py'
wait_for "$API/v1/system/ping" 200 5 >/dev/null || fail "the server did not come back after the fix"
say "syntax error: server down with a traceback, back after the fix"

# 7. healthz sees the database go away, and come back.
compose stop -t 1 mysql >/dev/null 2>&1
read -r status body < <(http_get "$API/v1/system/healthz")
[ "$status" = 500 ] && [ "$(json_field "$body" db)" = nok ] && [ "$(json_field "$body" status)" = nok ] \
  || fail "healthz with mysql stopped: $status $body"
say "mysql stopped: healthz $status $body"
compose start mysql >/dev/null 2>&1
wait_for "$API/v1/system/healthz" 200 15 '"db": "ok"' >/dev/null || fail "healthz did not recover after mysql restarted"

say "all checks passed"
