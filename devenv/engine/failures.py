"""How a failed engine or compose call becomes the one error a user can act on."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Sequence

from ..core.errors import CommandFailed, EngineError


def current_context() -> str:
    path = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        return json.loads(path.read_text()).get("currentContext") or "default"
    except (OSError, ValueError):
        return "default"


def engine_unreachable(detail: str) -> EngineError:
    host = os.environ.get("DOCKER_HOST")
    where = f"DOCKER_HOST={host}" if host else f"docker context {current_context()!r}"
    return EngineError(
        f"cannot reach the Docker engine ({where})",
        fix="start Docker (Docker Desktop, or `sudo systemctl start docker`), check `docker info`, "
        "and that your user may use the socket (the docker group)",
        details=[detail.splitlines()[0][:300]] if detail else [],
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
    if "Cannot connect to the Docker daemon" in text or "error during connect" in text:
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


