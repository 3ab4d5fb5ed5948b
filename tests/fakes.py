"""A recording fake of :class:`devenv.engine.Engine`, and compose's config without Docker.

``FakeEngine`` records every call as ``(name, args, kwargs)`` in ``calls`` and
answers from values a test sets. ``compose_config`` answers with a dict, a
function of the target (:func:`compose_config` below, for fixture checkouts),
or raises the error it was given.

``compose_config(target)`` computes what ``docker compose config --format json``
prints for the fixtures: ``include``, ``${VAR}`` interpolation from ``.env``,
profiles, short syntax turned into long, override files merged by compose's
rules (volumes by target, ports appended, mappings updated). It is checked
against recorded real output in tests/unit/test_fakes.py.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import yaml
from typer.testing import CliRunner

from devenv.app import cli
from devenv.app.context import AppContext
from devenv.core.dotenv import interpolate, parse_dotenv
from devenv.core.errors import EXIT_USAGE, CommandFailed
from devenv.engine import ContainerState, EngineInfo, NetworkState, Target
from devenv.engine.failures import compose_failure


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


ConfigSource = Mapping[str, Any] | Callable[[Target], Mapping[str, Any]] | BaseException | None


class FakeEngine:
    """Implements the Engine Protocol; every answer is a plain attribute a test may set."""

    def __init__(self, config: ConfigSource = None, *, containers: Sequence[ContainerState] = (),
                 exec_result: tuple[int, str] | Callable[[str, Sequence[str]], tuple[int, str]] = (0, ""),
                 logs: str = "", agent: Any = None,
                 interactive: int = 0, images: Sequence[str] | None = None, podman: bool = False) -> None:
        self.calls: list[Call] = []
        self.config = compose_config if config is None else config
        self.containers_result = list(containers)
        self.exec_result = exec_result
        self.logs = logs
        self.agent_result = agent
        self.interactive_result = interactive
        self.images = None if images is None else set(images)  # None: every image is present
        self.version = "2.40.3"
        self.image_contents: dict[str, dict[str, bytes]] = {}  # image ref -> {absolute path: bytes}; unknown: no id
        self.networks_result: list[NetworkState] = []
        self.podman = podman
        self.run_once_result: str | Callable[[str, Sequence[str], Sequence[tuple[str, str]]], str] = ""

    def bake(self, ref: str, files: Mapping[str, bytes]) -> None:
        """Give the image ``ref`` files (absolute paths in the image) that image_files and image_extract see."""
        self.image_contents.setdefault(ref, {}).update(files)

    def _record(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append(Call(name, args, kwargs))

    def names(self) -> list[str]:
        """The names of the calls so far, in order."""
        return [c.name for c in self.calls]

    def info(self) -> EngineInfo:
        self._record("info")
        if self.podman:
            return EngineInfo("4.3.1", "1.41", "debian", "fake", True, (), "/var/lib/containers/storage", "unix:///run/podman/podman.sock")
        return EngineInfo("28.0.0", "1.48", "FakeOS", "fake", False, (), "/var/lib/docker", "default")

    def compose_version(self) -> str:
        self._record("compose_version")
        return self.version

    def compose_config(self, target: Target) -> dict[str, Any]:
        self._record("compose_config", target)
        source = self.config
        if isinstance(source, BaseException):
            raise source
        if callable(source):
            return copy.deepcopy(dict(source(target)))
        return copy.deepcopy(dict(source))

    def compose_up(self, target, services=(), *, force_recreate=False, no_deps=False, no_recreate=False, on_line=None) -> None:
        self._record("compose_up", target, tuple(services), force_recreate=force_recreate, no_deps=no_deps, no_recreate=no_recreate)

    def compose_down(self, target: Target, *, volumes: bool = False, timeout: int = 10) -> None:
        self._record("compose_down", target, volumes=volumes, timeout=timeout)

    def compose_restart(self, target: Target, services: Sequence[str], timeout: int | None = None) -> None:
        self._record("compose_restart", target, tuple(services), timeout=timeout)

    def compose_logs(self, target: Target, services: Sequence[str], *, follow: bool, tail: str | None, since: float | None = None):
        self._record("compose_logs", target, tuple(services), follow=follow, tail=tail, since=since)
        return iter(self.logs.splitlines())

    def containers(self, project: str, service: str | None = None) -> list[ContainerState]:
        self._record("containers", project, service)
        return [c for c in self.containers_result if service is None or c.service == service]

    def networks(self, project: str) -> list[NetworkState]:
        self._record("networks", project)
        return list(self.networks_result)

    def remove_network(self, network_id: str) -> None:
        self._record("remove_network", network_id)
        self.networks_result = [n for n in self.networks_result if n.id != network_id]

    def exec(self, container: str, argv: Sequence[str], *, workdir: str | None = None) -> tuple[int, str]:
        self._record("exec", container, tuple(argv), workdir=workdir)
        result = self.exec_result
        return result(container, argv) if callable(result) else result

    def copy_in(self, container: str, folder: str, files: dict[str, bytes]) -> None:
        self._record("copy_in", container, folder, dict(files))

    def interactive(self, container: str, argv: Sequence[str], *, workdir: str | None = None) -> int:
        self._record("interactive", container, tuple(argv), workdir=workdir)
        return self.interactive_result

    def image_present(self, ref: str) -> bool:
        self._record("image_present", ref)
        return self.images is None or ref in self.images

    def image_id(self, ref: str) -> str | None:
        self._record("image_id", ref)
        if ref not in self.image_contents:
            return None
        return "sha256:" + hashlib.sha256(repr(sorted(self.image_contents[ref].items())).encode()).hexdigest()

    def image_files(self, ref: str, folders: Sequence[str]) -> list[tuple[str, int]]:
        self._record("image_files", ref, tuple(folders))
        return [(p, len(b)) for p, b in self.image_contents.get(ref, {}).items()
                if any(p.startswith(f.rstrip("/") + "/") for f in folders)]

    def run_once(self, ref: str, argv: Sequence[str], binds: Sequence[tuple[str, str]]) -> str:
        self._record("run_once", ref, tuple(argv), tuple(binds))
        result = self.run_once_result
        return result(ref, argv, binds) if callable(result) else result

    def image_extract(self, ref: str, paths: Sequence[str], dest: Callable[[str], Any]) -> None:
        self._record("image_extract", ref, tuple(paths))
        for path in paths:
            target = Path(dest(path))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.image_contents[ref][path])

    def container_logs(self, container: str, *, since: float | None = None, tail: int = 200) -> str:
        self._record("container_logs", container, since=since, tail=tail)
        return self.logs

    def agent(self, container: str) -> Any:
        self._record("agent", container)
        return self.agent_result



# --- docker compose config, without Docker ------------------------------------------------------

CONFIG_FAILED = "the compose files do not load"  # DockerEngine.compose_config's summary and hint, below


def config_failure(argv: Sequence[str], stderr: str, hint: str | None) -> CommandFailed:
    """The error DockerEngine.compose_config raises when compose refuses the files:
    bad input, exit 2 (EXIT_USAGE), since ``compose config`` does not talk to the engine."""
    error = compose_failure(CONFIG_FAILED, argv, 1, "", stderr, hint)
    assert isinstance(error, CommandFailed)
    error.exit_code = EXIT_USAGE
    return error


def compose_config(target: Target, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What ``docker compose config --format json`` prints for ``target`` (the fixtures' subset)."""
    project = Path(target.project_dir)
    env_path = project / ".env"
    scope = parse_dotenv(env_path.read_text(encoding="utf-8"), environ or {}) if env_path.is_file() else {}
    scope.update(environ or {})
    services: dict[str, dict] = {}
    volumes: dict[str, dict] = {}
    networks: dict[str, dict] = {}
    name = ""
    for path in target.files:
        doc = _load(Path(path), scope, target)
        for inc in doc.get("include") or ():
            inc_doc = _load(Path(path).parent / str(inc), scope, target)
            _merge_doc(inc_doc, services, volumes, networks, project, env_path, scope)
        _merge_doc(doc, services, volumes, networks, project, env_path, scope)
        name = str(doc.get("name") or name)
    if target.profiles is not None:
        profiles = set(target.profiles)
    else:
        profiles = {p.strip() for p in scope.get("COMPOSE_PROFILES", "").split(",") if p.strip()}
    enabled = {n: s for n, s in services.items() if not s.get("profiles") or profiles & set(s["profiles"])}
    name = name or scope.get("COMPOSE_PROJECT_NAME") or re.sub(r"[^a-z0-9_-]", "", project.name.lower())
    used = {v["source"] for s in enabled.values() for v in s.get("volumes", ()) if v.get("type") == "volume"}
    return {  # like compose: keys sorted (Go maps), only the volumes the enabled services use
        "name": name,
        "networks": {n: {"name": f"{name}_{n}", "ipam": {}, **networks[n]} for n in sorted(networks)} if networks
        else {"default": {"name": f"{name}_default", "ipam": {}}},
        "services": {n: enabled[n] for n in sorted(enabled)},
        "volumes": {v: {"name": f"{name}_{v}", **volumes[v]} for v in sorted(volumes) if v in used},
    }


def _load(path: Path, scope: Mapping[str, str], target: Target) -> dict[str, Any]:
    argv = ["docker", "compose", "--project-directory", str(target.project_dir), "-f", str(path), "config", "--format", "json"]
    hint = "fix the file named above; check with: docker compose -f " + " -f ".join(str(f) for f in target.files) + " config"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise config_failure(argv, f"open {path}: no such file or directory", hint) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise config_failure(argv, f"yaml: {where}{problem}", hint) from None
    if not isinstance(doc, dict):
        raise config_failure(argv, f"{path}: Top-level object must be a mapping", hint)
    return _interpolate(doc, scope)


def _interpolate(value: Any, scope: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return interpolate(value, scope)
    if isinstance(value, list):
        return [_interpolate(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v, scope) for k, v in value.items()}
    return value


def _merge_doc(doc: Mapping[str, Any], services: dict, volumes: dict, networks: dict,
               project: Path, env_path: Path, scope: Mapping[str, str]) -> None:
    for name, body in (doc.get("services") or {}).items():
        new = _normalize(body or {}, project, env_path, scope)
        old = services.get(name)
        services[name] = _merge_service(old, new) if old else new
    for key, into in (("volumes", volumes), ("networks", networks)):
        for name, body in (doc.get(key) or {}).items():
            into[name] = dict(body or {})


def _normalize(body: Mapping[str, Any], project: Path, env_path: Path, scope: Mapping[str, str]) -> dict[str, Any]:
    svc = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("env_file", "environment", "ports", "volumes")}
    env: dict[str, Any] = {}
    if body.get("env_file") and env_path.is_file():
        env.update(parse_dotenv(env_path.read_text(encoding="utf-8"), scope))
    raw_env = body.get("environment") or {}
    items = raw_env.items() if isinstance(raw_env, dict) else (e.partition("=")[::2] if "=" in e else (e, None) for e in raw_env)
    env.update({k: v for k, v in items})
    if env:
        svc["environment"] = dict(sorted(env.items()))
    if "ports" in body:
        svc["ports"] = [_port(p) for p in body["ports"]]
    if "volumes" in body:
        svc["volumes"] = [_volume(v, project) for v in body["volumes"]]
    deps = svc.get("depends_on")
    if isinstance(deps, list):
        svc["depends_on"] = {d: {"condition": "service_started", "required": True} for d in deps}
    elif isinstance(deps, dict):
        svc["depends_on"] = {d: {"required": True, **(c or {})} for d, c in deps.items()}
    return svc


def _merge_service(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    merged = dict(old)
    for key, value in new.items():
        if key == "volumes":
            by_target = {v["target"]: v for v in old.get("volumes", [])}
            by_target.update({v["target"]: v for v in value})
            merged[key] = list(by_target.values())
        elif key == "ports":
            merged[key] = old.get("ports", []) + [p for p in value if p not in old.get("ports", [])]
        elif isinstance(value, dict) and isinstance(old.get(key), dict):
            merged[key] = {**old[key], **value}
        else:
            merged[key] = value
    return merged


def _port(spec: Any) -> dict[str, Any]:
    if isinstance(spec, dict):
        return {"mode": "ingress", "protocol": "tcp", **spec, "target": int(spec["target"])}
    parts = str(spec).split(":")
    port: dict[str, Any] = {"mode": "ingress"}
    if len(parts) == 3:
        port["host_ip"] = parts[0]
    port["target"] = int(parts[-1].split("/")[0])
    if len(parts) >= 2:
        port["published"] = parts[-2]
    port["protocol"] = "tcp"
    return port


def _volume(spec: Any, project: Path) -> dict[str, Any]:
    if isinstance(spec, dict):
        vol = dict(spec)
        if vol.get("type") == "bind":
            vol["source"] = _absolute(str(vol["source"]), project)
        return vol
    src, _, rest = str(spec).partition(":")
    dst, _, mode = rest.partition(":")
    if src.startswith((".", "/", "~")):
        vol: dict[str, Any] = {"type": "bind", "source": _absolute(src, project), "target": dst}
        if mode == "ro":
            vol["read_only"] = True
        vol["bind"] = {"create_host_path": True}
        return vol
    return {"type": "volume", "source": src, "target": dst, "volume": {}}


def _absolute(path: str, project: Path) -> str:
    if path.startswith("/"):
        return path
    return os.path.normpath(os.path.join(project, path))  # compose makes it absolute, without resolving links


# --- the CLI with a FakeEngine ------------------------------------------------------------------

class Devenv:
    """Runs the CLI with a FakeEngine and a fixed environment."""

    def __init__(self, monkeypatch: Any) -> None:
        self.environ: dict[str, str] = {}
        # compose sees the same environment devenv does
        self.engine = FakeEngine(lambda target: compose_config(target, self.environ))
        monkeypatch.setattr(cli, "new_context", self._context)

    def _context(self, project, ui) -> AppContext:
        return AppContext(project=project, ui=ui, environ=dict(self.environ), engine_override=self.engine)

    def __call__(self, *args: str):
        return CliRunner().invoke(cli.app, [str(a) for a in args], catch_exceptions=False)
