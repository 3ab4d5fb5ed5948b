"""Detection: what a RAGFlow checkout is, as pure functions of what it contains.

The adapter :func:`devenv.fsio.read_checkout` reads the few files that matter
into a :class:`CheckoutSnapshot`; everything here works on that value, so it is
testable with fixtures written in the test itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Mapping

from .dotenv import parse_dotenv, secret_values
from .errors import CheckoutError
from .release import KNOWN_PROCESSES, NEVER_MOUNT, ProcessSpec, Release, Version, image_tag, known_packages, parse_version

MAIN_COMPOSE = "docker/docker-compose.yml"
ENV_FILE = "docker/.env"
ENTRYPOINT = "docker/entrypoint.sh"
DOCKERFILE = "Dockerfile"
FILES_TO_READ = (MAIN_COMPOSE, ENV_FILE, ENTRYPOINT, DOCKERFILE)


@dataclass(frozen=True)
class CheckoutSnapshot:
    """What detection needs from a checkout, read once by the adapter.

    ``dirs`` holds folders relative to the root, POSIX-style, two levels deep;
    ``texts`` maps a relative file path to its text for :data:`FILES_TO_READ`.
    """

    root: str
    dirs: frozenset[str]
    texts: Mapping[str, str]
    docker_files: frozenset[str] = frozenset()
    environ: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Detection:
    """Everything devenv can tell about a checkout without asking the engine."""

    root: str
    release: Release
    compose_files: tuple[str, ...]
    project_dir: str
    env_file: str
    env: Mapping[str, str]
    profiles: tuple[str, ...]
    server_candidates: tuple[str, ...]
    packages: tuple[str, ...]
    processes: tuple[ProcessSpec, ...]
    image: str
    api_port: int | None
    layout: Version  # the oldest release whose layout the checkout matches
    project: str  # the compose project name, derived as compose derives it
    # Values never to print: secret-looking variables of docker/.env as written *and* of the
    # environment (compose hands the file's value to an env_file service even when the shell's wins).
    secrets: frozenset[str] = frozenset()
    background: tuple[str, ...] = ()  # scripts the entrypoint launches as `python3 X &` (a subshell of their own)


def detect(snap: CheckoutSnapshot) -> Detection:
    """Describe a checkout.

    >>> snap = CheckoutSnapshot("/src", frozenset({"api", "docker"}), {
    ...     "docker/docker-compose.yml": "services:\\n  ragflow-cpu:\\n    image: x\\n",
    ...     "docker/.env": "RAGFLOW_IMAGE=infiniflow/ragflow:v0.22.0\\nDEVICE=cpu\\n"
    ...                    "COMPOSE_PROFILES=infinity,${DEVICE}"})
    >>> d = detect(snap)
    >>> d.release.label, d.profiles, d.server_candidates, d.packages
    ('v0.22.0', ('infinity', 'cpu'), ('ragflow-cpu',), ('api',))
    """
    if MAIN_COMPOSE not in snap.texts:
        raise CheckoutError(
            f"{snap.root} is not a RAGFlow checkout: {MAIN_COMPOSE} is missing",
            fix="run devenv inside a RAGFlow checkout, pass one with -C DIR, "
            "or try the bundled demo: devenv demo ./ragflow-demo",
        )
    if ENV_FILE not in snap.texts:
        raise CheckoutError(
            f"{ENV_FILE} is missing in {snap.root}",
            fix="restore it from the RAGFlow release you checked out (git checkout -- docker/.env)",
        )
    env = parse_dotenv(snap.texts[ENV_FILE], snap.environ)
    image = env.get("RAGFLOW_IMAGE", "")
    compose_text = snap.texts[MAIN_COMPOSE]
    dockerfile = snap.texts.get(DOCKERFILE, "")
    release = detect_release(image, compose_text, dockerfile, env)
    profiles = tuple(p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip())
    packages = detect_packages(snap.texts.get(DOCKERFILE), snap.dirs, release.version)
    return Detection(
        root=snap.root,
        release=release,
        compose_files=(MAIN_COMPOSE,),
        project_dir="docker",
        env_file=ENV_FILE,
        env=env,
        profiles=profiles,
        server_candidates=server_candidates(compose_text, profiles, release.version),
        packages=packages,
        processes=detect_processes(snap.texts.get(ENTRYPOINT), packages),
        background=background_scripts(snap.texts.get(ENTRYPOINT)),
        image=image,
        api_port=_int_or_none(env.get("SVR_HTTP_PORT")),
        layout=layout_version(compose_text, dockerfile, env),
        # COMPOSE_PROJECT_NAME from the shell wins over docker/.env, as in compose
        project=project_name({**env, **{k: v for k, v in snap.environ.items() if k == "COMPOSE_PROJECT_NAME" and v}},
                             compose_text, "docker"),
        secrets=secret_values(parse_dotenv(snap.texts[ENV_FILE], {}), env, snap.environ),
    )


def detect_release(image: str, compose_text: str, dockerfile: str, env: Mapping[str, str]) -> Release:
    """The release from the image tag, else a lower bound read off the layout.

    >>> detect_release("infiniflow/ragflow:nightly", "ragflow-cpu:", "COPY bin bin", {"DEVICE": "cpu"}).label
    'v0.25.0 or later (from the layout; image tag nightly)'
    """
    tag = image_tag(image)
    version = parse_version(tag) if tag else None
    if version is not None:
        return Release(version, "image tag", tag)
    return Release(layout_version(compose_text, dockerfile, env), "layout", tag)


def layout_version(compose_text: str, dockerfile: str, env: Mapping[str, str]) -> Version:
    """The oldest release whose layout matches what the checkout shows."""
    copies = set(dockerfile_packages(dockerfile))
    if "metadata-" in env.get("COMPOSE_PROFILES", "") or "tools/scripts" in copies:
        return (0, 27, 0)
    if "bin" in copies:
        return (0, 25, 0)
    if "memory" in copies:
        return (0, 24, 0)
    if "DEVICE" in env or re.search(r"^\s*ragflow-cpu\s*:", compose_text, re.M):
        return (0, 22, 0)
    return (0, 20, 0)


def server_candidates(
    compose_text: str, profiles: tuple[str, ...], version: Version | None = None
) -> tuple[str, ...]:
    """The server service name(s) the profiles select, read off the main compose file.

    The compose model has the last word (:func:`devenv.plan.pick_server`); this
    guess serves ``devenv init`` and messages.
    """
    names = set(re.findall(r"^  ([A-Za-z0-9_.-]+)\s*:", compose_text, re.M))
    split = {"ragflow-cpu", "ragflow-gpu"} & names or (version or (0, 99, 0)) >= (0, 22, 0)
    if "ragflow" in names or not split:
        return ("ragflow",)
    picked = [f"ragflow-{d}" for d in ("gpu", "cpu") if d in profiles]
    return tuple(picked) or ("ragflow-cpu",)


_FROM = re.compile(r"^\s*FROM\s", re.I | re.M)
_COPY = re.compile(r"^\s*COPY\s+(.+?)\s*$", re.I)


def dockerfile_packages(dockerfile: str | None) -> list[str]:
    """Folders the final stage copies to the same place under WORKDIR.

    >>> dockerfile_packages("FROM a AS b\\nCOPY web web\\nFROM b\\nCOPY api api\\n"
    ...                     "COPY --from=b /x /y\\nCOPY tools/scripts tools/scripts\\nCOPY a.txt ./")
    ['api', 'tools/scripts']
    """
    if not dockerfile:
        return []
    starts = [m.start() for m in _FROM.finditer(dockerfile)]
    final = dockerfile[starts[-1]:] if starts else dockerfile
    found: list[str] = []
    for line in final.splitlines():
        m = _COPY.match(line)
        if not m:
            continue
        words = [w for w in m.group(1).split() if not w.startswith("--")]
        if "--from=" in m.group(1) or len(words) != 2:
            continue
        src, dst = (w.strip("./").rstrip("/") for w in words)
        if src and src == dst and src not in found:
            found.append(src)
    return found


def detect_packages(dockerfile: str | None, dirs: frozenset[str], version: Version | None) -> tuple[str, ...]:
    """Source packages present both in the checkout and in the image."""
    in_image = dockerfile_packages(dockerfile) or known_packages(version)
    return tuple(p for p in in_image if p in dirs and p not in NEVER_MOUNT)


_PY_RUN = re.compile(r"""(?:python3?|"?\$\{?PY\}?"?)\s+([A-Za-z0-9_./-]+\.py)\b""")


_PY_BACKGROUND = re.compile(_PY_RUN.pattern + r"""[^;&|\n]*&(?!&)""")


def background_scripts(entrypoint: str | None) -> tuple[str, ...]:
    """Scripts launched as an asynchronous command (``"$PY" X &``): bash runs each in a subshell
    of its own, so a hook may ``exec`` there and keep the pid the loop waits for.

    >>> background_scripts('while true; do\\n  LD_PRELOAD=x \\\\\\n  "$PY" rag/a.py "$id" &\\n  wait;\\ndone &\\npython3 b.py; sleep 1')
    ('rag/a.py',)
    """
    text = (entrypoint or "").replace("\\\n", " ")
    return tuple(dict.fromkeys(_PY_BACKGROUND.findall(text)))


def detect_processes(entrypoint: str | None, packages: tuple[str, ...]) -> tuple[ProcessSpec, ...]:
    """The Python processes the entrypoint starts, named as devenv knows them."""
    known = {p.script: p for p in KNOWN_PROCESSES}
    if entrypoint:
        scripts = list(dict.fromkeys(_PY_RUN.findall(entrypoint)))
        found = [known.get(s) or ProcessSpec(s.rsplit("/", 1)[-1][:-3], s) for s in scripts]
        if found:
            return tuple(replace(p, exit_ignored=_backgrounded_then_waited(entrypoint, p.script)) for p in found)
    return tuple(p for p in KNOWN_PROCESSES if p.script.split("/", 1)[0] in packages)


def _backgrounded_then_waited(entrypoint: str, script: str) -> bool:
    r"""Whether every launch of ``script`` is ``... script ... &`` followed by a bare ``wait``.

    >>> _backgrounded_then_waited('while true; do\n  "$PY" api/s.py &\n  wait;\n  sleep 1;\ndone &', "api/s.py")
    True
    >>> _backgrounded_then_waited('while true; do\n  python3 api/s.py\n  sleep 1\ndone &', "api/s.py")
    False
    """
    lines = entrypoint.splitlines()
    launches = [i for i, line in enumerate(lines) if script in line and _PY_RUN.search(line)]
    if not launches:
        return False
    for i in launches:
        # the launch may continue over several lines (`\`); it must end in `&`, then `wait` comes next
        end = i
        while end + 1 < len(lines) and lines[end].rstrip().endswith("\\"):
            end += 1
        tail = lines[end].split("#", 1)[0].rstrip()
        following = next((line.strip() for line in lines[end + 1:] if line.strip() and not line.strip().startswith("#")), "")
        if not tail.endswith("&") or tail.endswith("&&") or re.match(r"wait\s*;?$", following) is None:
            return False
    return True


def project_name(env: Mapping[str, str], compose_text: str, project_dir: str) -> str:
    """The compose project name without asking compose (for fast read-only commands).

    Same order as compose: COMPOSE_PROJECT_NAME (environment, then .env), the
    top-level ``name:``, then the project folder's name, normalised.

    >>> project_name({}, "services: {}", "docker"), project_name({"COMPOSE_PROJECT_NAME": "My_RAG"}, "", "docker")
    ('docker', 'my_rag')
    """
    name = env.get("COMPOSE_PROJECT_NAME", "")
    if not name:
        m = re.search(r"^name:\s*['\"]?([^'\"\s#]+)", compose_text, re.M)
        name = m.group(1) if m and "$" not in m.group(1) else project_dir.rsplit("/", 1)[-1]
    return re.sub(r"[^a-z0-9_-]", "", name.lower())


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text else None
    except ValueError:
        return None
