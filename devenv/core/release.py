"""What devenv knows about RAGFlow releases, as data.

Facts come from the public RAGFlow repository (see shared/ragflow-facts.md);
detection prefers what the checkout itself says and falls back to this table.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Version = tuple[int, int, int]

_TAG = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def parse_version(tag: str) -> Version | None:
    """``"v0.22.0-slim"`` -> ``(0, 22, 0)``; ``"nightly"`` -> ``None``."""
    m = _TAG.match(tag.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def image_tag(image: str) -> str:
    """The tag of an image reference, "" when it has none.

    >>> image_tag("registry:5000/infiniflow/ragflow:v0.22.0"), image_tag("ragflow")
    ('v0.22.0', '')
    """
    name = image.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[1] if ":" in name else ""


def format_version(v: Version) -> str:
    return "v%d.%d.%d" % v


@dataclass(frozen=True)
class HealthPaths:
    """The release's health endpoints; ``None`` where the release has none."""

    ping: str | None
    healthz: str | None


@dataclass(frozen=True)
class Release:
    """A RAGFlow release as far as devenv can tell.

    >>> Release((0, 24, 0), "image tag").health
    HealthPaths(ping='/v1/system/ping', healthz='/v1/system/healthz')
    """

    version: Version | None
    source: str  # "image tag", "layout", "devenv.toml" or "unknown"
    tag: str = ""

    @property
    def label(self) -> str:
        if self.version is None:
            return self.tag or "unknown"
        text = format_version(self.version)
        if self.source == "layout":
            text = f"{text} or later (from the layout; image tag {self.tag or 'unset'})"
        return text

    @property
    def health(self) -> HealthPaths:
        v = self.version or (0, 99, 0)  # unknown: assume the newest layout
        if v < (0, 21, 0):
            return HealthPaths(None, None)
        if v < (0, 25, 0):
            return HealthPaths("/v1/system/ping", "/v1/system/healthz")
        return HealthPaths("/api/v1/system/ping", "/api/v1/system/healthz")

    @property
    def debugpy(self) -> bool:
        """Whether the server honours ``RAGFLOW_DEBUGPY_LISTEN`` (added in v0.17)."""
        return (self.version or (0, 99, 0)) >= (0, 17, 0)


# Source packages the image copies into /ragflow, by the first release that has them.
# Used only when the checkout's Dockerfile cannot be read.
KNOWN_PACKAGES: dict[str, Version] = {
    "api": (0, 0, 0),
    "conf": (0, 0, 0),
    "deepdoc": (0, 0, 0),
    "rag": (0, 0, 0),
    "agent": (0, 0, 0),
    "graphrag": (0, 0, 0),
    "agentic_reasoning": (0, 0, 0),
    "mcp": (0, 19, 0),
    "plugin": (0, 19, 0),
    "admin": (0, 22, 0),
    "common": (0, 22, 0),
    "memory": (0, 24, 0),
    "bin": (0, 25, 0),
    "tools/scripts": (0, 27, 0),
}
GONE_PACKAGES: dict[str, Version] = {"graphrag": (0, 24, 0), "agentic_reasoning": (0, 24, 0), "plugin": (0, 24, 0)}

# Never bind-mounted from the checkout: each hides something the image needs.
NEVER_MOUNT = frozenset({"", ".", "conf", "web", "web/dist", ".venv", "docs", "docker"})


def known_packages(version: Version | None) -> list[str]:
    v = version or (0, 99, 0)
    return [
        name
        for name, since in KNOWN_PACKAGES.items()
        if since <= v and not (name in GONE_PACKAGES and v >= GONE_PACKAGES[name])
    ]


@dataclass(frozen=True)
class ProcessSpec:
    """A Python process the entrypoint runs in a restart loop."""

    name: str
    script: str  # relative to /ragflow
    # The loop runs it as `"$PY" script & wait`: `wait` with no argument returns 0 whatever the exit
    # code, so a process killed outright is relaunched. In the foreground form (`python3 X; sleep 1`
    # under `set -e`) a non-zero exit ends the loop for good: only a graceful exit is safe there.
    exit_ignored: bool = False


KNOWN_PROCESSES = (
    ProcessSpec("server", "api/ragflow_server.py"),
    ProcessSpec("task_executor", "rag/svr/task_executor.py"),
    ProcessSpec("data_sync", "rag/svr/sync_data_source.py"),
    ProcessSpec("admin", "admin/server/admin_server.py"),
    ProcessSpec("mcp", "mcp/server/server.py"),
)
