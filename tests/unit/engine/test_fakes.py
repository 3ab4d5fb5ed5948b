"""The fakes are only useful if they behave like the real thing: check them against recorded output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devenv.core.errors import CommandFailed
from devenv.core.model import ComposeModel
from devenv.engine import Target
from tests.fakes import CONFIG_FAILED, FakeEngine, compose_config
from tests.fixtures import RECORDED_CONFIG, make_checkout, recorded_form


def target(root: Path, *extra: str, profiles=None) -> Target:
    docker = root / "docker"
    return Target(docker, (docker / "docker-compose.yml", *(docker / e for e in extra)), profiles)


def test_fake_compose_config_matches_the_recorded_real_output(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "ragflow", "v0.24.0")
    fake = json.loads(recorded_form(json.dumps(compose_config(target(root))), root))
    real = json.loads(RECORDED_CONFIG.read_text(encoding="utf-8"))
    assert fake["name"] == real["name"]
    assert sorted(fake["volumes"]) == sorted(real["volumes"])
    assert sorted(fake["services"]) == sorted(real["services"])
    for name, svc in real["services"].items():
        for key in ("image", "profiles", "ports", "volumes", "environment", "restart", "init", "depends_on", "container_name"):
            assert fake["services"][name].get(key) == svc.get(key), (name, key)
    assert ComposeModel.from_json(fake) == ComposeModel.from_json(real)


def test_profiles_from_the_target_or_the_env_file(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "r", "v0.24.0")
    assert "ragflow-cpu" in compose_config(target(root))["services"]
    services = compose_config(target(root, profiles=("infinity", "gpu")))["services"]
    assert {"ragflow-gpu", "infinity"} <= set(services) and not {"ragflow-cpu", "es01"} & set(services)
    assert "ragflow-gpu" in compose_config(target(root), {"DEVICE": "gpu"})["services"]


def test_override_files_merge_like_compose(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "r", "v0.24.0")
    (root / "docker" / "o.yml").write_text(
        "services:\n  ragflow-cpu:\n    init: true\n    environment:\n      A: '1'\n    ports:\n      - 127.0.0.1:5678:5678\n"
        "    volumes:\n      - type: bind\n        source: ../api\n        target: /ragflow/api\n"
        "      - type: bind\n        source: ../elsewhere\n        target: /ragflow/logs\n"
    )
    svc = compose_config(target(root, "o.yml"))["services"]["ragflow-cpu"]
    assert svc["init"] is True and svc["environment"]["A"] == "1" and svc["environment"]["TZ"] == "Asia/Shanghai"
    assert svc["ports"][-1] == {"mode": "ingress", "host_ip": "127.0.0.1", "target": 5678, "published": "5678", "protocol": "tcp"}
    by_target = {v["target"]: v["source"] for v in svc["volumes"]}
    assert by_target["/ragflow/api"] == str(root / "api")
    assert by_target["/ragflow/logs"] == str(root / "elsewhere")  # the override's entry replaces the stack's
    assert [v["target"] for v in svc["volumes"]].count("/ragflow/logs") == 1


def test_broken_yaml_raises_what_the_real_engine_raises(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "r", "v0.24.0")
    (root / "docker" / "docker-compose.yml").write_text("services:\n  a:\n    image: x\n   bad: [\n")
    with pytest.raises(CommandFailed) as e:
        compose_config(target(root))
    assert e.value.message.startswith(f"{CONFIG_FAILED}: yaml: line ")
    assert e.value.exit_code == 2 and e.value.argv[:2] == ["docker", "compose"]  # bad input, not an engine failure


def test_missing_include(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "r", "v0.24.0")
    (root / "docker" / "docker-compose-base.yml").unlink()
    with pytest.raises(CommandFailed, match="no such file or directory"):
        compose_config(target(root))


def test_fake_engine_records_calls_and_answers(tmp_path: Path) -> None:
    engine = FakeEngine({"services": {"s": {}}}, exec_result=(0, "ok"), logs="a\nb")
    t = Target(tmp_path, (tmp_path / "x.yml",))
    assert engine.compose_config(t) == {"services": {"s": {}}}
    engine.compose_config(t)["services"].clear()  # answers are copies
    assert engine.compose_config(t) == {"services": {"s": {}}}
    assert engine.exec("c1", ["python3", "-V"]) == (0, "ok")
    assert engine.container_logs("c1") == "a\nb" and list(engine.compose_logs(t, ["s"], follow=False, tail=None)) == ["a", "b"]
    assert engine.containers("docker") == []
    engine.compose_up(t, ["s"], force_recreate=True)
    assert engine.names() == ["compose_config"] * 3 + ["exec", "container_logs", "compose_logs", "containers", "compose_up"]
    assert engine.calls[-1].args == (t, ("s",)) and engine.calls[-1].kwargs["force_recreate"] is True


def test_fake_engine_raises_and_delegates(tmp_path: Path) -> None:
    t = Target(tmp_path, ())
    boom = FakeEngine(CommandFailed(summary="nope"))
    with pytest.raises(CommandFailed, match="nope"):
        boom.compose_config(t)
    seen = []
    FakeEngine(lambda target: seen.append(target) or {"services": {}}).compose_config(t)
    assert seen == [t]
    assert FakeEngine(exec_result=lambda c, argv: (1, c + argv[0])).exec("box", ["ls"]) == (1, "boxls")


def test_fake_engine_has_every_method_of_the_protocol_with_the_same_parameters() -> None:
    import inspect

    from devenv.engine import Engine

    for name, method in inspect.getmembers(Engine, inspect.isfunction):
        if name.startswith("_"):
            continue
        want = [(p.name, p.kind) for p in inspect.signature(method).parameters.values()]
        have = [(p.name, p.kind) for p in inspect.signature(getattr(FakeEngine, name)).parameters.values()]
        assert have == want, name
