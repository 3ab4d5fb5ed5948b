"""The engine door's contract: what devenv asks of an engine, and the values it gets back.

:class:`Engine` is the Protocol every command and the watch loop talk to; the real
one is :class:`devenv.engine.docker.DockerEngine`, tests use ``tests.fakes.FakeEngine``.
Nothing here imports a Docker library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"  # compose sets it on every container: the project folder
STOP_TIMEOUT = 10  # seconds compose waits after SIGTERM before SIGKILL: Docker's default, passed explicitly


@dataclass(frozen=True)
class Target:
    """Which stack a compose command addresses."""

    project_dir: Path
    files: tuple[Path, ...]
    profiles: tuple[str, ...] | None = None  # None: compose reads COMPOSE_PROFILES itself
    project_name: str | None = None


@dataclass(frozen=True)
class MountState:
    type: str
    source: str
    destination: str
    rw: bool


@dataclass(frozen=True)
class ContainerState:
    """What the engine says about one container."""

    id: str
    name: str
    service: str
    state: str  # running, exited, restarting, created, ...
    health: str | None  # healthy, unhealthy, starting, or None without a healthcheck
    started_at: datetime | None
    restart_count: int
    exit_code: int
    image: str
    mounts: tuple[MountState, ...] = ()
    ports: tuple[tuple[int, str, int], ...] = ()  # (container port, host ip, host port)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state == "running"


@dataclass(frozen=True)
class NetworkState:
    """One network of a project, as the engine lists it."""

    id: str
    name: str
    containers: int  # how many containers are attached
    created: str = ""


@dataclass(frozen=True)
class EngineInfo:
    server_version: str
    api_version: str
    os: str
    name: str
    is_podman: bool
    registry_mirrors: tuple[str, ...]
    docker_root: str
    context: str


class Agent(Protocol):
    """devenv's agent in a container (:mod:`devenv.container.agent`): one JSON request, one answer."""

    container: str
    alive: bool

    def request(self, payload: dict[str, Any], timeout: float = 10) -> dict[str, Any]: ...
    def close(self) -> None: ...


class Engine(Protocol):
    """The engine operations devenv needs; see :class:`DockerEngine`."""

    def info(self) -> EngineInfo: ...
    def compose_version(self) -> str: ...
    def compose_config(self, target: Target) -> dict[str, Any]: ...
    def compose_up(self, target: Target, services: Sequence[str] = (), *, force_recreate: bool = False,
                   no_deps: bool = False, no_recreate: bool = False, on_line: Callable[[str], None] | None = None) -> None: ...
    def compose_down(self, target: Target, *, volumes: bool = False, timeout: int = STOP_TIMEOUT) -> None: ...
    def compose_restart(self, target: Target, services: Sequence[str], timeout: int | None = None) -> None: ...
    def compose_logs(self, target: Target, services: Sequence[str], *, follow: bool, tail: str | None,
                     since: float | None = None) -> Iterator[str]: ...
    def containers(self, project: str, service: str | None = None) -> list[ContainerState]: ...
    def networks(self, project: str) -> list[NetworkState]: ...
    def remove_network(self, network_id: str) -> None: ...
    def exec(self, container: str, argv: Sequence[str], *, workdir: str | None = None) -> tuple[int, str]: ...
    def copy_in(self, container: str, folder: str, files: dict[str, bytes]) -> None: ...
    def interactive(self, container: str, argv: Sequence[str], *, workdir: str | None = None) -> int: ...
    def image_present(self, ref: str) -> bool: ...
    def image_id(self, ref: str) -> str | None: ...
    def image_files(self, ref: str, folders: Sequence[str]) -> list[tuple[str, int]]: ...
    def image_extract(self, ref: str, paths: Sequence[str], dest: Callable[[str], Any]) -> None: ...
    def run_once(self, ref: str, argv: Sequence[str], binds: Sequence[tuple[str, str]]) -> str: ...
    def container_logs(self, container: str, *, since: float | None = None, tail: int = 200) -> str: ...
    def agent(self, container: str) -> Agent: ...


