"""Podman's traps for a Docker compose stack, as pure rules: text and model in, findings out.

Podman answers the Docker API, and compose v2 drives it through that socket, but some
things differ (found on Podman 4.3 with compose 2.40):

- a short image name (no registry) is resolved by Podman's own rules: without
  ``unqualified-search-registries`` in ``registries.conf`` it cannot be pulled, and it may
  match a *local* image of the same last name (``elasticsearch:8.11.3`` found
  ``devenv-demo/elasticsearch:8.11.3``);
- ``init: true`` needs catatonit (``init_path`` in ``containers.conf``);
- healthchecks run from systemd timers: without systemd they never run;
- a ``CMD`` healthcheck whose arguments hold spaces is split at the spaces;
- ``host.docker.internal`` does not resolve on Podman before 4.7 (``host.containers.internal`` does).

The reading of files and the engine's answers live in :mod:`devenv.app.preflight`.
"""

from __future__ import annotations

import json
import sys
from typing import Any, Iterable, Mapping

from .model import ComposeModel

DEFAULT_INIT_PATHS = ("/usr/libexec/podman/catatonit", "/usr/local/libexec/podman/catatonit", "/usr/bin/catatonit")
REGISTRIES_CONF = "/etc/containers/registries.conf"
CONTAINERS_CONFS = ("/usr/share/containers/containers.conf", "/etc/containers/containers.conf")  # later ones win


def _toml(text: str) -> Mapping[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def search_registries(text: str | None) -> tuple[str, ...] | None:
    """The registries Podman tries for a short name, from ``registries.conf``; None when unset.

    Reads the v2 key and the old v1 ``[registries.search]`` table.

    >>> search_registries('unqualified-search-registries = ["docker.io", "quay.io"]')
    ('docker.io', 'quay.io')
    >>> search_registries('[registries.search]\\nregistries = ["docker.io"]')
    ('docker.io',)
    >>> search_registries("# everything commented out") is None
    True
    """
    if not text:
        return None
    data = _toml(text)
    found = data.get("unqualified-search-registries")
    if found is None:
        found = ((data.get("registries") or {}).get("search") or {}).get("registries")
    if not isinstance(found, list):
        return None
    return tuple(str(r) for r in found)


def is_short_name(image: str) -> bool:
    """Whether an image reference names no registry (Docker adds ``docker.io``, Podman does not).

    The first path component is a registry when it holds a ``.`` or ``:``, or is ``localhost``.

    >>> [is_short_name(i) for i in ("elasticsearch:8.11.3", "infiniflow/ragflow:v0.24.0", "docker.io/library/mysql:8",
    ...  "localhost/x", "registry:5000/x", "quay.io/a/b@sha256:00")]
    [True, True, False, False, False, False]
    """
    if not image:
        return False
    first, sep, _rest = image.partition("/")
    if not sep:
        return True
    return not ("." in first or ":" in first or first == "localhost")


def short_names(model: ComposeModel) -> list[tuple[str, str]]:
    """``(service, image)`` for every service whose image is a short name, in name order."""
    return sorted((name, s.image) for name, s in model.services.items() if is_short_name(s.image))


def init_path(confs: Iterable[str | None]) -> str | None:
    """The ``init_path`` that the last ``containers.conf`` setting it names, or None for the default.

    >>> init_path(['[containers]\\ninit_path = "/opt/catatonit"', None])
    '/opt/catatonit'
    >>> init_path(['[containers]\\n#init_path = "/x"']) is None
    True
    """
    found = None
    for text in confs:
        data = _toml(text or "")
        for section in ("containers", "engine"):
            value = (data.get(section) or {}).get("init_path")
            if value:
                found = str(value)
    return found


def split_cmd_healthchecks(model: ComposeModel) -> list[str]:
    """Services whose healthcheck is a ``CMD`` list with an argument holding a space: Podman
    splits such arguments at the spaces, so the check fails for ever.

    >>> m = ComposeModel.from_json({"services": {"db": {"healthcheck": {"test": ["CMD", "python3", "-c", "import x; x.y()"]}},
    ...     "ok": {"healthcheck": {"test": ["CMD-SHELL", "curl -f http://localhost"]}}}})
    >>> split_cmd_healthchecks(m)
    ['db']
    """
    out = []
    for name, body in sorted((model.raw.get("services") or {}).items()):
        test = ((body or {}).get("healthcheck") or {}).get("test")
        if isinstance(test, list) and test[:1] == ["CMD"] and any(" " in str(a) for a in test[1:]):
            out.append(name)
    return out


def uses_host_docker_internal(model: ComposeModel) -> list[str]:
    """Services whose configuration names ``host.docker.internal``."""
    return sorted(name for name, body in (model.raw.get("services") or {}).items()
                  if "host.docker.internal" in json.dumps(body))


def healthchecked(model: ComposeModel) -> list[str]:
    return sorted(name for name, s in model.services.items() if s.has_healthcheck)
