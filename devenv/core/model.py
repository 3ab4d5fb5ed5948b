"""Typed views of what the engine reports: ``docker compose config --format json``.

Only the fields devenv uses are modelled; everything else is kept raw so a
newer compose that adds fields does not break parsing. Tests check these
against recorded real output in ``tests/data/``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import DevenvError


@dataclass(frozen=True)
class PortSpec:
    target: int
    published: int | None
    host_ip: str = ""
    protocol: str = "tcp"

    @property
    def loopback_ip(self) -> str:
        """The address a local client should call for this port."""
        return "127.0.0.1" if self.host_ip in ("", "0.0.0.0", "::") else self.host_ip


@dataclass(frozen=True)
class VolumeSpec:
    type: str  # bind | volume | tmpfs | ...
    source: str  # absolute host path for binds, volume name otherwise
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    image: str = ""
    profiles: tuple[str, ...] = ()
    ports: tuple[PortSpec, ...] = ()
    volumes: tuple[VolumeSpec, ...] = ()
    environment_keys: tuple[str, ...] = ()
    has_healthcheck: bool = False
    has_build: bool = False
    init: bool = False
    restart: str = ""
    container_name: str = ""

    def volume_at(self, target: str) -> VolumeSpec | None:
        return next((v for v in self.volumes if v.target.rstrip("/") == target.rstrip("/")), None)

    def published(self, target: int) -> PortSpec | None:
        return next((p for p in self.ports if p.target == target and p.published), None)


@dataclass(frozen=True)
class ComposeModel:
    """The merged, interpolated stack, as compose resolved it."""

    name: str
    services: Mapping[str, ServiceSpec]
    volumes: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "ComposeModel":
        """Build from the parsed JSON of ``docker compose config --format json``.

        >>> m = ComposeModel.from_json({"name": "docker", "services": {"s": {"image": "i",
        ...     "ports": [{"target": 9380, "published": "9380", "host_ip": "127.0.0.1"}]}}})
        >>> m.services["s"].published(9380).published
        9380
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("services"), Mapping):
            raise DevenvError("docker compose config returned no services", fix="check the compose files with `docker compose config`")
        services = {name: _service(name, body or {}) for name, body in data["services"].items()}
        return cls(
            name=str(data.get("name", "")),
            services=services,
            volumes=tuple((data.get("volumes") or {}).keys()),
            raw=data,
        )


def _service(name: str, body: Mapping[str, Any]) -> ServiceSpec:
    env = body.get("environment") or {}
    return ServiceSpec(
        name=name,
        image=str(body.get("image") or ""),
        profiles=tuple(body.get("profiles") or ()),
        ports=tuple(_port(p) for p in body.get("ports") or () if isinstance(p, Mapping)),
        volumes=tuple(_volume(v) for v in body.get("volumes") or () if isinstance(v, Mapping)),
        environment_keys=tuple(env.keys() if isinstance(env, Mapping) else ()),
        has_healthcheck=bool(body.get("healthcheck")) and not (body.get("healthcheck") or {}).get("disable"),
        has_build=bool(body.get("build")),
        init=bool(body.get("init")),
        restart=str(body.get("restart") or ""),
        container_name=str(body.get("container_name") or ""),
    )


def _port(p: Mapping[str, Any]) -> PortSpec:
    published = p.get("published")
    try:
        pub = int(str(published).split("-")[0]) if published not in (None, "") else None
    except ValueError:
        pub = None
    return PortSpec(int(p.get("target", 0)), pub, str(p.get("host_ip") or ""), str(p.get("protocol") or "tcp"))


def _volume(v: Mapping[str, Any]) -> VolumeSpec:
    return VolumeSpec(str(v.get("type", "")), str(v.get("source") or ""), str(v.get("target", "")), bool(v.get("read_only")))
