"""The one door to the Docker engine.

Every ``docker`` / ``docker compose`` call devenv makes goes through an
:class:`Engine`. Compose verbs use python-on-whales (argument lists, never a
shell string); engine state (containers, inspect, exec, logs) uses the
docker SDK, which answers over the socket in milliseconds. A failure becomes
one :class:`~devenv.errors.EngineError` that says what to do.

Tests use :class:`tests.fakes.FakeEngine`, a recording fake of this Protocol.
Both libraries are imported lazily, inside the methods that need them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import struct
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

from .errors import EXIT_USAGE, CommandFailed, EngineError

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


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
class EngineInfo:
    server_version: str
    api_version: str
    os: str
    name: str
    is_podman: bool
    registry_mirrors: tuple[str, ...]
    docker_root: str
    context: str


class Engine(Protocol):
    """The engine operations devenv needs; see :class:`DockerEngine`."""

    def info(self) -> EngineInfo: ...
    def compose_version(self) -> str: ...
    def compose_config(self, target: Target) -> dict[str, Any]: ...
    def compose_up(self, target: Target, services: Sequence[str] = (), *, force_recreate: bool = False,
                   no_deps: bool = False, on_line: Callable[[str], None] | None = None) -> None: ...
    def compose_down(self, target: Target, *, volumes: bool = False) -> None: ...
    def compose_restart(self, target: Target, services: Sequence[str], timeout: int | None = None) -> None: ...
    def compose_logs(self, target: Target, services: Sequence[str], *, follow: bool, tail: str | None) -> Iterator[str]: ...
    def containers(self, project: str, service: str | None = None) -> list[ContainerState]: ...
    def exec(self, container: str, argv: Sequence[str], *, workdir: str | None = None) -> tuple[int, str]: ...
    def copy_in(self, container: str, folder: str, files: dict[str, bytes]) -> None: ...
    def interactive(self, container: str, argv: Sequence[str], *, workdir: str | None = None) -> int: ...
    def image_present(self, ref: str) -> bool: ...
    def container_logs(self, container: str, *, since: float | None = None, tail: int = 200) -> str: ...
    def agent(self, container: str) -> "Agent": ...


class DockerEngine:
    """The real engine: python-on-whales for compose, the docker SDK for state."""

    def __init__(self, timeout: float = 30, *, shield: bool = False) -> None:
        self._timeout = timeout
        self.shield = shield  # run compose in its own session (see devenv._shield)
        self._sdk: Any = None
        self._agents: dict[str, Agent] = {}

    # --- the docker SDK: fast engine state -------------------------------------------------
    def _client(self) -> Any:
        if self._sdk is None:
            import docker  # heavy: imported only when a command needs the engine

            try:
                self._sdk = docker.from_env(timeout=int(self._timeout))
                self._sdk.ping()
            except _sdk_errors() as e:
                raise engine_unreachable(str(e)) from None
        return self._sdk

    def info(self) -> EngineInfo:
        client = self._client()
        try:
            info = client.info()
            version = client.version()
        except _sdk_errors() as e:
            raise engine_unreachable(str(e)) from None
        components = " ".join(c.get("Name", "") for c in version.get("Components", []) or [])
        return EngineInfo(
            server_version=str(version.get("Version", "")),
            api_version=str(version.get("ApiVersion", "")),
            os=str(info.get("OperatingSystem", "")),
            name=str(info.get("Name", "")),
            is_podman="podman" in components.lower() or "podman" in str(info.get("OperatingSystem", "")).lower(),
            registry_mirrors=tuple((info.get("RegistryConfig") or {}).get("Mirrors") or ()),
            docker_root=str(info.get("DockerRootDir", "")),
            context=os.environ.get("DOCKER_HOST") or os.environ.get("DOCKER_CONTEXT") or _current_context(),
        )

    def containers(self, project: str, service: str | None = None) -> list[ContainerState]:
        import docker

        labels = [f"{PROJECT_LABEL}={project}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
        try:
            found = self._client().api.containers(all=True, filters={"label": labels})
            return [_state(self._client().api.inspect_container(c["Id"])) for c in found]
        except docker.errors.NotFound:
            return []  # removed between the list and the inspect
        except _sdk_errors() as e:
            raise engine_unreachable(str(e)) from None

    def exec(self, container: str, argv: Sequence[str], *, workdir: str | None = None) -> tuple[int, str]:
        try:
            result = self._client().containers.get(container).exec_run(list(argv), demux=False, workdir=workdir)
        except _sdk_errors() as e:
            raise EngineError(f"cannot run {argv[0]} in {container}: {e}", fix="is the container running? see `devenv status`") from None
        return result.exit_code, (result.output or b"").decode("utf-8", "replace")

    def image_present(self, ref: str) -> bool:
        import docker

        try:
            self._client().api.inspect_image(ref)
            return True
        except docker.errors.ImageNotFound:
            return False
        except _sdk_errors() as e:
            raise engine_unreachable(str(e)) from None

    def interactive(self, container: str, argv: Sequence[str], *, workdir: str | None = None) -> int:
        """Run ``argv`` in the container attached to this terminal (the docker CLI handles the TTY)."""
        import subprocess

        docker = shutil.which("docker")
        if docker is None:
            raise EngineError("the docker command is not on PATH", fix="install the Docker CLI")
        flags = ["-it"] if sys.stdin.isatty() and sys.stdout.isatty() else ["-i"]
        if workdir:
            flags += ["-w", workdir]
        return subprocess.call([docker, "exec", *flags, container, *argv])

    def copy_in(self, container: str, folder: str, files: dict[str, bytes]) -> None:
        """Put files (name relative to ``folder`` -> bytes) into a container, as `docker cp` does."""
        import io
        import tarfile

        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                tar.addfile(info, io.BytesIO(data))
        try:
            self._client().api.put_archive(container, folder, buf.getvalue())
        except _sdk_errors() as e:
            raise EngineError(f"cannot copy files into {container}:{folder}: {e}") from None

    def container_logs(self, container: str, *, since: float | None = None, tail: int = 200) -> str:
        kwargs: dict[str, Any] = {"tail": tail, "stdout": True, "stderr": True}
        if since is not None:
            kwargs["since"] = datetime.fromtimestamp(since, tz=timezone.utc).replace(tzinfo=None)
        try:
            return self._client().api.logs(container, **kwargs).decode("utf-8", "replace")
        except _sdk_errors():
            return ""

    def agent(self, container: str) -> "Agent":
        agent = self._agents.get(container)
        if agent is None or not agent.alive:
            agent = Agent.start(self._client(), container)
            self._agents[container] = agent
        return agent

    # --- compose, through python-on-whales ------------------------------------------------
    def _compose(self, target: Target | None = None) -> Any:
        try:
            from python_on_whales import DockerClient
        except ImportError as e:  # pragma: no cover - a broken install
            raise EngineError(f"python-on-whales is not importable: {e}", fix="reinstall devenv") from None
        if shutil.which("docker") is None:
            raise EngineError("the docker command is not on PATH", fix="install Docker (Docker Desktop or Docker Engine) and open a new shell")
        call = [sys.executable, "-m", "devenv._shield", "docker"] if self.shield and os.name == "posix" else ["docker"]
        if target is None:
            return DockerClient(client_call=call)
        return DockerClient(
            client_call=call,
            compose_files=list(target.files),
            compose_project_directory=target.project_dir,
            compose_profiles=list(target.profiles or ()),
            compose_project_name=target.project_name,
        )

    def _run(self, what: str, fn: Callable[[], Any], hint: str | None = None) -> Any:
        from python_on_whales.exceptions import DockerException

        try:
            with _sigint_blocked(self.shield):
                return fn()
        except DockerException as e:
            raise compose_failure(what, e.docker_command, e.return_code, e.stdout or "", e.stderr or "", hint) from None

    def compose_version(self) -> str:
        return self._run("docker compose version", lambda: self._compose().compose.version())

    def compose_config(self, target: Target) -> dict[str, Any]:
        try:
            return self._run(
                "the compose files do not load",
                lambda: self._compose(target).compose.config(return_json=True),
                hint="fix the file named above; check with: docker compose -f " + " -f ".join(str(f) for f in target.files) + " config",
            )
        except CommandFailed as e:
            # `compose config` does not talk to the engine: when it refuses, the files are at fault (bad input).
            e.exit_code = EXIT_USAGE
            raise

    def compose_up(self, target, services=(), *, force_recreate=False, no_deps=False, on_line=None) -> None:
        def up() -> None:
            output = self._compose(target).compose.up(
                list(services) or None, detach=True, force_recreate=force_recreate, dependencies=not no_deps,
                stream_logs=True, color=False,
            )
            for _source, line in output:
                if on_line is not None:
                    on_line(line.decode("utf-8", "replace").rstrip())

        self._run("docker compose up failed", up, hint="see the lines above; `devenv doctor` checks the usual causes")

    def compose_down(self, target: Target, *, volumes: bool = False) -> None:
        self._run("docker compose down failed", lambda: self._compose(target).compose.down(volumes=volumes, quiet=True))

    def compose_restart(self, target: Target, services: Sequence[str], timeout: int | None = None) -> None:
        self._run("docker compose restart failed", lambda: self._compose(target).compose.restart(list(services), timeout=timeout))

    def compose_logs(self, target: Target, services: Sequence[str], *, follow: bool, tail: str | None) -> Iterator[str]:
        from python_on_whales.exceptions import DockerException

        stream = self._compose(target).compose.logs(list(services), follow=follow, tail=tail, stream=True)
        try:
            for _source, line in stream:
                yield line.decode("utf-8", "replace").rstrip("\n")
        except DockerException as e:
            raise compose_failure("docker compose logs failed", e.docker_command, e.return_code, e.stdout or "", e.stderr or "", None) from None


@contextmanager
def _sigint_blocked(active: bool) -> Iterator[None]:
    """Block SIGINT in this thread while shielded commands are spawned.

    A child inherits the mask, so a Ctrl-C that reaches the process group in the
    instant before devenv._shield's setsid stays pending instead of killing the
    shield (Python takes tens of milliseconds to get there); the shield drops it.
    devenv itself still gets the signal: CPython runs its handler in the main
    thread whichever thread the kernel delivers it to.
    """
    if not active or not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _sdk_errors() -> tuple[type[Exception], ...]:
    """What a docker SDK call raises when it fails: its own errors, and requests' own when the
    engine's socket goes away under it (an engine stopping or restarting), which are not docker's."""
    import docker
    import requests

    return (docker.errors.DockerException, requests.exceptions.RequestException)


def _current_context() -> str:
    path = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    try:
        return json.loads(path.read_text()).get("currentContext") or "default"
    except (OSError, ValueError):
        return "default"


def engine_unreachable(detail: str) -> EngineError:
    host = os.environ.get("DOCKER_HOST")
    where = f"DOCKER_HOST={host}" if host else f"docker context {_current_context()!r}"
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


def _parse_time(text: str | None) -> datetime | None:
    if not text or text.startswith("0001-"):
        return None
    text = text.rstrip("Z")
    head, _, frac = text.partition(".")
    try:
        # Go trims trailing zeros (".4541Z"); Python 3.10 takes only 3 or 6 digits.
        return datetime.fromisoformat(head + ("." + frac[:6].ljust(6, "0") if frac else "")).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def _state(raw: dict[str, Any]) -> ContainerState:
    state = raw.get("State") or {}
    labels = (raw.get("Config") or {}).get("Labels") or {}
    ports = []
    for key, binds in ((raw.get("NetworkSettings") or {}).get("Ports") or {}).items():
        for b in binds or ():
            try:
                ports.append((int(key.split("/")[0]), b.get("HostIp", ""), int(b.get("HostPort", 0))))
            except ValueError:
                continue
    return ContainerState(
        id=raw.get("Id", ""),
        name=str(raw.get("Name", "")).lstrip("/"),
        service=labels.get(SERVICE_LABEL, ""),
        state=state.get("Status", "unknown"),
        health=(state.get("Health") or {}).get("Status"),
        started_at=_parse_time(state.get("StartedAt")),
        restart_count=int(raw.get("RestartCount", 0) or 0),
        exit_code=int(state.get("ExitCode", 0) or 0),
        image=str((raw.get("Config") or {}).get("Image", "")),
        mounts=tuple(
            MountState(m.get("Type", ""), m.get("Source", "") or m.get("Name", ""), m.get("Destination", ""), bool(m.get("RW")))
            for m in raw.get("Mounts") or ()
        ),
        ports=tuple(ports),
        labels=dict(labels),
    )


class Agent:
    """A long-lived ``python3 -c AGENT`` inside a container, spoken to over the exec socket."""

    def __init__(self, sock: Any, container: str) -> None:
        self._sock = sock
        self._raw = getattr(sock, "_sock", sock)
        self._buf = b""
        self._lock = threading.Lock()
        self.container = container
        self.alive = True

    @classmethod
    def start(cls, client: Any, container: str) -> "Agent":
        from .probe import AGENT

        try:
            exec_id = client.api.exec_create(container, ["python3", "-u", "-c", AGENT], stdin=True, stdout=True, stderr=True)
            sock = client.api.exec_start(exec_id, socket=True)
        except _sdk_errors() as e:
            raise EngineError(f"cannot start devenv's probe in {container}: {e}", fix="is the container running? see `devenv status`") from None
        return cls(sock, container)

    def request(self, payload: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        with self._lock:
            try:
                self._raw.settimeout(timeout)
                self._raw.sendall((json.dumps(payload) + "\n").encode())
                answer = json.loads(self._read_line(time.monotonic() + timeout))
            except (OSError, ValueError, EOFError) as e:
                self.alive = False
                raise EngineError(f"devenv's probe in the container stopped answering ({e})", fix="the container may have restarted; devenv retries") from None
        if "error" in answer:
            raise EngineError(f"devenv's probe failed: {answer['error']}")
        return answer

    def _read_line(self, deadline: float) -> str:
        while b"\n" not in self._buf:
            if time.monotonic() > deadline:
                raise socket.timeout("no answer")
            header = self._read_exactly(8)
            stream, size = header[0], struct.unpack(">I", header[4:])[0]
            data = self._read_exactly(size)
            if stream == 1:  # stdout; stderr frames are the probe's own errors
                self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode("utf-8", "replace")

    def _read_exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._raw.recv(n - len(data))
            if not chunk:
                raise EOFError("the probe exited")
            data += chunk
        return data

    def close(self) -> None:
        self.alive = False
        try:
            self._raw.close()
        except OSError:
            pass
