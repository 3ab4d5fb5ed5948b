#!/usr/bin/env bash
# A non-root user for devenv's non-root tests (CI and contributors; tests/e2e/test_nonroot.py).
# Run as root after scripts/provision.sh. Idempotent: each step is skipped when done.
#
#   - user $DEVENV_TEST_USER (default devenv-ci), a member of the docker group, as a developer
#     on a Linux machine usually is;
#   - compose v2 in that user's own ~/.docker/cli-plugins;
#   - a venv readable by that user with devenv's dependencies (Debian's python3; the tests put
#     the checkout's own devenv package first on PYTHONPATH, so code changes need no reinstall).
set -euo pipefail

TEST_USER="${DEVENV_TEST_USER:-devenv-ci}"
VENV="${DEVENV_TEST_VENV:-/opt/devenv-nonroot/venv}"
STATE_DIR="${DEVENV_PROVISION_DIR:-/var/tmp/devenv-provision}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"

say()  { printf 'provision-nonroot: %s\n' "$*" >&2; }
fail() { printf 'provision-nonroot: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (it creates a user)"
mkdir -p "$STATE_DIR"

getent group docker >/dev/null || groupadd --system docker
if ! id -u "$TEST_USER" >/dev/null 2>&1; then
  say "creating user $TEST_USER (group docker)"
  useradd --create-home --shell /bin/bash --groups docker "$TEST_USER"
fi
id -nG "$TEST_USER" | tr ' ' '\n' | grep -qx docker || usermod -aG docker "$TEST_USER"
USER_HOME="$(getent passwd "$TEST_USER" | cut -d: -f6)"
PLUGIN_DIR="$USER_HOME/.docker/cli-plugins"

# The user's own plugin folder, as `docker compose` installs per user: a system-wide copy would leave
# no way to hide compose from the root tests (tests/e2e/test_preflight.py's "compose v2 missing").
if [ ! -x "$PLUGIN_DIR/docker-compose" ]; then
  found=""
  for p in "$HOME/.docker/cli-plugins/docker-compose" /usr/libexec/docker/cli-plugins/docker-compose \
           /usr/lib/docker/cli-plugins/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose; do
    [ -x "$p" ] && { found="$p"; break; }
  done
  [ -n "$found" ] || fail "no compose v2 plugin found (run scripts/provision.sh first)"
  say "installing compose v2 for $TEST_USER ($PLUGIN_DIR)"
  install -D -m 0755 -o "$TEST_USER" -g "$TEST_USER" "$found" "$PLUGIN_DIR/docker-compose"
  chown -R "$TEST_USER:$TEST_USER" "$USER_HOME/.docker"
fi

stamp="$VENV/.devenv-pyproject.sha256"
want="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing devenv's dependencies in $VENV (Debian's python3)"
  python=/usr/bin/python3
  [ -x "$python" ] || python="$(command -v python3)"
  "$python" -m venv "$VENV" || fail "python3 -m venv $VENV"
  "$VENV/bin/pip" install --quiet "$REPO" >"$STATE_DIR/pip-nonroot.log" 2>&1 \
    || fail "pip install devenv into $VENV (see $STATE_DIR/pip-nonroot.log)"
  echo "$want" >"$stamp"
  chmod -R a+rX "$(dirname "$VENV")"
fi

runuser -u "$TEST_USER" -- docker compose version >/dev/null 2>&1 \
  || fail "$TEST_USER cannot run docker compose (is the engine's socket group docker? ls -l /var/run/docker.sock)"
(cd / && runuser -u "$TEST_USER" -- "$VENV/bin/python" -c "import typer, docker, python_on_whales, watchdog, httpx") \
  || fail "$TEST_USER cannot import devenv's dependencies from $VENV"
say "ready: user $TEST_USER (uid $(id -u "$TEST_USER"), groups $(id -nG "$TEST_USER")), venv $VENV"
