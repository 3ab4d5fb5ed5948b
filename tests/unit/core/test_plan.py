"""The mount plan on each release's fixture, its rules, and golden overrides."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from devenv.core.config import resolve
from devenv.core.errors import CheckoutError, ConfigError
from devenv.core.model import ComposeModel
from devenv.core.override import render
from devenv.core.plan import (
    CACHES,
    PROTECTED_TARGETS,
    PYCACHE_TARGET,
    Mount,
    image_volume,
    make_plan,
    pick_server,
    relative_to_project,
    relative_to_root,
)
from devenv.core.release import Release
from tests.fixtures import EXPECTED, RELEASES, plan_for, planning_inputs

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden"


def binds(plan) -> dict[str, str]:
    return {m.target: m.source for m in plan.mounts if m.kind == "bind"}


def volumes(plan) -> dict[str, str]:
    return {m.target: m.source for m in plan.mounts if m.kind == "volume"}


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {rel}"
    path.write_text(text.replace(old, new), encoding="utf-8")


# --- each release ----------------------------------------------------------------------------

@pytest.mark.parametrize("release", RELEASES)
def test_each_release(checkout, release: str) -> None:
    exp = EXPECTED[release]
    plan = plan_for(checkout(release))
    assert plan.service == exp.service and plan.project_name == "docker"
    assert plan.packages == exp.packages and plan.mode == "packages"
    assert plan.init is True and plan.stop_grace_period == "2s"
    assert plan.health.ping == exp.ping and plan.health_url == "http://127.0.0.1:9380"
    assert [p.name for p in plan.processes] == list(exp.processes)
    for pkg in exp.packages:
        assert binds(plan)[f"/ragflow/{pkg}"] == pkg
    assert plan.warnings == ()
    assert plan.profiles is None  # compose reads COMPOSE_PROFILES itself


@pytest.mark.parametrize("release", RELEASES)
def test_never_a_bind_over_what_the_image_baked(checkout, release: str) -> None:
    plan = plan_for(checkout(release))
    assert not set(binds(plan)) & PROTECTED_TARGETS
    assert not any(t.startswith(("/ragflow/.venv", "/ragflow/web", "/ragflow/conf")) for t in binds(plan))


@pytest.mark.parametrize("release", RELEASES)
def test_stack_binds_become_folders_and_files_to_check(checkout, release: str) -> None:
    plan = plan_for(checkout(release))
    assert "docker/ragflow-logs" in plan.host_dirs
    assert {"docker/entrypoint.sh", "docker/service_conf.yaml.template", "docker/init.sql"} <= set(plan.host_files)
    assert ("history_data_agent" in plan.host_dirs) == (EXPECTED[release].version < (0, 24, 0))
    assert ("docker/nginx/nginx.conf" in plan.host_files) == (EXPECTED[release].version < (0, 27, 0))
    assert "docker/ragflow-logs -> /ragflow/logs" in plan.kept
    assert "docker/init.sql -> /data/application/init.sql" not in plan.kept  # mysql's, not the server's
    for m in plan.mounts:
        if m.kind == "bind":
            assert m.source in plan.host_dirs


# --- what is mounted -------------------------------------------------------------------------

def test_models_volume_when_rag_is_mounted(checkout) -> None:
    root = checkout("v0.24.0")
    plan = plan_for(root)
    name = "devenv-deepdoc-models-v0.24.0"  # the image's tag: a newer image's models are never hidden
    assert volumes(plan) == {"/ragflow/rag/res/deepdoc": name}
    assert plan.named_volumes == (name,)
    assert "rag/res/deepdoc" in plan.host_dirs  # the mount point inside the bind, made by the user, not root
    assert plan.override()["volumes"] == {name: {}}


def test_no_models_volume_without_rag_or_when_disabled(checkout) -> None:
    root = checkout("v0.24.0")
    no_rag = plan_for(root, config_text='[mounts]\npackages = ["api", "common"]\n')
    assert volumes(no_rag) == {} and no_rag.named_volumes == () and "volumes" not in no_rag.override()
    off = plan_for(root, config_text="[mounts]\nmodels_volume = false\n")
    assert volumes(off) == {} and "rag/res/deepdoc" not in off.host_dirs


def test_models_volume_replaced_by_an_extra_mount_is_not_declared(checkout) -> None:
    plan = plan_for(checkout("v0.24.0"), config_text='[mounts]\nextra = ["../models:/ragflow/rag/res/deepdoc:ro"]\n')
    assert volumes(plan) == {} and plan.named_volumes == () and "volumes" not in plan.override()
    assert "rag/res/deepdoc" not in plan.host_dirs
    assert any("/ragflow/rag/res/deepdoc" in w for w in plan.warnings)


def test_the_models_folder_named_as_a_package_is_bound_once_from_the_checkout(checkout) -> None:
    """Found by hypothesis: ``packages = ["rag", "rag/res/deepdoc"]`` gave two mounts on one target."""
    root = checkout("v0.20.0")
    (root / "rag" / "res" / "deepdoc").mkdir(parents=True, exist_ok=True)
    plan = plan_for(root, config_text='[mounts]\npackages = ["rag", "rag/res/deepdoc"]\n')
    targets = [m.target for m in plan.mounts]
    assert len(targets) == len(set(targets)) and volumes(plan) == {} and plan.named_volumes == ()
    assert binds(plan)["/ragflow/rag/res/deepdoc"] == "rag/res/deepdoc"
    assert any("the checkout's copy is used, not the image's models volume" in w for w in plan.warnings)


def test_logs_mount_only_when_the_stack_has_none(checkout) -> None:
    root = checkout("v0.24.0")
    assert "/ragflow/logs" not in binds(plan_for(root))
    edit(root, "docker/docker-compose.yml", "      - ./ragflow-logs:/ragflow/logs\n", "")
    plan = plan_for(root)
    assert binds(plan)["/ragflow/logs"] == ".devenv/logs"
    assert ".devenv/logs" in plan.host_dirs


def test_caches_and_bytecode(checkout) -> None:
    plan = plan_for(checkout("v0.24.0"))
    for name, target in CACHES:
        assert binds(plan)[target] == f".devenv/cache/{name}"
    assert binds(plan)[PYCACHE_TARGET] == ".devenv/cache/pycache"
    env = dict(plan.environment)
    cache_env = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": PYCACHE_TARGET, "UV_LINK_MODE": "copy"}
    assert env.items() >= cache_env.items()
    assert plan.override()["services"]["ragflow-cpu"]["environment"] == env


def test_caches_and_bytecode_off(checkout) -> None:
    plan = plan_for(checkout("v0.24.0"), config_text="[mounts]\ncaches = false\nbytecode_cache = false\n")
    assert not any(t.startswith("/root/.cache") for t in binds(plan))
    env = dict(plan.environment)
    assert not {"PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "UV_LINK_MODE"} & set(env)
    assert plan.override()["services"]["ragflow-cpu"].get("environment", {}) == env
    assert not any(d.startswith(".devenv/cache") for d in plan.host_dirs)


def test_init_and_stop_grace_period(checkout) -> None:
    root = checkout("v0.22.0")
    svc = plan_for(root).override()["services"]["ragflow-cpu"]
    assert svc["init"] is True and svc["stop_grace_period"] == "2s"
    assert svc["labels"] == {"dev.devenv.managed": "true"}
    svc = plan_for(root, config_text='[server]\ninit = false\nstop_grace_period = "500ms"\n').override()["services"]["ragflow-cpu"]
    assert "init" not in svc and svc["stop_grace_period"] == "500ms"


def test_debug_port_on_loopback_only(checkout) -> None:
    plan = plan_for(checkout("v0.24.0"), debug=True)
    assert plan.ports == ("127.0.0.1:5678:5678",) and plan.debug_port == 5678
    assert dict(plan.environment)["RAGFLOW_DEBUGPY_LISTEN"] == "5678"
    assert plan.warnings == ()
    other = plan_for(checkout("v0.24.0", "b"), debug=True, environ={"DEVENV_SERVER_DEBUG_PORT": "5999"})
    assert other.ports == ("127.0.0.1:5999:5999",)
    assert plan_for(checkout("v0.24.0", "c")).ports == ()


def test_debug_port_the_stack_already_publishes(checkout) -> None:
    # v0.20's compose publishes 5678:5678 on every address; a second mapping of the
    # same host port would make `up` fail, so devenv adds none and says why.
    plan = plan_for(checkout("v0.20.0"), debug=True)
    assert plan.ports == ()
    assert dict(plan.environment)["RAGFLOW_DEBUGPY_LISTEN"] == "5678"
    assert any("already publishes" in w and "5678" in w for w in plan.warnings)


def test_debug_on_a_release_without_debugpy(checkout) -> None:
    plan = plan_for(checkout("v0.24.0"), debug=True, config_text='[compose]\nrelease = "v0.16.0"\n')
    assert plan.release == Release((0, 16, 0), "devenv.toml", "v0.16.0")
    assert any("RAGFLOW_DEBUGPY_LISTEN" in w for w in plan.warnings)


# --- clashes and extra mounts ----------------------------------------------------------------

def test_clash_with_the_stack_is_skipped_with_a_warning(checkout) -> None:
    root = checkout("v0.24.0")
    edit(root, "docker/docker-compose.yml", "      - ./ragflow-logs:/ragflow/logs\n",
         "      - ./ragflow-logs:/ragflow/logs\n      - ../api:/ragflow/api:ro\n")
    plan = plan_for(root, config_text='[mounts]\nextra = ["somewhere:/ragflow/logs"]\n')
    assert "/ragflow/api" not in binds(plan) and "/ragflow/logs" not in binds(plan)
    assert len(plan.warnings) == 2
    assert any("already mounts /ragflow/api" in w and "source package" in w for w in plan.warnings)
    assert any("already mounts /ragflow/logs" in w and "extra" in w for w in plan.warnings)
    assert "api -> /ragflow/api" in plan.kept


def test_extra_mounts(checkout) -> None:
    root = checkout("v0.24.0")
    text = '[mounts]\nextra = ["../plugins:/ragflow/plugins:ro", "/data/models:/models", "notes:/ragflow/notes:rw"]\n'
    plan = plan_for(root, config_text=text)
    extra = [m for m in plan.mounts if m.why == "extra (devenv.toml)"]
    assert extra == [
        Mount("bind", "../plugins", "/ragflow/plugins", "extra (devenv.toml)", read_only=True),
        Mount("bind", "/data/models", "/models", "extra (devenv.toml)"),
        Mount("bind", "notes", "/ragflow/notes", "extra (devenv.toml)"),
    ]
    entries = {v["target"]: v for v in plan.override()["services"]["ragflow-cpu"]["volumes"]}
    assert entries["/ragflow/plugins"] == {"type": "bind", "source": "../../plugins", "target": "/ragflow/plugins", "read_only": True}
    assert entries["/models"]["source"] == "/data/models"
    assert entries["/ragflow/notes"]["source"] == "../notes"
    assert "notes" in plan.host_dirs and "../plugins" in plan.host_dirs and "/data/models" not in plan.host_dirs


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("plugins", ['"host:container"']),
        ("plugins:relative/target", ['"host:/container[:ro]"']),
        ("plugins:/x:rx", ['"host:/container[:ro]"']),
        ("src:/ragflow", ["would hide /ragflow"]),
        ("src:/ragflow/.venv", ["would hide /ragflow/.venv"]),
        ("src:/ragflow/web/dist/", ["would hide /ragflow/web/dist"]),
        ("src:/ragflow/conf", ["would hide /ragflow/conf"]),
        ("src:/ragflow/api/../conf", ["would hide /ragflow/conf"]),
    ],
)
def test_bad_extra_mounts(checkout, spec: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        plan_for(checkout("v0.24.0"), environ={"DEVENV_MOUNTS_EXTRA": spec})
    assert "mounts.extra" in e.value.message and repr(spec) in e.value.message
    for word in words:
        assert word in e.value.message
    assert e.value.fix


def test_the_same_extra_target_twice(checkout) -> None:
    with pytest.raises(ConfigError, match="mounts.extra mounts /x twice"):
        plan_for(checkout("v0.24.0"), environ={"DEVENV_MOUNTS_EXTRA": "a:/x,b:/x/"})


def test_extra_mount_over_a_package_replaces_it(checkout) -> None:
    # compose keeps the last of two mounts at one target; the plan must say the same.
    plan = plan_for(checkout("v0.24.0"), config_text='[mounts]\nextra = ["../api-fork:/ragflow/api"]\n')
    targets = [m.target for m in plan.mounts]
    assert len(targets) == len(set(targets))
    assert binds(plan)["/ragflow/api"] == "../api-fork"
    assert any("/ragflow/api" in w and "mounts.extra" in w for w in plan.warnings)


# --- packages --------------------------------------------------------------------------------

def test_chosen_packages(checkout) -> None:
    plan = plan_for(checkout("v0.27.0"), config_text='[mounts]\npackages = ["api", "tools/scripts/", "rag"]\n')
    assert plan.packages == ("api", "tools/scripts", "rag")
    assert binds(plan)["/ragflow/tools/scripts"] == "tools/scripts"
    assert "/ragflow/common" not in binds(plan)


@pytest.mark.parametrize(
    ("package", "words"),
    [
        ("conf", ["would hide"]),
        ("web", ["would hide"]),
        ("web/dist", ["would hide"]),
        (".venv", ["would hide"]),
        (".", ["would hide"]),
        ("/", ["would hide"]),
        ("docs", ["would hide"]),
        ("../elsewhere", ["outside the checkout"]),
        ("nothere", ["is not a folder of the checkout"]),
    ],
)
def test_bad_packages(checkout, package: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        plan_for(checkout("v0.24.0"), arguments={"mounts.packages": [package]})
    assert e.value.message.startswith("mounts.packages:")
    for word in words:
        assert word in e.value.message


def test_not_a_folder_lists_the_choices(checkout) -> None:
    with pytest.raises(ConfigError) as e:
        plan_for(checkout("v0.24.0"), arguments={"mounts.packages": ["nothere"]})
    assert "api" in (e.value.fix or "") and "memory" in (e.value.fix or "")


# --- checkout mode ---------------------------------------------------------------------------

@pytest.mark.parametrize("release", RELEASES)
def test_checkout_mode_keeps_the_images_venv_web_and_conf(checkout, release: str) -> None:
    root = checkout(release)
    plan = plan_for(root, config_text='[mounts]\nmode = "checkout"\n')
    assert plan.mode == "checkout" and plan.packages == ()
    assert binds(plan)["/ragflow"] == "."
    image = planning_inputs(root)[0].image
    assert volumes(plan) == {
        "/ragflow/.venv": image_volume("devenv-venv", image),
        "/ragflow/web/dist": image_volume("devenv-web-dist", image),
        "/ragflow/conf": image_volume("devenv-conf", image),
        "/ragflow/rag/res/deepdoc": image_volume("devenv-deepdoc-models", image),
    }
    assert image.rsplit(":", 1)[1].lower() in volumes(plan)["/ragflow/.venv"]
    assert set(plan.named_volumes) == set(volumes(plan).values())
    assert "." not in plan.host_dirs
    assert not set(binds(plan)) & (PROTECTED_TARGETS - {"/ragflow"})
    entry = plan.override()["services"][plan.service]["volumes"][0]
    assert entry == {"type": "bind", "source": "..", "target": "/ragflow"}


# --- the server service ----------------------------------------------------------------------

def test_pick_server() -> None:
    model = ComposeModel.from_json({"services": {"mysql": {"image": "mysql"}, "web": {"image": "infiniflow/ragflow:x"}}})
    assert pick_server(model, ("ragflow-cpu",), "infiniflow/ragflow:x") == "web"
    with pytest.raises(CheckoutError) as e:
        pick_server(model, ("ragflow-cpu",), "other:1")
    assert "mysql, web" in e.value.message and "ragflow-cpu" in e.value.message and "compose.service" in (e.value.fix or "")


def test_gpu_profile_picks_the_gpu_service(checkout) -> None:
    plan = plan_for(checkout("v0.24.0"), environ={"DEVICE": "gpu"})
    assert plan.service == "ragflow-gpu"


def test_compose_service_setting(checkout) -> None:
    root = checkout("v0.24.0")
    assert plan_for(root, config_text='[compose]\nservice = "redis"\n').service == "redis"
    with pytest.raises(ConfigError, match="compose.service = 'ragflow-gpu' is not an enabled service") as e:
        plan_for(root, config_text='[compose]\nservice = "ragflow-gpu"\n')
    assert "ragflow-cpu" in (e.value.fix or "")


def test_no_server_enabled(checkout) -> None:
    root = checkout("v0.24.0")
    edit(root, "docker/.env", "COMPOSE_PROFILES=${DOC_ENGINE},${DEVICE}", "COMPOSE_PROFILES=${DOC_ENGINE}")
    with pytest.raises(CheckoutError, match="no RAGFlow server service among the enabled services") as e:
        plan_for(root)
    assert "DEVICE=cpu" in (e.value.fix or "")


def test_compose_profiles_setting_goes_to_the_plan(checkout) -> None:
    plan = plan_for(checkout("v0.24.0"), config_text='[compose]\nprofiles = ["infinity", "gpu"]\n')
    assert plan.profiles == ("infinity", "gpu") and plan.service == "ragflow-gpu"


def test_release_setting(checkout) -> None:
    root = checkout("main")
    plan = plan_for(root, config_text='[compose]\nrelease = "v0.24.1"\n')
    assert plan.release == Release((0, 24, 1), "devenv.toml", "v0.24.1")
    assert plan.health.ping == "/v1/system/ping"
    with pytest.raises(ConfigError, match="compose.release = 'next' is not a release"):
        plan_for(root, config_text='[compose]\nrelease = "next"\n')


def test_health_url(checkout) -> None:
    root = checkout("v0.24.0")
    assert plan_for(root, environ={"SVR_HTTP_PORT": "19380"}).health_url == "http://127.0.0.1:19380"
    assert plan_for(root, config_text='[server]\nhealth_url = "http://10.0.0.5:9380/"\n').health_url == "http://10.0.0.5:9380"
    edit(root, "docker/docker-compose.yml", "      - ${SVR_HTTP_PORT}:9380\n", "      - 127.0.0.2:${SVR_HTTP_PORT}:9380\n")
    assert plan_for(root).health_url == "http://127.0.0.2:9380"
    edit(root, "docker/docker-compose.yml", "      - 127.0.0.2:${SVR_HTTP_PORT}:9380\n", "")
    assert plan_for(root).health_url == ""


def test_stack_binds_outside_the_checkout_are_left_alone(checkout) -> None:
    # e.g. the sandbox profile's /var/run/docker.sock: not devenv's to create or to check
    root = checkout("v0.24.0")
    edit(root, "docker/docker-compose.yml", "      - ./entrypoint.sh:/ragflow/entrypoint.sh\n",
         "      - ./entrypoint.sh:/ragflow/entrypoint.sh\n      - /var/run/docker.sock:/var/run/docker.sock\n"
         "      - /opt/shared/data:/data\n")
    plan = plan_for(root)
    assert "/var/run/docker.sock" not in plan.host_files and "/opt/shared/data" not in plan.host_dirs
    assert "/var/run/docker.sock -> /var/run/docker.sock" in plan.kept


# --- paths -----------------------------------------------------------------------------------

def test_paths_with_spaces_and_non_ascii(tmp_path: Path) -> None:
    from tests.fixtures import make_checkout

    root = make_checkout(tmp_path / "mes projets" / "ragflow été 数据", "v0.24.0")
    plan = plan_for(root)
    assert plan.root == str(root)
    assert "docker/ragflow-logs" in plan.host_dirs and "docker/entrypoint.sh" in plan.host_files
    assert binds(plan)["/ragflow/api"] == "api"
    text = render(plan)
    assert str(root) not in text  # the override holds only checkout-relative paths
    assert render(plan_for(make_checkout(tmp_path / "plain", "v0.24.0"))) == text


@pytest.mark.parametrize(
    ("path", "root", "expected"),
    [
        ("/src/ragflow/docker/logs", "/src/ragflow", "docker/logs"),
        ("/src/ragflow", "/src/ragflow", "."),
        ("/src/other/x", "/src/ragflow", "/src/other/x"),
        ("/src/ragflow-2/x", "/src/ragflow", "/src/ragflow-2/x"),
        ("/src/my app/été/docker/a b.conf", "/src/my app/été", "docker/a b.conf"),
        ("C:\\src\\ragflow\\docker\\logs", "C:\\src\\ragflow", "docker/logs"),
        ("c:\\SRC\\RagFlow\\docker\\nginx\\nginx.conf", "C:\\src\\ragflow", "docker/nginx/nginx.conf"),
        ("D:\\other\\x", "C:\\src\\ragflow", "D:\\other\\x"),
        ("C:/src/ragflow/api", "C:\\src\\ragflow", "api"),
        ("\\\\server\\share\\ragflow\\api", "\\\\server\\share\\ragflow", "api"),
    ],
)
def test_relative_to_root(path: str, root: str, expected: str) -> None:
    assert relative_to_root(path, root) == expected


@pytest.mark.parametrize(
    ("path", "project_dir", "expected"),
    [
        ("api", "docker", "../api"),
        (".", "docker", ".."),
        ("tools/scripts", "docker", "../tools/scripts"),
        ("../plugins", "docker", "../../plugins"),
        ("/abs/x", "docker", "/abs/x"),
        ("C:\\data", "docker", "C:\\data"),
        ("api", ".", "api"),
        ("api", "deploy/compose", "../../api"),
    ],
)
def test_relative_to_project(path: str, project_dir: str, expected: str) -> None:
    assert relative_to_project(path, project_dir) == expected


def test_make_plan_is_pure(checkout) -> None:
    root = checkout("v0.24.0")
    det, settings, model, dirs = planning_inputs(root)
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    first = make_plan(det, settings, model, checkout_dirs=dirs)
    assert make_plan(det, settings, model, checkout_dirs=dirs) == first
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before


# --- golden overrides ------------------------------------------------------------------------

def assert_golden(name: str, text: str) -> None:
    """Compare ``text`` byte for byte with tests/data/golden/<name>; DEVENV_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if os.environ.get("DEVENV_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return
    assert path.is_file(), f"{path} is missing: run DEVENV_UPDATE_GOLDEN=1 python -m pytest {__file__}"
    expected = path.read_bytes()
    assert text.encode("utf-8") == expected, (
        f"the override for {name} changed; if that is intended, regenerate with DEVENV_UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.mark.parametrize("release", RELEASES)
def test_golden_override(checkout, release: str) -> None:
    assert_golden(f"{release}.yml", render(plan_for(checkout(release))))


def test_golden_comparison_fails_when_the_plan_changes(checkout, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEVENV_UPDATE_GOLDEN", raising=False)
    plan = plan_for(checkout("v0.24.0"))
    changed = dataclasses.replace(plan, stop_grace_period="3s")
    with pytest.raises(AssertionError, match="changed"):
        assert_golden("v0.24.0.yml", render(changed))
    with pytest.raises(AssertionError, match="changed"):
        assert_golden("v0.24.0.yml", render(plan).replace("\n", "\r\n"))  # bytes, not just text


def test_defaults_resolve_without_a_file() -> None:
    assert resolve(None, {})["mounts.mode"] == "packages"
