"""Checks that run before anything starts (``devenv up``) and in ``devenv doctor``.

Each check returns a :class:`Check`: pass, warn or fail, with the fix.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..core.detect import ENTRYPOINT, Detection
from ..core.errors import EngineError
from ..core.model import ComposeModel
from ..core.release import format_version
from ..engine import Engine, EngineInfo, NetworkState

PASS, WARN, FAIL = "pass", "warn", "fail"
MIN_COMPOSE = (2, 20, 0)  # `include:` in RAGFlow's compose file needs 2.20


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    fix: str = ""

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message, "fix": self.fix}


def check_engine(engine: Engine) -> tuple[Check, EngineInfo | None]:
    try:
        info = engine.info()
    except EngineError as e:
        return Check("engine", FAIL, e.message, e.fix or ""), None
    kind = "Podman" if info.is_podman else "Docker"
    msg = f"{kind} {info.server_version} (API {info.api_version}) on {info.os}, context {info.context}"
    return Check("engine", PASS, msg), info


def check_compose(engine: Engine) -> Check:
    try:
        text = engine.compose_version()
    except EngineError as e:
        return Check("compose", FAIL, e.message, e.fix or "")
    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text or "")
    version = tuple(int(x) for x in m.groups()) if m else None
    if version is None:
        return Check("compose", WARN, f"could not read the compose version from {text!r}")
    if version < (2, 0, 0):
        return Check("compose", FAIL, f"compose {text} is v1", "install compose v2 (the docker compose plugin)")
    if version < MIN_COMPOSE:
        return Check("compose", FAIL, f"compose {'.'.join(map(str, version))} is too old for RAGFlow's `include:`",
                     "upgrade compose to 2.20 or later")
    return Check("compose", PASS, f"compose {'.'.join(map(str, version))}")


# Converts only the entrypoint (uncommitted work elsewhere is untouched), then stops git from
# checking out CRLF again. Never `git reset --hard`: it throws away every uncommitted change.
CRLF_FIX = (f"convert only this file: sed -i 's/\\r$//' {ENTRYPOINT} (or dos2unix {ENTRYPOINT}); "
            "then keep git from converting it back: git config core.autocrlf input")


def check_line_endings(root: Path) -> Check:
    path = root / ENTRYPOINT
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Check("line endings", WARN, f"{ENTRYPOINT} is missing", "restore it: git checkout -- docker/entrypoint.sh")
    if os.name == "posix" and not os.access(path, os.X_OK):
        return Check("line endings", FAIL, f"{ENTRYPOINT} is not executable; the container cannot start it",
                     f"chmod +x {ENTRYPOINT}")
    if b"\r\n" in data:
        return Check("line endings", FAIL, f"{ENTRYPOINT} has Windows (CRLF) line endings; bash in the container cannot run it",
                     CRLF_FIX)
    return Check("line endings", PASS, f"{ENTRYPOINT} has LF line endings")


def check_release(det: Detection) -> Check:
    """The image's release against the checkout's layout (detection has both)."""
    tag, layout = det.release.tag, det.layout
    if det.release.source != "image tag" or det.release.version is None:
        return Check("release", PASS, f"image tag {tag or '(none)'}; checkout layout {format_version(layout)} or later")
    if det.release.version < layout:
        return Check("release", WARN,
                     f"the checkout looks like {format_version(layout)} or later, but RAGFLOW_IMAGE is {det.image}: "
                     "the mounted code and entrypoint may not fit the image",
                     f"set RAGFLOW_IMAGE in docker/.env to the release you checked out, or check out {tag}")
    return Check("release", PASS, f"checkout and image agree ({tag})")


@dataclass(frozen=True)
class PortUse:
    host_ip: str
    port: int
    service: str


def published_ports(model: ComposeModel) -> list[PortUse]:
    return [PortUse(p.host_ip, p.published, name) for name, s in model.services.items() for p in s.ports if p.published]


def check_ports(uses: Iterable[PortUse], ours: set[int], holders: dict[int, str] | None = None) -> list[Check]:
    """Each host port the stack publishes must be free, unless this stack already holds it."""
    checks = []
    for use in uses:
        if use.port in ours:
            continue
        problem = port_in_use(use.host_ip, use.port)
        if problem is None:
            continue
        who = (holders or {}).get(use.port) or process_on_port(use.port)
        held = f" (held by {who})" if who else ""
        checks.append(Check(f"port {use.port}", FAIL, f"port {use.port} for {use.service} is in use{held}",
                            "stop what holds it, or change the port in docker/.env (e.g. SVR_HTTP_PORT) and run devenv up again"))
    return checks or [Check("ports", PASS, "every published port is free")]


def port_in_use(host_ip: str, port: int) -> str | None:
    """Try to bind the port as Docker would; return why it fails, or None."""
    addr = host_ip if host_ip not in ("", "::") else "0.0.0.0"
    with socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM) as s:
        # As Docker's proxy does (Go sets SO_REUSEADDR): connections of a stack just stopped linger
        # in TIME_WAIT on the port for a minute; they do not stop Docker, only a listener does.
        if os.name == "posix":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return e.strerror or "in use"
            return None  # e.g. an address this host does not have: Docker will say so
    return None


def process_on_port(port: int) -> str | None:
    """Name the local process listening on ``port`` (Linux /proc; None elsewhere or without permission)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in inodes:
                    name = Path(f"/proc/{pid}/comm").read_text().strip()
                    return f"process {pid} ({name})"
        except OSError:
            continue
    return None


def check_inotify(folder_count: int, in_use: int = 0, limit: int | None = None) -> Check:
    """The folders devenv would watch, plus the watches this user's programs hold, against the limit
    (the watcher decides with the same :class:`~devenv.watch.limits.Budget`)."""
    from ..watch.limits import INOTIFY_FIX, Budget, read_max_user_watches

    limit = read_max_user_watches() if limit is None else limit
    if limit is None:
        return Check("inotify", PASS, "not Linux: the native file watcher has no per-folder limit")
    budget = Budget(folder_count, limit, in_use)
    if not budget.fits:
        return Check("inotify", WARN, f"{budget.describe()}: devenv falls back to polling", INOTIFY_FIX)
    return Check("inotify", PASS, budget.describe())


def check_disk(path: Path, info: EngineInfo | None) -> Check:
    free = shutil.disk_usage(path).free
    gib = free / 2**30
    if gib < 5:
        return Check("disk", WARN, f"{gib:.1f} GiB free at {path}", "RAGFlow's image and caches need 10+ GiB: `docker system prune` frees space")
    return Check("disk", PASS, f"{gib:.0f} GiB free at {path}")


def duplicate_networks(networks: Iterable[NetworkState]) -> dict[str, list[NetworkState]]:
    """Networks of a project that exist more than once under one name (two `compose up` at once
    each create one; compose then refuses every later `up`: "network ... is ambiguous")."""
    by_name: dict[str, list[NetworkState]] = {}
    for n in networks:
        by_name.setdefault(n.name, []).append(n)
    return {name: sorted(copies, key=lambda n: (n.containers == 0, n.created)) for name, copies in by_name.items() if len(copies) > 1}


def check_networks(networks: Iterable[NetworkState]) -> Check:
    dups = duplicate_networks(networks)
    if not dups:
        return Check("networks", PASS, "no duplicate networks")
    name, copies = next(iter(dups.items()))
    return Check("networks", FAIL, f"network {name} exists {len(copies)} times (two `up` at once?); compose refuses it as ambiguous",
                 "devenv up removes the empty copies (volumes and containers are not touched)")


def networks_to_remove(networks: Iterable[NetworkState]) -> tuple[list[NetworkState], list[str]]:
    """The empty duplicates ``up`` removes (one copy of each name is kept, the one in use if any),
    and the names it cannot repair because containers use more than one copy."""
    remove: list[NetworkState] = []
    stuck: list[str] = []
    for name, copies in duplicate_networks(networks).items():
        if sum(1 for n in copies if n.containers) > 1:
            stuck.append(name)
            continue
        remove += [n for n in copies[1:] if n.containers == 0]  # copies[0]: the one in use, else the oldest
    return remove, stuck


@dataclass(frozen=True)
class Host:
    """What the Podman checks read from the machine the engine runs on; tests pass their own."""

    read: Callable[[str], str | None]
    exists: Callable[[str], bool]
    systemd: bool

    @classmethod
    def local(cls) -> "Host":
        def read(path: str) -> str | None:
            try:
                return Path(path).read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None

        return cls(read, os.path.exists, os.path.isdir("/run/systemd/system"))


def check_podman(model: ComposeModel, info: EngineInfo, host: Host, *, server_init: bool = False,
                 local: bool = True) -> list[Check]:
    """Podman's traps for this stack (see :mod:`devenv.core.podman`); nothing on Docker.

    ``local``: the engine runs on this machine (a unix socket), so its files can be read here.
    """
    from ..core import podman as PM

    if not info.is_podman:
        return []
    checks = [Check("podman", PASS, f"Podman {info.server_version} through its Docker API ({info.context}); "
                                    "compose v2 drives it as it drives Docker (`podman compose` 4.7+ runs the same docker-compose)")]
    short = PM.short_names(model)
    if short and local:
        registries = PM.search_registries(host.read(PM.REGISTRIES_CONF))
        if not registries:
            names = ", ".join(f"{svc}: {image}" for svc, image in short)
            checks.append(Check(
                "short names", WARN,
                f"images named without a registry and no unqualified-search-registries in {PM.REGISTRIES_CONF}: {names}; "
                "Podman cannot pull them and may resolve them to a local image with the same last name",
                'name them fully (docker.io/library/mysql:8.0.39, docker.io/infiniflow/ragflow:...), or set '
                f'unqualified-search-registries = ["docker.io"] in {PM.REGISTRIES_CONF}'))
        else:
            checks.append(Check("short names", PASS, f"short image names are looked up in {', '.join(registries)}"))
    wants_init = server_init or any(s.init for s in model.services.values())
    if wants_init and local:
        configured = PM.init_path(host.read(p) for p in PM.CONTAINERS_CONFS)
        candidates = (configured,) if configured else PM.DEFAULT_INIT_PATHS
        found = next((p for p in candidates if host.exists(p)), None)
        if found:
            checks.append(Check("catatonit", PASS, f"init: true uses {found}"))
        else:
            where = f"init_path {configured} (containers.conf)" if configured else " or ".join(PM.DEFAULT_INIT_PATHS[:1])
            checks.append(Check("catatonit", FAIL, f"init: true needs catatonit, and {where} is missing: the containers will not start",
                                "install it (Debian/Ubuntu: sudo apt-get install catatonit; Fedora: sudo dnf install catatonit), "
                                "or set init_path in /etc/containers/containers.conf"))
    checked = PM.healthchecked(model)
    if checked and local and not host.systemd:
        checks.append(Check("healthchecks", WARN,
                            f"no systemd here: Podman runs healthchecks from systemd timers, so {', '.join(checked)} stay "
                            "\"starting\" and depends_on: service_healthy waits until it fails",
                            "run `podman healthcheck run <container>` every second or so (scripts/podman_health_pump.sh does), "
                            "or run Podman where systemd runs"))
    split = PM.split_cmd_healthchecks(model)
    if split:
        checks.append(Check("healthcheck form", WARN,
                            f"{', '.join(split)}: healthcheck test is a CMD list with spaces in an argument; Podman splits it at the spaces",
                            'write it as ["CMD-SHELL", "the whole command"]'))
    internal = PM.uses_host_docker_internal(model)
    if internal:
        checks.append(Check("host.docker.internal", WARN,
                            f"{', '.join(internal)} use host.docker.internal, which Podman before 4.7 does not resolve",
                            "use host.containers.internal on Podman, or add extra_hosts with the host's address"))
    return checks
