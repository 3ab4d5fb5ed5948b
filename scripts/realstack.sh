#!/usr/bin/env bash
# Build (or check) the shared real-RAGFlow v0.22.0 kit, for the `realstack` test layer and
# scripts/bench_realstack.py. The kit is shared (../shared/realstack, README there): it is wrapped,
# never copied or edited. Idempotent: the kit skips every step that is already done.
#   bash scripts/realstack.sh [build|path]
# Environment: DEVENV_REALSTACK_KIT (the kit folder), REALRF (its work folder, default /tmp/realrf).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

kit() {
  local c
  for c in "${DEVENV_REALSTACK_KIT:-}" "$HERE/../../shared/realstack" "/work/shared/realstack"; do
    [ -n "$c" ] && [ -f "$c/build.sh" ] && { (cd "$c" && pwd); return; }
  done
  echo "realstack: the kit is not here (set DEVENV_REALSTACK_KIT to the folder holding build.sh)" >&2
  return 1
}

case "${1:-build}" in
  path) kit ;;
  build)
    k=$(kit)
    # The kit reads the package index from pip's configuration; a machine whose pip has only
    # find-links (these) has none, so name PyPI explicitly (kit change requested on issue 12).
    if ! pip config get global.index-url >/dev/null 2>&1 && [ -z "${PIP_INDEX_URL:-}" ]; then
      export PIP_INDEX_URL=https://pypi.org/simple
    fi
    started=$(date +%s)
    # The kit's venv step reads the lock's index host with `sed ... | head -n 1` under pipefail: sed
    # dies of SIGPIPE (exit 141) when head exits first. Until the kit changes (asked on issue 12), its
    # build runs with a `head` that drains the rest of a pipe after it is done, so sed never sees EPIPE.
    shim=$(mktemp -d); trap 'rm -rf "$shim"' EXIT
    cat > "$shim/head" <<'SH'
#!/bin/sh
real=$(PATH=$(echo "$PATH" | cut -d: -f2-) command -v head)
if [ -p /dev/stdin ]; then "$real" "$@"; rc=$?; cat >/dev/null; exit $rc; fi
exec "$real" "$@"
SH
    chmod +x "$shim/head"
    PATH="$shim:$PATH" bash "$k/build.sh" all
    echo "realstack: kit ready in $(( $(date +%s) - started )) s at ${REALRF:-/tmp/realrf}/ragflow"
    ;;
  *) echo "usage: $0 [build|path]" >&2; exit 2 ;;
esac
