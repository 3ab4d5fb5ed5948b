"""Fixture checkouts, one per RAGFlow layout, written from the facts in shared/ragflow-facts.md.

Each is short and hand-written: enough for detection, for ``docker compose
config`` and for the planner. Images need not exist (compose config does not
pull). ``make_checkout(tmp_path / "x", "v0.24.0")`` writes one; ``EXPECTED``
says what devenv should find in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RELEASES = ("v0.20.0", "v0.22.0", "v0.24.0", "v0.27.0", "main")


@dataclass(frozen=True)
class Expected:
    """What detection and the planner should say about a fixture."""

    version: tuple[int, int, int]
    source: str  # Release.source
    tag: str
    service: str
    profiles: tuple[str, ...]
    packages: tuple[str, ...]  # in the Dockerfile's order, conf and web left out
    processes: tuple[str, ...]  # ProcessSpec names, in the entrypoint's order
    ping: str | None
    restart: str


_V22_PACKAGES = ("admin", "api", "deepdoc", "rag", "agent", "graphrag", "agentic_reasoning", "mcp", "plugin", "common")
_V24_PACKAGES = ("admin", "api", "deepdoc", "rag", "agent", "mcp", "common", "memory")
_V27_PACKAGES = _V24_PACKAGES + ("bin", "tools/scripts")

EXPECTED: dict[str, Expected] = {
    "v0.20.0": Expected(
        (0, 20, 0), "image tag", "v0.20.0-slim", "ragflow", ("elasticsearch",),
        ("api", "deepdoc", "rag", "agent", "graphrag", "agentic_reasoning", "mcp", "plugin"),
        ("task_executor", "server"), None, "on-failure",
    ),
    "v0.22.0": Expected(
        (0, 22, 0), "image tag", "v0.22.0", "ragflow-cpu", ("elasticsearch", "cpu"), _V22_PACKAGES,
        ("task_executor", "server", "data_sync", "admin"), "/v1/system/ping", "on-failure",
    ),
    "v0.24.0": Expected(
        (0, 24, 0), "image tag", "v0.24.0", "ragflow-cpu", ("elasticsearch", "cpu"), _V24_PACKAGES,
        ("task_executor", "server", "data_sync", "admin"), "/v1/system/ping", "unless-stopped",
    ),
    "v0.27.0": Expected(
        (0, 27, 0), "image tag", "v0.27.0", "ragflow-cpu", ("elasticsearch", "cpu", "metadata-mysql"), _V27_PACKAGES,
        ("task_executor", "admin", "server", "data_sync"), "/api/v1/system/ping", "unless-stopped",
    ),
    "main": Expected(
        (0, 27, 0), "layout", "nightly", "ragflow-cpu", ("elasticsearch", "cpu", "metadata-mysql"), _V27_PACKAGES,
        ("task_executor", "admin", "server", "data_sync"), "/api/v1/system/ping", "unless-stopped",
    ),
}

# Fixture secrets: fake on purpose, and masked again in anything recorded.
PASSWORDS = {
    "ELASTIC_PASSWORD": "fixture-elastic-pw",
    "MYSQL_PASSWORD": "fixture-mysql-pw",
    "MINIO_PASSWORD": "fixture-minio-pw",
    "REDIS_PASSWORD": "fixture-redis-pw",
}


def make_checkout(root: Path, release: str) -> Path:
    """Write the fixture checkout for ``release`` (one of :data:`RELEASES`) at ``root``."""
    for rel, text in checkout_files(release).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def checkout_files(release: str) -> dict[str, str]:
    """The fixture's files: relative path -> text."""
    exp = EXPECTED[release]
    in_image = ("conf",) + exp.packages
    files = {
        "docker/docker-compose.yml": _compose(release),
        "docker/docker-compose-base.yml": _base(release),
        "docker/.env": _dotenv(release),
        "docker/entrypoint.sh": _ENTRYPOINTS[release],
        "docker/service_conf.yaml.template": _SERVICE_CONF,
        "docker/init.sql": "CREATE DATABASE IF NOT EXISTS rag_flow;\n",
        "docker/infinity_conf.toml": '[general]\nversion = "0.6.0"\n',
        "Dockerfile": _dockerfile(release, in_image),
        "pyproject.toml": '[project]\nname = "ragflow"\nversion = "0.0.0"\nrequires-python = ">=3.10"\n',
        "uv.lock": "version = 1\n",
        "conf/llm_factories.json": '{"factory_llm_infos": []}\n',
        "web/package.json": '{"name": "ragflow-web"}\n',
        "web/src/app.tsx": "export default function App() { return null; }\n",
        "docs/quickstart.mdx": "# Quickstart\n",
        "sdk/python/pyproject.toml": '[project]\nname = "ragflow-sdk"\n',
        "api/ragflow_server.py": "print('ragflow server')\n",
        "rag/svr/task_executor.py": "print('task executor')\n",
        "rag/res/huqie.txt": "fixture 1 n\n",
    }
    for pkg in exp.packages:
        files.setdefault(f"{pkg}/__init__.py", "")
    if exp.version < (0, 27, 0):
        for name in ("ragflow.conf", "proxy.conf", "nginx.conf"):
            files[f"docker/nginx/{name}"] = "# fixture nginx config\n"
    return files


# --- docker/.env ------------------------------------------------------------------------------

def _dotenv(release: str) -> str:
    exp = EXPECTED[release]
    lines = [f"# Fixture: docker/.env in RAGFlow {release}'s layout (abridged).", "DOC_ENGINE=${DOC_ENGINE:-elasticsearch}"]
    if exp.version >= (0, 22, 0):
        lines.append("DEVICE=${DEVICE:-cpu}")
    if exp.version >= (0, 27, 0):
        lines += ["METADATA_DB_PROFILE=${METADATA_DB_PROFILE:-mysql}", "COMPOSE_PROFILES=${DOC_ENGINE},${DEVICE},metadata-${METADATA_DB_PROFILE}"]
    elif exp.version >= (0, 22, 0):
        lines.append("COMPOSE_PROFILES=${DOC_ENGINE},${DEVICE}")
    else:
        lines.append("COMPOSE_PROFILES=${DOC_ENGINE}")
    lines += [
        "STACK_VERSION=8.11.3",
        "ES_PORT=1200",
        "MYSQL_PORT=5455",
        "MINIO_USER=rag_flow",
        "REDIS_PORT=6379",
        "SVR_HTTP_PORT=9380",
    ]
    lines += [f"{k}={v}" for k, v in PASSWORDS.items()]
    if exp.version >= (0, 22, 0):
        lines += ["SVR_WEB_HTTP_PORT=80", "SVR_WEB_HTTPS_PORT=443", "ADMIN_SVR_HTTP_PORT=9381", "SVR_MCP_PORT=9382"]
    if exp.version >= (0, 27, 0):
        lines += ["GO_HTTP_PORT=9384", "GO_ADMIN_PORT=9383"]
    image = f"infiniflow/ragflow:{exp.tag}"
    lines += [
        "# The image: devenv reads the release off its tag.",
        f"RAGFLOW_IMAGE={image}",
        "# RAGFLOW_IMAGE=swr.cn-north-4.myhuaweicloud.com/infiniflow/ragflow:nightly",
        "TIMEZONE='Asia/Shanghai'",
        "",
    ]
    return "\n".join(lines)


# --- docker/docker-compose.yml ----------------------------------------------------------------

def _compose(release: str) -> str:
    exp = EXPECTED[release]
    head = [
        f"# Fixture: docker/docker-compose.yml in RAGFlow {release}'s layout (abridged).",
        "include:",
        "  - ./docker-compose-base.yml",
        "services:",
    ]
    if exp.version < (0, 22, 0):
        return "\n".join(head) + "\n" + _server(release, "ragflow", None)
    body = ""
    if exp.version >= (0, 27, 0):
        body += _DEEPDOC
    body += _server(release, "ragflow-cpu", "cpu") + "\n" + _server(release, "ragflow-gpu", "gpu")
    return "\n".join(head) + "\n" + body


def _server(release: str, name: str, profile: str | None) -> str:
    exp = EXPECTED[release]
    v27 = exp.version >= (0, 27, 0)
    lines = [f"  {name}:", "    depends_on:", "      mysql:", "        condition: service_healthy"]
    if v27:
        lines.append("        required: false")
    if profile:
        lines += ["    profiles:", f"      - {profile}"]
    lines.append("    image: ${RAGFLOW_IMAGE}")
    if release == "main":
        lines += ["    ulimits:", "      nofile:", "        soft: 65535", "        hard: 65535"]
    if v27:
        lines += ["    command:", "      - --enable-adminserver"]
    if profile is None:
        lines.append("    container_name: ragflow-server")
    lines += ["    ports:", "      - ${SVR_HTTP_PORT}:9380"]
    if exp.version >= (0, 22, 0):
        lines += ["      - ${SVR_WEB_HTTP_PORT}:80", "      - ${ADMIN_SVR_HTTP_PORT}:9381", "      - ${SVR_MCP_PORT}:9382"]
    else:
        lines += ["      - 80:80", "      - 5678:5678"]
    if v27:
        lines += ["      - ${GO_HTTP_PORT}:9384", "      - ${GO_ADMIN_PORT}:9383"]
    lines += ["    volumes:", "      - ./ragflow-logs:/ragflow/logs"]
    if not v27:
        lines += [
            "      - ./nginx/ragflow.conf:/etc/nginx/conf.d/ragflow.conf",
            "      - ./nginx/proxy.conf:/etc/nginx/proxy.conf",
            "      - ./nginx/nginx.conf:/etc/nginx/nginx.conf",
        ]
    else:
        lines.append("      # - ./nginx/ragflow.conf:/etc/nginx/conf.d/ragflow.conf")
    if exp.version < (0, 24, 0):
        lines.append("      - ../history_data_agent:/ragflow/history_data_agent")
    lines += [
        "      - ./service_conf.yaml.template:/ragflow/conf/service_conf.yaml.template",
        "      - ./entrypoint.sh:/ragflow/entrypoint.sh",
        "    env_file: .env",
        "    environment:",
        "      - TZ=${TIMEZONE}",
        "      - HF_ENDPOINT=${HF_ENDPOINT-}",
        "    networks:",
        "      - ragflow",
        f"    restart: {exp.restart}",
        "    extra_hosts:",
        '      - "host.docker.internal:host-gateway"',
    ]
    if profile == "gpu":
        lines += [
            "    deploy:", "      resources:", "        reservations:", "          devices:",
            "            - driver: nvidia", "              count: all", "              capabilities: [gpu]",
        ]
    return "\n".join(lines) + "\n"


_DEEPDOC = """\
  deepdoc:
    image: ${DEEPDOC_IMAGE:-deepdoc_oss:latest}
    profiles:
      - deepdoc
    build:
      context: ..
      dockerfile: Dockerfile_deepdoc_oss
    networks:
      - ragflow
    restart: unless-stopped

"""


# --- docker/docker-compose-base.yml -----------------------------------------------------------

def _base(release: str) -> str:
    v27 = EXPECTED[release].version >= (0, 27, 0)
    mysql_profiles = "    profiles:\n      - mysql\n      - metadata-mysql\n" if v27 else ""
    nats = (
        "  nats:\n    profiles:\n      - ragflow-go\n    image: nats:2.14.2\n    volumes:\n      - nats_data:/data\n"
        "    command: -js -sd /data\n    networks:\n      - ragflow\n\n"
    ) if v27 else ""
    return f"""\
# Fixture: docker/docker-compose-base.yml in RAGFlow {release}'s layout (abridged).
services:
  es01:
    profiles:
      - elasticsearch
    image: elasticsearch:${{STACK_VERSION}}
    volumes:
      - esdata01:/usr/share/elasticsearch/data
    ports:
      - ${{ES_PORT}}:9200
    environment:
      - ELASTIC_PASSWORD=${{ELASTIC_PASSWORD}}
      - discovery.type=single-node
    healthcheck:
      test: ["CMD-SHELL", "curl http://localhost:9200"]
      interval: 10s
      retries: 120
    networks:
      - ragflow

  infinity:
    profiles:
      - infinity
    image: infiniflow/infinity:v0.6.0
    volumes:
      - infinity_data:/var/infinity
      - ./infinity_conf.toml:/infinity_conf.toml
    command: ["-f", "/infinity_conf.toml"]
    networks:
      - ragflow

  mysql:
{mysql_profiles}    image: mysql:8.0.39
    env_file: .env
    environment:
      - MYSQL_ROOT_PASSWORD=${{MYSQL_PASSWORD}}
    ports:
      - ${{MYSQL_PORT}}:3306
    volumes:
      - mysql_data:/var/lib/mysql
      - ./init.sql:/data/application/init.sql
    healthcheck:
      test: ["CMD", "mysqladmin", "-uroot", "-p${{MYSQL_PASSWORD}}", "ping"]
      interval: 10s
      retries: 120
    networks:
      - ragflow
    restart: on-failure

  minio:
    image: quay.io/minio/minio:RELEASE.2025-06-13T11-33-47Z
    command: server --console-address ":9001" /data
    environment:
      - MINIO_ROOT_USER=${{MINIO_USER}}
      - MINIO_ROOT_PASSWORD=${{MINIO_PASSWORD}}
    volumes:
      - minio_data:/data
    networks:
      - ragflow

  redis:
    image: valkey/valkey:8
    command: redis-server --requirepass ${{REDIS_PASSWORD}} --maxmemory 128mb
    ports:
      - ${{REDIS_PORT}}:6379
    volumes:
      - redis_data:/data
    networks:
      - ragflow

{nats}volumes:
  esdata01:
    driver: local
  infinity_data:
    driver: local
  mysql_data:
    driver: local
  minio_data:
    driver: local
  redis_data:
    driver: local
{"  nats_data:" + chr(10) + "    driver: local" + chr(10) if v27 else ""}
networks:
  ragflow:
    driver: bridge
"""


# --- Dockerfile -------------------------------------------------------------------------------

def _dockerfile(release: str, in_image: tuple[str, ...]) -> str:
    exp = EXPECTED[release]
    web = "COPY web web\n" if exp.version < (0, 27, 0) else ""
    copies = "".join(f"COPY {p} {p}\n" for p in in_image)
    return f"""\
# Fixture: the stages of RAGFlow {release}'s Dockerfile (abridged).
FROM ubuntu:24.04 AS base
WORKDIR /ragflow
ENV PYTHONDONTWRITEBYTECODE=1

FROM base AS builder
WORKDIR /ragflow
COPY pyproject.toml uv.lock ./
COPY web web
COPY docs docs
RUN cd web && npm install && npm run build

FROM base AS production
WORKDIR /ragflow
ENV VIRTUAL_ENV=/ragflow/.venv
COPY --from=builder ${{VIRTUAL_ENV}} ${{VIRTUAL_ENV}}
{web}{copies}COPY pyproject.toml uv.lock ./
COPY docker/service_conf.yaml.template ./conf/service_conf.yaml.template
COPY docker/entrypoint.sh ./
COPY --from=builder /ragflow/web/dist /ragflow/web/dist
ENTRYPOINT ["./entrypoint.sh"]
"""


# --- docker/service_conf.yaml.template and docker/entrypoint.sh -------------------------------

_SERVICE_CONF = """\
ragflow:
  host: ${RAGFLOW_HOST:-0.0.0.0}
  http_port: 9380
mysql:
  name: '${MYSQL_DBNAME:-rag_flow}'
  password: '${MYSQL_PASSWORD:-infini_rag_flow}'
  host: '${MYSQL_HOST:-mysql}'
"""

# v0.20 and v0.27+: the foreground loop form; v0.22-v0.24: `X & wait` inside the loop.
_ENTRYPOINT_V20 = """\
#!/usr/bin/env bash
# Fixture: the process loops of RAGFlow v0.20's docker/entrypoint.sh (abridged).
set -e
PY=python3

function task_exe() {
    local worker="$1"
    while true; do
        "$PY" rag/svr/task_executor.py "${worker}"
    done
}

if [[ "${ENABLE_WEBSERVER}" -eq 1 ]]; then
    /usr/sbin/nginx
    while true; do
        "$PY" api/ragflow_server.py
    done &
fi

if [[ "${ENABLE_TASKEXECUTOR}" -eq 1 ]]; then
    task_exe 0 &
fi
wait
"""

_ENTRYPOINT_V22 = """\
#!/usr/bin/env bash
# Fixture: the process loops of RAGFlow v0.22's docker/entrypoint.sh (abridged).
set -e
PY=python3

function task_exe() {
    local worker="$1"
    while true; do
        "$PY" rag/svr/task_executor.py "${worker}"  &
        wait;
        sleep 1;
    done
}

if [[ "${ENABLE_WEBSERVER}" -eq 1 ]]; then
    /usr/sbin/nginx
    while true; do
        "$PY" api/ragflow_server.py &
        wait;
        sleep 1;
    done &
fi

if [[ "${ENABLE_DATASYNC}" -eq 1 ]]; then
    while true; do
        "$PY" rag/svr/sync_data_source.py &
        wait;
        sleep 1;
    done &
fi

if [[ "${ENABLE_ADMIN_SERVER}" -eq 1 ]]; then
    while true; do
        "$PY" admin/server/admin_server.py &
        wait;
        sleep 1;
    done &
fi

if [[ "${ENABLE_TASKEXECUTOR}" -eq 1 ]]; then
    task_exe 0 &
fi
wait
"""

_ENTRYPOINT_V27 = """\
#!/usr/bin/env bash
# Fixture: the process loops of RAGFlow v0.27's docker/entrypoint.sh (abridged).
set -e
PY=python3

function task_exe() {
    local worker="$1"
    while true; do
        "$PY" rag/svr/task_executor.py -i "${worker}" -t "common" &
        wait;
        sleep 1;
    done
}

"$PY" -c "from api.db.db_models import init_database_tables as init_web_db; init_web_db()"

if [[ "${ENABLE_ADMIN_SERVER}" -eq 1 ]]; then
    while true; do
        echo "Attempt to start Admin python server..."
        "$PY" admin/server/admin_server.py
        sleep 1;
    done &
fi

if [[ "${ENABLE_WEBSERVER}" -eq 1 ]]; then
    /usr/sbin/nginx
    while true; do
        echo "Attempt to start RAGFlow python server..."
        "$PY" api/ragflow_server.py ${INIT_SUPERUSER_ARGS}
        sleep 1;
    done &
fi

if [[ "${ENABLE_DATASYNC}" -eq 1 ]]; then
    while true; do
        "$PY" rag/svr/sync_data_source.py &
        wait;
        sleep 1;
    done &
fi

if [[ "${ENABLE_TASKEXECUTOR}" -eq 1 ]]; then
    task_exe 0 &
fi
wait
"""

_ENTRYPOINTS = {
    "v0.20.0": _ENTRYPOINT_V20,
    "v0.22.0": _ENTRYPOINT_V22,
    "v0.24.0": _ENTRYPOINT_V22.replace("v0.22", "v0.24").replace("ragflow_server.py &", "ragflow_server.py ${INIT_SUPERUSER_ARGS} &"),
    "v0.27.0": _ENTRYPOINT_V27,
    "main": _ENTRYPOINT_V27.replace("RAGFlow v0.27's", "RAGFlow main's"),
}


# --- the planning inputs for a fixture, without Docker ---------------------------------------

def planning_inputs(root: Path, *, environ: dict[str, str] | None = None, config_text: str | None = None,
                    arguments: dict | None = None):
    """``(detection, settings, model, checkout_dirs)`` for ``make_plan``, the model from the fake compose."""
    from devenv.app.fsio import read_checkout
    from devenv.core.config import parse_config, resolve
    from devenv.core.detect import detect
    from devenv.core.model import ComposeModel
    from devenv.engine import Target

    from .fakes import compose_config

    environ = dict(environ or {})
    settings = resolve(parse_config(config_text) if config_text is not None else None, environ, arguments)
    snap = read_checkout(root, environ, named=settings["mounts.packages"] or ())
    profiles = settings["compose.profiles"]
    target = Target(root / "docker", (root / "docker" / "docker-compose.yml",), tuple(profiles) if profiles is not None else None)
    model = ComposeModel.from_json(compose_config(target, environ))
    return detect(snap), settings, model, snap.dirs


def plan_for(root: Path, *, debug: bool = False, **kwargs):
    """The plan devenv makes for a fixture checkout (see :func:`planning_inputs`)."""
    from devenv.core.plan import make_plan

    det, settings, model, dirs = planning_inputs(root, **kwargs)
    return make_plan(det, settings, model, checkout_dirs=dirs, debug=debug)


# --- recorded real output ----------------------------------------------------------------------

RECORDED_ROOT = "/src/ragflow"  # where recorded output says the checkout was
RECORDED_CONFIG = Path(__file__).resolve().parent / "data" / "compose-config-v0.24.json"


def recorded_form(config_json: str, root: Path) -> str:
    """Compose's JSON as stored in tests/data: the checkout at RECORDED_ROOT, secrets masked."""
    text = config_json.replace(str(root), RECORDED_ROOT)
    for key, value in PASSWORDS.items():
        text = text.replace(value, f"masked-{key.lower().replace('_', '-')}")
    return text
