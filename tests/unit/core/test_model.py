"""ComposeModel on recorded real ``docker compose config --format json`` output (tests/data)."""

from __future__ import annotations

import json

import pytest

from devenv.core.errors import DevenvError
from devenv.core.model import ComposeModel, PortSpec, VolumeSpec
from tests.fixtures import RECORDED_CONFIG, RECORDED_ROOT


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(RECORDED_CONFIG.read_text(encoding="utf-8"))


def test_recorded_v024(recorded: dict) -> None:
    model = ComposeModel.from_json(recorded)
    assert model.name == "docker"
    assert sorted(model.services) == ["es01", "minio", "mysql", "ragflow-cpu", "redis"]
    assert sorted(model.volumes) == ["esdata01", "minio_data", "mysql_data", "redis_data"]
    server = model.services["ragflow-cpu"]
    assert server.image == "infiniflow/ragflow:v0.24.0"
    assert server.profiles == ("cpu",)
    assert server.restart == "unless-stopped" and server.init is False and server.container_name == ""
    assert not server.has_healthcheck and not server.has_build
    assert server.published(9380) == PortSpec(9380, 9380, "", "tcp")
    assert server.published(9380).loopback_ip == "127.0.0.1"
    assert {p.target for p in server.ports} == {9380, 80, 9381, 9382}
    assert server.volume_at("/ragflow/logs") == VolumeSpec("bind", f"{RECORDED_ROOT}/docker/ragflow-logs", "/ragflow/logs")
    assert server.volume_at("/ragflow/logs/") is not None
    assert server.volume_at("/ragflow/api") is None
    assert "MYSQL_PASSWORD" in server.environment_keys and "TZ" in server.environment_keys
    mysql = model.services["mysql"]
    assert mysql.has_healthcheck and mysql.restart == "on-failure"
    assert mysql.volume_at("/var/lib/mysql") == VolumeSpec("volume", "mysql_data", "/var/lib/mysql")
    assert model.services["es01"].profiles == ("elasticsearch",)


def test_the_recording_holds_no_real_paths_or_secrets() -> None:
    text = RECORDED_CONFIG.read_text(encoding="utf-8")
    assert "/tmp/" not in text and "fixture-" not in text


def test_unknown_fields_are_kept_raw(recorded: dict) -> None:
    data = json.loads(json.dumps(recorded))
    data["services"]["ragflow-cpu"]["x-future"] = {"a": 1}
    data["x-top"] = 1
    model = ComposeModel.from_json(data)
    assert model.raw["x-top"] == 1 and model.services["ragflow-cpu"].image


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ({"target": 9380, "published": "9380"}, PortSpec(9380, 9380)),
        ({"target": 9380, "published": 19380, "host_ip": "127.0.0.1"}, PortSpec(9380, 19380, "127.0.0.1")),
        ({"target": 9380, "published": "9380-9390"}, PortSpec(9380, 9380)),
        ({"target": 9380}, PortSpec(9380, None)),
        ({"target": 9380, "published": ""}, PortSpec(9380, None)),
        ({"target": 53, "published": "53", "protocol": "udp", "host_ip": "::"}, PortSpec(53, 53, "::", "udp")),
    ],
)
def test_ports(port: dict, expected: PortSpec) -> None:
    model = ComposeModel.from_json({"services": {"s": {"ports": [port]}}})
    assert model.services["s"].ports == (expected,)


def test_loopback_ip() -> None:
    assert PortSpec(1, 1, "0.0.0.0").loopback_ip == "127.0.0.1"
    assert PortSpec(1, 1, "::").loopback_ip == "127.0.0.1"
    assert PortSpec(1, 1, "192.168.1.5").loopback_ip == "192.168.1.5"


def test_sparse_services() -> None:
    model = ComposeModel.from_json({"services": {"s": None, "t": {"healthcheck": {"disable": True}, "environment": ["A=1"]}}})
    assert model.services["s"].image == "" and model.volumes == ()
    assert model.services["t"].has_healthcheck is False
    assert model.services["t"].environment_keys == ()  # compose always prints a mapping; a list is ignored


@pytest.mark.parametrize("data", [{}, {"services": []}, [], None])
def test_no_services(data) -> None:
    with pytest.raises(DevenvError, match="returned no services"):
        ComposeModel.from_json(data)
