"""Detection on each release's layout: release, profiles, server service, packages, processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from devenv.app.fsio import read_checkout
from devenv.core.detect import (
    CheckoutSnapshot,
    detect,
    detect_packages,
    detect_processes,
    detect_release,
    dockerfile_packages,
    layout_version,
    server_candidates,
)
from devenv.core.errors import CheckoutError
from devenv.core.release import KNOWN_PROCESSES, Release, known_packages, parse_version
from tests.fixtures import EXPECTED, RELEASES, checkout_files


def _detect(root: Path, environ: dict[str, str] | None = None):
    return detect(read_checkout(root, environ or {}))


@pytest.mark.parametrize("release", RELEASES)
def test_fixture_checkouts(checkout, release: str) -> None:
    det = _detect(checkout(release))
    exp = EXPECTED[release]
    assert (det.release.version, det.release.source, det.release.tag) == (exp.version, exp.source, exp.tag)
    assert det.profiles == exp.profiles
    assert det.server_candidates == (exp.service,)
    assert det.packages == exp.packages
    assert tuple(p.name for p in det.processes) == exp.processes
    assert det.release.health.ping == exp.ping
    assert det.api_port == 9380
    assert det.compose_files == ("docker/docker-compose.yml",) and det.project_dir == "docker"


@pytest.mark.parametrize("release", RELEASES)
def test_conf_web_and_docs_are_never_packages(checkout, release: str) -> None:
    det = _detect(checkout(release))
    assert not {"conf", "web", "web/dist", "docs", "docker", ".venv"} & set(det.packages)


def test_layout_fallback_when_the_tag_is_not_a_version(checkout) -> None:
    det = _detect(checkout("main"))
    assert det.release == Release((0, 27, 0), "layout", "nightly")
    assert det.release.label == "v0.27.0 or later (from the layout; image tag nightly)"


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("infiniflow/ragflow:v0.20.0-slim", Release((0, 20, 0), "image tag", "v0.20.0-slim")),
        ("infiniflow/ragflow:v0.22.0", Release((0, 22, 0), "image tag", "v0.22.0")),
        ("swr.cn-north-4.myhuaweicloud.com/infiniflow/ragflow:v0.24.0", Release((0, 24, 0), "image tag", "v0.24.0")),
        ("localhost:5000/ragflow:v0.27.1-slim", Release((0, 27, 1), "image tag", "v0.27.1-slim")),
        ("localhost:5000/ragflow", Release((0, 20, 0), "layout", "")),  # the port is no tag
        ("infiniflow/ragflow:latest", Release((0, 20, 0), "layout", "latest")),
        ("infiniflow/ragflow:nightly-slim", Release((0, 20, 0), "layout", "nightly-slim")),
        ("", Release((0, 20, 0), "layout", "")),
    ],
)
def test_release_from_the_image_tag(image: str, expected: Release) -> None:
    assert detect_release(image, "services:\n  ragflow:\n", "", {}) == expected


@pytest.mark.parametrize("release", RELEASES)
def test_nightly_or_latest_falls_back_to_the_layout(release: str) -> None:
    files = checkout_files(release)
    from devenv.core.dotenv import parse_dotenv

    env = parse_dotenv(files["docker/.env"], {})
    for tag in ("nightly", "latest", "nightly-slim"):
        got = detect_release(f"infiniflow/ragflow:{tag}", files["docker/docker-compose.yml"], files["Dockerfile"], env)
        assert got.source == "layout" and got.tag == tag
        # The layout gives a lower bound: never newer than the release itself.
        assert got.version <= EXPECTED[release].version
    minimum = {"v0.20.0": (0, 20, 0), "v0.22.0": (0, 22, 0), "v0.24.0": (0, 24, 0), "v0.27.0": (0, 27, 0), "main": (0, 27, 0)}
    assert layout_version(files["docker/docker-compose.yml"], files["Dockerfile"], env) == minimum[release]


def test_layout_version_steps() -> None:
    assert layout_version("", "COPY bin bin", {}) == (0, 25, 0)
    assert layout_version("", "COPY tools/scripts tools/scripts", {}) == (0, 27, 0)
    assert layout_version("", "", {"COMPOSE_PROFILES": "infinity,cpu,metadata-mysql"}) == (0, 27, 0)
    assert layout_version("", "COPY memory memory", {}) == (0, 24, 0)
    assert layout_version("services:\n  ragflow-cpu:\n", "", {}) == (0, 22, 0)
    assert layout_version("", "", {"DEVICE": "gpu"}) == (0, 22, 0)
    assert layout_version("services:\n  ragflow:\n", "", {}) == (0, 20, 0)


@pytest.mark.parametrize(
    ("tag", "version"),
    [("v0.22.0-slim", (0, 22, 0)), ("0.24", (0, 24, 0)), ("v1.2.3", (1, 2, 3)), ("nightly", None), ("latest", None), ("", None)],
)
def test_parse_version(tag: str, version) -> None:
    assert parse_version(tag) == version


@pytest.mark.parametrize(
    ("env", "profiles"),
    [
        ({}, ("elasticsearch", "cpu")),
        ({"DOC_ENGINE": "infinity"}, ("infinity", "cpu")),
        ({"DEVICE": "gpu"}, ("elasticsearch", "gpu")),
        ({"COMPOSE_PROFILES": "infinity, gpu ,"}, ("infinity", "gpu")),
    ],
)
def test_profiles_follow_the_environment_like_compose(checkout, env: dict[str, str], profiles) -> None:
    det = _detect(checkout("v0.24.0"), env)
    assert det.profiles == profiles
    assert det.server_candidates == (f"ragflow-{profiles[-1]}",)


def test_v27_profiles_include_the_metadata_database(checkout) -> None:
    det = _detect(checkout("v0.27.0"), {"METADATA_DB_PROFILE": "gaussdb"})
    assert det.profiles == ("elasticsearch", "cpu", "metadata-gaussdb")


@pytest.mark.parametrize(
    ("compose", "profiles", "version", "expected"),
    [
        ("services:\n  ragflow:\n    image: x\n", ("elasticsearch",), (0, 20, 0), ("ragflow",)),
        ("services:\n  ragflow-cpu:\n  ragflow-gpu:\n", ("infinity", "gpu"), (0, 22, 0), ("ragflow-gpu",)),
        ("services:\n  ragflow-cpu:\n  ragflow-gpu:\n", ("infinity",), (0, 22, 0), ("ragflow-cpu",)),
        ("services:\n  ragflow-cpu:\n  ragflow-gpu:\n", ("cpu", "gpu"), (0, 22, 0), ("ragflow-gpu", "ragflow-cpu")),
        # an unreadable compose file: the release decides
        ("", ("cpu",), (0, 20, 0), ("ragflow",)),
        ("", ("cpu",), (0, 24, 0), ("ragflow-cpu",)),
        ("", ("cpu",), None, ("ragflow-cpu",)),
    ],
)
def test_server_candidates(compose: str, profiles, version, expected) -> None:
    assert server_candidates(compose, profiles, version) == expected


DOCKERFILE = """\
FROM ubuntu:24.04 AS base
WORKDIR /ragflow
FROM base AS builder
COPY web web
COPY sdk sdk
COPY docs docs
FROM base AS production
COPY --from=builder ${VIRTUAL_ENV} ${VIRTUAL_ENV}
COPY --from=builder /ragflow/web/dist /ragflow/web/dist
COPY --chown=1000 api api
COPY ./rag/ ./rag/
COPY conf conf
COPY pyproject.toml uv.lock ./
COPY docker/entrypoint.sh ./
COPY docker/service_conf.yaml.template ./conf/service_conf.yaml.template
copy agent agent
COPY docker/nginx/ragflow.conf.golang \\
     /etc/nginx/conf.d/
COPY tools/scripts tools/scripts
COPY api api
"""


def test_dockerfile_packages_reads_only_the_final_stage() -> None:
    # sdk, web and docs come from the builder stage; --from copies are skipped; duplicates once
    assert dockerfile_packages(DOCKERFILE) == ["api", "rag", "conf", "agent", "tools/scripts"]


def test_dockerfile_without_stages_and_empty() -> None:
    assert dockerfile_packages("COPY api api\nCOPY rag rag\n") == ["api", "rag"]
    assert dockerfile_packages("") == [] and dockerfile_packages(None) == []


def test_packages_are_those_in_the_image_and_in_the_checkout() -> None:
    dirs = frozenset({"api", "rag", "conf", "tools", "tools/scripts", "web"})
    assert detect_packages(DOCKERFILE, dirs, (0, 27, 0)) == ("api", "rag", "tools/scripts")


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ((0, 20, 0), ["api", "deepdoc", "rag", "agent", "graphrag", "agentic_reasoning", "mcp", "plugin"]),
        ((0, 22, 0), ["api", "deepdoc", "rag", "agent", "graphrag", "agentic_reasoning", "mcp", "plugin", "admin", "common"]),
        ((0, 24, 0), ["api", "deepdoc", "rag", "agent", "mcp", "admin", "common", "memory"]),
        ((0, 27, 0), ["api", "deepdoc", "rag", "agent", "mcp", "admin", "common", "memory", "bin", "tools/scripts"]),
    ],
)
def test_fallback_table_without_a_dockerfile(version, expected) -> None:
    every = frozenset(expected) | {"conf", "graphrag", "plugin", "web", "tools"}
    assert list(detect_packages(None, every, version)) == expected
    assert [p for p in known_packages(version) if p != "conf"] == expected


@pytest.mark.parametrize("release", RELEASES)
def test_fallback_table_agrees_with_each_fixture_dockerfile(checkout, release: str) -> None:
    root = checkout(release)
    (root / "Dockerfile").unlink()
    det = _detect(root)
    assert sorted(det.packages) == sorted(EXPECTED[release].packages)


def test_processes_from_each_loop_form() -> None:
    foreground = 'while true; do\n    "$PY" api/ragflow_server.py\n    sleep 1\ndone &\n'
    background = 'while true; do\n    "$PY" rag/svr/sync_data_source.py &\n    wait;\ndone &\n'
    plain = "while true; do python3 admin/server/admin_server.py & wait; sleep 1; done &\n"
    braces = '"${PY}" rag/svr/task_executor.py -i 0 &\n'
    got = detect_processes(foreground + background + plain + braces, ())
    assert [(p.name, p.script) for p in got] == [
        ("server", "api/ragflow_server.py"),
        ("data_sync", "rag/svr/sync_data_source.py"),
        ("admin", "admin/server/admin_server.py"),
        ("task_executor", "rag/svr/task_executor.py"),
    ]


def test_unknown_scripts_get_their_file_name() -> None:
    got = detect_processes('"$PY" go/bridge/worker.py &\n"$PY" -c "import x"\npython3 -m pip install y\n', ())
    assert [(p.name, p.script) for p in got] == [("worker", "go/bridge/worker.py")]


def test_processes_fall_back_to_the_packages() -> None:
    got = detect_processes(None, ("api", "rag"))
    assert [p.name for p in got] == ["server", "task_executor", "data_sync"]
    assert detect_processes("#!/bin/bash\nexec nginx\n", ("admin",)) == tuple(p for p in KNOWN_PROCESSES if p.name == "admin")


def test_not_a_checkout_and_missing_env() -> None:
    with pytest.raises(CheckoutError, match="not a RAGFlow checkout") as e:
        detect(CheckoutSnapshot("/src", frozenset(), {}))
    assert "-C DIR" in (e.value.fix or "")
    with pytest.raises(CheckoutError, match=r"docker/\.env is missing") as e:
        detect(CheckoutSnapshot("/src", frozenset(), {"docker/docker-compose.yml": "services: {}\n"}))
    assert "git checkout -- docker/.env" in (e.value.fix or "")


def test_api_port_from_env(checkout) -> None:
    root = checkout("v0.24.0")
    assert _detect(root, {"SVR_HTTP_PORT": "19380"}).api_port == 19380
    assert _detect(root, {"SVR_HTTP_PORT": "not-a-port"}).api_port is None


def test_project_name_follows_compose_precedence(tmp_path) -> None:
    from devenv.app.fsio import read_checkout
    from devenv.core.detect import detect
    from tests.fixtures import make_checkout

    root = make_checkout(tmp_path / "c", "v0.24.0")
    assert detect(read_checkout(root, {})).project == "docker"  # the project folder's name, as RAGFlow users have it
    (root / "docker" / ".env").write_text((root / "docker" / ".env").read_text() + "COMPOSE_PROJECT_NAME=From_Env_File\n")
    assert detect(read_checkout(root, {})).project == "from_env_file"
    assert detect(read_checkout(root, {"COMPOSE_PROJECT_NAME": "shell"})).project == "shell"
