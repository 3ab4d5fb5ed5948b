"""How a failed engine or compose call becomes the one error a user can act on."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..core.errors import CommandFailed, EngineError


def current_context() -> str:
    path = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        return json.loads(path.read_text()).get("currentContext") or "default"
    except (OSError, ValueError):
        return "default"


def podman_sockets(env: Mapping[str, str] | None = None, exists: Callable[[str], bool] = os.path.exists) -> list[str]:
    """Podman's Docker-compatible sockets that exist here: rootless first, then rootful.

    >>> podman_sockets({"XDG_RUNTIME_DIR": "/run/user/1000"}, exists=lambda p: True)
    ['/run/user/1000/podman/podman.sock', '/run/podman/podman.sock']
    """
    env = os.environ if env is None else env
    runtime = env.get("XDG_RUNTIME_DIR") or (f"/run/user/{os.getuid()}" if hasattr(os, "getuid") else "")
    candidates = ([f"{runtime}/podman/podman.sock"] if runtime else []) + ["/run/podman/podman.sock"]
    return [c for c in candidates if exists(c)]


def engine_unreachable(detail: str, env: Mapping[str, str] | None = None,
                       sockets: Callable[[], list[str]] = podman_sockets) -> EngineError:
    """The error for an engine that does not answer, naming Podman where Podman is meant or present.

    >>> e = engine_unreachable("", {"DOCKER_HOST": "unix:///run/podman/podman.sock"})
    >>> e.message
    'cannot reach the Podman engine (DOCKER_HOST=unix:///run/podman/podman.sock)'
    """
    env = os.environ if env is None else env
    host = env.get("DOCKER_HOST")
    where = f"DOCKER_HOST={host}" if host else f"docker context {current_context()!r}"
    details = [detail.splitlines()[0][:300]] if detail else []
    if host and "podman" in host:
        return EngineError(
            f"cannot reach the Podman engine ({where})",
            fix="start Podman's API service: `systemctl --user start podman.socket` (rootless), "
            "`sudo systemctl start podman.socket` (rootful), or without systemd "
            f"`podman system service --time=0 {host} &`; check with `docker info`",
            details=details,
        )
    found = [] if host else sockets()
    if found:
        return EngineError(
            f"cannot reach the Docker engine ({where}), but Podman's socket is there: {found[0]}",
            fix=f"to use Podman: export DOCKER_HOST=unix://{found[0]} (and DOCKER_BUILDKIT=0); "
            "or start Docker and check `docker info`",
            details=details,
        )
    return EngineError(
        f"cannot reach the container engine ({where})",
        fix="start Docker (Docker Desktop, or `sudo systemctl start docker`) and check `docker info`, "
        "and that your user may use the socket (the docker group); for Podman, point DOCKER_HOST at its socket "
        "(unix://$XDG_RUNTIME_DIR/podman/podman.sock rootless, unix:///run/podman/podman.sock rootful)",
        details=details,
    )


def compose_failure(what: str, argv: Sequence[Any], rc: int | None, stdout: str, stderr: str, hint: str | None) -> EngineError:
    """Turn a failed docker/compose command into the error a user can act on."""
    text = f"{stdout}\n{stderr}"
    if _compose_missing(text, argv):
        v1 = " (only docker-compose v1 is installed, which devenv does not support)" if shutil.which("docker-compose") else ""
        return EngineError(
            f"Docker compose v2 is not installed{v1}",
            fix="install the compose plugin (Docker Desktop has it; on Linux: the docker-compose-plugin package, "
            "or https://docs.docker.com/compose/install/linux/), then check `docker compose version`",
        )
    if "Cannot connect to the Docker daemon" in text or "error during connect" in text or "connect: no such file or directory" in text:
        return engine_unreachable(stderr.strip())
    if "port is already allocated" in text or "address already in use" in text:
        hint = "another program or container holds that port: stop it, or change the port in docker/.env; `devenv doctor` names it"
    return CommandFailed(argv=[str(a) for a in argv], returncode=rc, stdout=stdout, stderr=stderr, summary=what, hint=hint)


def _compose_missing(text: str, argv: Sequence[Any]) -> bool:
    """Whether the docker CLI (not compose) refused a ``docker compose ...`` call: no plugin.

    Older CLIs say "'compose' is not a docker command"; newer ones "docker: unknown command:
    docker compose", or, when flags come first, "unknown flag: --file" with docker's own usage line.
    """
    if "is not a docker command" in text or "unknown command: docker compose" in text:
        return True
    if "compose" not in " ".join(map(str, argv)):
        return False
    return "unknown shorthand flag" in text or ("unknown flag" in text and re.search(r"Usage:\s+docker \[OPTIONS\] COMMAND", text) is not None)


