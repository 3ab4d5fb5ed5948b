"""The real engine: python-on-whales for compose verbs, the docker SDK for engine state.

Compose verbs go through python-on-whales (argument lists, never a shell string);
engine state (containers, inspect, exec, logs) through the docker SDK, which answers
over the socket in milliseconds. Both libraries are imported lazily, inside the
methods that need them, so ``devenv --help`` stays fast. Every failure becomes one
:class:`~devenv.core.errors.EngineError` (see :mod:`.failures`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Sequence

from ..core.errors import EXIT_USAGE, CommandFailed, EngineError
from .agent import ExecAgent
from .failures import compose_failure, current_context, engine_unreachable
from .protocol import PROJECT_LABEL, SERVICE_LABEL, STOP_TIMEOUT, ContainerState, EngineInfo, MountState, NetworkState, Target
from .shield import sigint_blocked


class DockerEngine:
    """The real engine: python-on-whales for compose, the docker SDK for state."""

    def __init__(self, timeout: float = 30, *, shield: bool = False) -> None:
        self._timeout = timeout
        self.shield = shield  # run compose in its own session (see devenv.engine.shield)
        self._sdk: Any = None
        self._agents: dict[str, ExecAgent] = {}

    # --- the docker SDK: fast engine state -------------------------------------------------
    def _client(self) -> Any:
        if self._sdk is None:
            import docker  # heavy: imported only when a command needs the engine

            try:
                self._sdk = docker.from_env(timeout=int(self._timeout))
                self._sdk.ping()
            except sdk_errors() as e:
                raise engine_unreachable(str(e)) from None
        return self._sdk

    def info(self) -> EngineInfo:
        client = self._client()
        try:
            info = client.info()
            version = client.version()
        except sdk_errors() as e:
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
            context=os.environ.get("DOCKER_HOST") or os.environ.get("DOCKER_CONTEXT") or current_context(),
        )

    def containers(self, project: str, service: str | None = None) -> list[ContainerState]:
        import docker

        labels = [f"{PROJECT_LABEL}={project}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
        try:
            found = self._client().api.containers(all=True, filters={"label": labels})
            return [_state(self._client().api.inspect_container(c["Id"])) for c in found]
        except docker.errors.NotFound:
            return []  # removed between the list and the inspect
        except sdk_errors() as e:
            raise engine_unreachable(str(e)) from None

    def networks(self, project: str) -> list[NetworkState]:
        """The project's networks (compose labels them), with how many containers each has."""
        import docker

        out = []
        try:
            for n in self._client().api.networks(filters={"label": [f"{PROJECT_LABEL}={project}"]}):
                try:
                    full = self._client().api.inspect_network(n["Id"])
                except docker.errors.NotFound:
                    continue
                out.append(NetworkState(full["Id"], full.get("Name", ""), len(full.get("Containers") or {}), str(full.get("Created", ""))))
        except sdk_errors() as e:
            raise engine_unreachable(str(e)) from None
        return out

    def remove_network(self, network_id: str) -> None:
        try:
            self._client().api.remove_network(network_id)
        except sdk_errors() as e:
            raise EngineError(f"cannot remove network {network_id[:12]}: {e}") from None

    def exec(self, container: str, argv: Sequence[str], *, workdir: str | None = None) -> tuple[int, str]:
        try:
            result = self._client().containers.get(container).exec_run(list(argv), demux=False, workdir=workdir)
        except sdk_errors() as e:
            raise EngineError(f"cannot run {argv[0]} in {container}: {e}", fix="is the container running? see `devenv status`") from None
        return result.exit_code, (result.output or b"").decode("utf-8", "replace")

    def image_present(self, ref: str) -> bool:
        import docker

        try:
            self._client().api.inspect_image(ref)
            return True
        except docker.errors.ImageNotFound:
            return False
        except sdk_errors() as e:
            raise engine_unreachable(str(e)) from None

    def image_id(self, ref: str) -> str | None:
        """The image's id (``sha256:...``), None when the engine does not have it."""
        import docker

        try:
            return str(self._client().api.inspect_image(ref)["Id"])
        except docker.errors.ImageNotFound:
            return None
        except sdk_errors() as e:
            raise engine_unreachable(str(e)) from None

    def image_files(self, ref: str, folders: Sequence[str]) -> list[tuple[str, int]]:
        """Every file under ``folders`` in the image (path, size), read by a throwaway container
        that runs the image's own Python with no network and is removed at once."""
        from .image_index import LIST_FILES

        try:
            out = self._client().containers.run(ref, command=list(folders), entrypoint=["python3", "-c", LIST_FILES],
                                                remove=True, network_disabled=True, stdout=True, stderr=False)
        except sdk_errors() as e:
            raise EngineError(f"cannot list the files of image {ref}: {e}",
                              fix="check that the image runs (`docker run --rm --entrypoint python3 IMAGE -V`)") from None
        files = []
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            path, _, size = line.rpartition("\t")
            if path:
                files.append((path, int(size)))
        return files

    def run_once(self, ref: str, argv: Sequence[str], binds: Sequence[tuple[str, str]]) -> str:
        """Run ``argv`` as root in a throwaway container of image ``ref`` (no network, its entrypoint
        skipped, removed at once) with host folders bound read-write: ``(host path, container path)``.
        Its standard output."""
        volumes = {host: {"bind": target, "mode": "rw"} for host, target in binds}
        try:
            out = self._client().containers.run(ref, command=list(argv[1:]), entrypoint=[argv[0]], user="0:0",
                                                volumes=volumes, remove=True, network_disabled=True,
                                                stdout=True, stderr=True)
        except sdk_errors() as e:
            raise EngineError(f"cannot run {argv[0]} in a container of image {ref}: {e}") from None
        return bytes(out or b"").decode("utf-8", "surrogateescape")

    def image_extract(self, ref: str, paths: Sequence[str], dest: Callable[[str], Any]) -> None:
        """Copy files out of an image without running it: ``dest(path)`` gives where each one goes."""
        import io
        import tarfile

        from .image_index import write_member

        client = self._client()
        try:
            container = client.api.create_container(ref, command=["true"], entrypoint=[])
        except sdk_errors() as e:
            raise EngineError(f"cannot read files from image {ref}: {e}") from None
        try:
            for path in paths:
                stream, _stat = client.api.get_archive(container["Id"], path)
                with tarfile.open(fileobj=io.BytesIO(b"".join(stream)), mode="r") as tar:
                    member = next(m for m in tar.getmembers() if m.isfile())
                    write_member(tar, member, dest(path))
        except (StopIteration, *sdk_errors()) as e:  # type: ignore[misc]
            raise EngineError(f"cannot read {path} from image {ref}: {e}") from None
        finally:
            try:
                client.api.remove_container(container["Id"], force=True)
            except sdk_errors():
                pass

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
        except sdk_errors() as e:
            raise EngineError(f"cannot copy files into {container}:{folder}: {e}") from None

    def container_logs(self, container: str, *, since: float | None = None, tail: int = 200) -> str:
        kwargs: dict[str, Any] = {"tail": tail, "stdout": True, "stderr": True}
        if since is not None:
            kwargs["since"] = datetime.fromtimestamp(since, tz=timezone.utc).replace(tzinfo=None)
        try:
            return self._client().api.logs(container, **kwargs).decode("utf-8", "replace")
        except sdk_errors():
            return ""

    def agent(self, container: str) -> ExecAgent:
        agent = self._agents.get(container)
        if agent is None or not agent.alive:
            agent = ExecAgent.start(self._client(), container)
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
        call = [sys.executable, "-m", "devenv.engine.shield", "docker"] if self.shield and os.name == "posix" else ["docker"]
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
            with sigint_blocked(self.shield):
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

    def compose_up(self, target, services=(), *, force_recreate=False, no_deps=False, no_recreate=False, on_line=None) -> None:
        def up() -> None:
            output = self._compose(target).compose.up(
                list(services) or None, detach=True, force_recreate=force_recreate, recreate=not no_recreate,
                dependencies=not no_deps, stream_logs=True, color=False,
            )
            for _source, line in output:
                if on_line is not None:
                    on_line(line.decode("utf-8", "replace").rstrip())

        self._run("docker compose up failed", up, hint="see the lines above; `devenv doctor` checks the usual causes")

    def compose_down(self, target: Target, *, volumes: bool = False, timeout: int = STOP_TIMEOUT) -> None:
        # Always an explicit timeout: containers that Podman's Docker API created carry StopTimeout 0,
        # so compose's default would SIGKILL a database mid-write.
        self._run("docker compose down failed",
                  lambda: self._compose(target).compose.down(volumes=volumes, quiet=True, timeout=timeout))

    def compose_restart(self, target: Target, services: Sequence[str], timeout: int | None = None) -> None:
        seconds = STOP_TIMEOUT if timeout is None else timeout  # explicit, as for down
        self._run("docker compose restart failed", lambda: self._compose(target).compose.restart(list(services), timeout=seconds))

    def compose_logs(self, target: Target, services: Sequence[str], *, follow: bool, tail: str | None,
                     since: float | None = None) -> Iterator[str]:
        from python_on_whales.exceptions import DockerException

        stream = self._compose(target).compose.logs(list(services), follow=follow, tail=tail, stream=True,
                                                    since=None if since is None else f"{since:.3f}")
        try:
            for _source, line in stream:
                # compose writes its own notes ("... exited with code 143") with a terminal's
                # carriage return and erase-line code, even with --no-color
                yield _TERMINAL_CODES.sub("", line.decode("utf-8", "replace").rstrip("\n"))
        except DockerException as e:
            raise compose_failure("docker compose logs failed", e.docker_command, e.return_code, e.stdout or "", e.stderr or "", None) from None


_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def sdk_errors() -> tuple[type[Exception], ...]:
    """What a docker SDK call raises when it fails: its own errors, and requests' own when the
    engine's socket goes away under it (an engine stopping or restarting), which are not docker's."""
    import docker
    import requests

    return (docker.errors.DockerException, requests.exceptions.RequestException)



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
        health=(state.get("Health") or {}).get("Status") or None,  # Podman says "" where Docker says nothing
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


