"""Podman's traps as pure rules, and the doctor checks built on them (files passed in, no engine)."""

from __future__ import annotations

from devenv.app import preflight as P
from devenv.core import podman as PM
from devenv.core.model import ComposeModel
from devenv.engine import EngineInfo
from devenv.engine.failures import engine_unreachable, podman_sockets

PODMAN = EngineInfo("4.3.1", "1.41", "debian", "h", True, (), "/var/lib/containers/storage", "unix:///run/podman/podman.sock")
DOCKER = EngineInfo("20.10.24", "1.41", "Debian", "h", False, (), "/var/lib/docker", "default")

STACK = ComposeModel.from_json({"services": {
    "ragflow-cpu": {"image": "infiniflow/ragflow:v0.24.0", "init": True},
    "mysql": {"image": "mysql:8.0.39", "healthcheck": {"test": ["CMD", "mysqladmin", "ping", "-p x y"]}},
    "es01": {"image": "docker.io/library/elasticsearch:8.11.3", "healthcheck": {"test": ["CMD-SHELL", "curl -f http://localhost:9200"]}},
    "minio": {"image": "quay.io/minio/minio", "environment": {"HOST": "host.docker.internal"}},
}})


def host(files: dict[str, str] | None = None, present: tuple[str, ...] = (), systemd: bool = True) -> P.Host:
    files = files or {}
    return P.Host(read=files.get, exists=lambda p: p in present, systemd=systemd)


def by_name(checks: list[P.Check]) -> dict[str, P.Check]:
    return {c.name: c for c in checks}


def test_registries_conf_v2_v1_and_unset():
    assert PM.search_registries('unqualified-search-registries = ["docker.io"]\n[[registry]]\nlocation = "x"') == ("docker.io",)
    assert PM.search_registries('[registries.search]\nregistries = ["quay.io", "docker.io"]') == ("quay.io", "docker.io")
    assert PM.search_registries("# unqualified-search-registries = [\"example.com\"]\n") is None
    assert PM.search_registries("unqualified-search-registries = []") == ()
    assert PM.search_registries("this is [not toml") is None
    assert PM.search_registries(None) is None


def test_short_names_are_the_images_without_a_registry():
    assert PM.short_names(STACK) == [("mysql", "mysql:8.0.39"), ("ragflow-cpu", "infiniflow/ragflow:v0.24.0")]


def test_doctor_names_the_short_images_and_the_fix_when_no_search_registry_is_set():
    checks = by_name(P.check_podman(STACK, PODMAN, host(present=PM.DEFAULT_INIT_PATHS[:1])))
    short = checks["short names"]
    assert short.status == P.WARN
    assert "mysql: mysql:8.0.39" in short.message and "ragflow-cpu: infiniflow/ragflow:v0.24.0" in short.message
    assert "es01" not in short.message
    assert "docker.io/library/mysql:8.0.39" in short.fix and "unqualified-search-registries" in short.fix


def test_a_search_registry_makes_short_names_pass():
    files = {PM.REGISTRIES_CONF: 'unqualified-search-registries = ["docker.io"]'}
    assert by_name(P.check_podman(STACK, PODMAN, host(files)))["short names"].status == P.PASS
    # an empty list is as good as none: nothing to search
    files = {PM.REGISTRIES_CONF: "unqualified-search-registries = []"}
    assert by_name(P.check_podman(STACK, PODMAN, host(files)))["short names"].status == P.WARN


def test_catatonit_missing_fails_found_passes_and_init_path_is_honoured():
    assert by_name(P.check_podman(STACK, PODMAN, host()))["catatonit"].status == P.FAIL
    assert "apt-get install catatonit" in by_name(P.check_podman(STACK, PODMAN, host()))["catatonit"].fix
    ok = by_name(P.check_podman(STACK, PODMAN, host(present=("/usr/libexec/podman/catatonit",))))["catatonit"]
    assert ok.status == P.PASS and "/usr/libexec/podman/catatonit" in ok.message
    conf = {"/etc/containers/containers.conf": '[containers]\ninit_path = "/opt/init"'}
    # a configured init_path replaces the default one: the default being there does not help
    assert by_name(P.check_podman(STACK, PODMAN, host(conf, present=PM.DEFAULT_INIT_PATHS)))["catatonit"].status == P.FAIL
    assert by_name(P.check_podman(STACK, PODMAN, host(conf, present=("/opt/init",))))["catatonit"].status == P.PASS


def test_no_init_no_catatonit_check():
    plain = ComposeModel.from_json({"services": {"s": {"image": "docker.io/library/x:1"}}})
    assert "catatonit" not in by_name(P.check_podman(plain, PODMAN, host()))
    assert "catatonit" in by_name(P.check_podman(plain, PODMAN, host(), server_init=True))


def test_healthchecks_without_systemd_warn_with_the_pump():
    checks = by_name(P.check_podman(STACK, PODMAN, host(systemd=False)))
    assert checks["healthchecks"].status == P.WARN and "es01, mysql" in checks["healthchecks"].message
    assert "podman healthcheck run" in checks["healthchecks"].fix
    assert "healthchecks" not in by_name(P.check_podman(STACK, PODMAN, host(systemd=True)))


def test_split_cmd_healthcheck_and_host_docker_internal_warn():
    checks = by_name(P.check_podman(STACK, PODMAN, host()))
    assert checks["healthcheck form"].message.startswith("mysql:") and "CMD-SHELL" in checks["healthcheck form"].fix
    assert checks["host.docker.internal"].message.startswith("minio ")


def test_a_remote_podman_skips_the_checks_that_read_local_files():
    names = by_name(P.check_podman(STACK, PODMAN, host(systemd=False), local=False))
    assert "short names" not in names and "catatonit" not in names and "healthchecks" not in names
    assert "healthcheck form" in names


def test_nothing_on_docker():
    assert P.check_podman(STACK, DOCKER, host()) == []


def test_the_bundled_demo_has_no_cmd_list_healthcheck():
    """The demo runs on Podman in CI: its healthchecks must survive Podman's splitting."""
    import yaml
    from pathlib import Path

    base = yaml.safe_load((Path(__file__).resolve().parents[3] / "compose/demo/docker/docker-compose-base.yml").read_text())
    model = ComposeModel.from_json({"services": base["services"]})
    assert PM.healthchecked(model) and PM.split_cmd_healthchecks(model) == []


def test_unreachable_engine_names_podman_and_its_socket():
    e = engine_unreachable("", {"DOCKER_HOST": "unix:///run/user/1000/podman/podman.sock"})
    assert "Podman" in e.message and "podman.socket" in (e.fix or "")
    e = engine_unreachable("", {}, sockets=lambda: ["/run/user/1000/podman/podman.sock"])
    assert "Podman's socket is there" in e.message
    assert "export DOCKER_HOST=unix:///run/user/1000/podman/podman.sock" in (e.fix or "")
    e = engine_unreachable("refused", {}, sockets=lambda: [])
    assert e.message.startswith("cannot reach the container engine") and "XDG_RUNTIME_DIR" in (e.fix or "")


def test_podman_sockets_rootless_then_rootful():
    assert podman_sockets({"XDG_RUNTIME_DIR": "/r"}, exists=lambda p: p == "/run/podman/podman.sock") == ["/run/podman/podman.sock"]
    assert podman_sockets({"XDG_RUNTIME_DIR": "/r"}, exists=lambda p: True)[0] == "/r/podman/podman.sock"


def _container(state: str):
    from devenv.engine import ContainerState

    return ContainerState("id", "n", "mysql", state, None, None, 0, 0, "img")


def test_up_keeps_running_containers_only_on_podman_with_an_unchanged_override():
    from devenv.commands.up import keep_running

    running = [_container("running")]
    assert keep_running(PODMAN, running, recreate=False, override_changed=False) is True
    assert keep_running(DOCKER, running, recreate=False, override_changed=False) is False  # compose decides well there
    assert keep_running(PODMAN, running, recreate=True, override_changed=False) is False  # --recreate means it
    assert keep_running(PODMAN, running, recreate=False, override_changed=True) is False  # new mounts must apply
    assert keep_running(PODMAN, [_container("exited")], recreate=False, override_changed=False) is False
    assert keep_running(None, running, recreate=False, override_changed=False) is False
