"""The mount plan: pure decisions from a detection, settings and the compose model.

No Docker, no files: :func:`make_plan` returns a :class:`Plan` value that the
adapters write (:mod:`devenv.override`, :mod:`devenv.fsio`) and the commands print.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from pathlib import PurePath, PurePosixPath, PureWindowsPath

from ..container import bash_env_hook, patch_source, warm_source
from .config import Settings
from .detect import Detection
from .errors import CheckoutError, ConfigError
from .model import ComposeModel, ServiceSpec
from .release import NEVER_MOUNT, HealthPaths, ProcessSpec, Release, image_tag, parse_version

STATE_DIR = ".devenv"  # devenv's one git-ignored folder in the checkout
CACHE_DIR = f"{STATE_DIR}/cache"
API_PORT = 9380
MODELS_PATH = "rag/res/deepdoc"
MODELS_VOLUME = "devenv-deepdoc-models"  # the base name; see image_volume()
PYCACHE_TARGET = "/root/.cache/devenv-pycache"
CACHES = (("uv", "/root/.cache/uv"), ("pip", "/root/.cache/pip"), ("huggingface", "/root/.cache/huggingface"))
MANAGED_LABEL = "dev.devenv.managed"
BAKED_DIR = f"{CACHE_DIR}/baked"  # files the image has under a mounted package and the checkout lacks
HOOKS_DIR = f"{STATE_DIR}/hooks"
HOOKS_TARGET = "/devenv-hooks"
WARM_TARGET = "/devenv-warm"  # warm.py's STATE_DIR: the module lists, kept across recreates
# Never a target for a bind from the checkout (each hides what the image baked).
PROTECTED_TARGETS = frozenset({"/ragflow", "/ragflow/.venv", "/ragflow/web/dist", "/ragflow/conf", "/ragflow/web"})


@dataclass(frozen=True)
class Mount:
    """One mount devenv adds. Bind sources are relative to the checkout, POSIX-style."""

    kind: str  # "bind" | "volume"
    source: str
    target: str
    why: str
    read_only: bool = False


@dataclass(frozen=True)
class Plan:
    """Everything devenv will do to the stack, decided up front."""

    root: str
    project_dir: str
    project_name: str
    compose_files: tuple[str, ...]
    profiles: tuple[str, ...] | None
    service: str
    release: Release
    mode: str
    packages: tuple[str, ...]
    mounts: tuple[Mount, ...]
    environment: tuple[tuple[str, str], ...]
    ports: tuple[str, ...]
    init: bool
    stop_grace_period: str
    named_volumes: tuple[str, ...]
    host_dirs: tuple[str, ...]  # relative to the checkout; created before compose starts
    host_files: tuple[str, ...]  # bind sources that must exist as files
    generated: tuple[tuple[str, str], ...]  # files devenv writes before compose starts: (relative path, text)
    kept: tuple[str, ...]  # the stack's own mounts on the server, left as they are
    health_url: str
    health: HealthPaths
    processes: tuple[ProcessSpec, ...]
    fast_relaunch: bool
    debug_port: int | None
    warnings: tuple[str, ...] = field(default=())
    warm: tuple[str, ...] = ()  # scripts started through the warm start (empty: off)
    patch: bool = False  # body-only saves are swapped into the running processes (reload.patch)
    baked: tuple[str, ...] = field(default=())  # checkout-relative files kept visible from the image (see BAKED_DIR)
    baked_key: str = ""  # the image id those files come from

    def baked_source(self, rel: str) -> str:
        """Where devenv keeps its copy of a baked file, relative to the checkout."""
        return f"{BAKED_DIR}/{self.baked_key}/{rel}"

    def override(self) -> dict:
        """The compose override document (only additions to the stack)."""
        svc: dict = {}
        if self.init:
            svc["init"] = True
        svc["stop_grace_period"] = self.stop_grace_period
        if self.environment:
            svc["environment"] = dict(self.environment)
        if self.ports:
            svc["ports"] = list(self.ports)
        svc["volumes"] = [_volume_entry(m, self.project_dir) for m in self.mounts]
        svc["labels"] = {MANAGED_LABEL: "true"}
        doc: dict = {"services": {self.service: svc}}
        if self.named_volumes:
            doc["volumes"] = {name: {} for name in self.named_volumes}
        return doc


def image_volume(base: str, image: str) -> str:
    """A volume filled from the image gets the image's tag in its name.

    Docker copies the image's files into a named volume only while it is empty,
    so a volume shared across releases would hide a newer image's venv or models.

    >>> image_volume("devenv-deepdoc-models", "infiniflow/ragflow:v0.24.0-slim")
    'devenv-deepdoc-models-v0.24.0-slim'
    """
    tag = image_tag(image) or "latest"
    return f"{base}-{re.sub(r'[^A-Za-z0-9_.-]', '-', tag).lower()}"


def _volume_entry(m: Mount, project_dir: str) -> dict:
    entry: dict = {"type": m.kind, "source": m.source, "target": m.target}
    if m.kind == "bind":
        entry["source"] = relative_to_project(m.source, project_dir)
    if m.read_only:
        entry["read_only"] = True
    return entry


def relative_to_project(path: str, project_dir: str) -> str:
    """A checkout-relative POSIX path, as compose resolves it from the project folder.

    >>> relative_to_project("api", "docker"), relative_to_project(".", "docker")
    ('../api', '..')
    """
    if PurePosixPath(path).is_absolute() or PureWindowsPath(path).drive:
        return path
    depth = len([p for p in PurePosixPath(project_dir).parts if p not in (".", "")])
    return posixpath.normpath(posixpath.join(*([".."] * depth or ["."]), path))


def pick_server(model: ComposeModel, candidates: tuple[str, ...], image: str) -> str:
    """The enabled service that runs RAGFlow's server."""
    for name in candidates:
        if name in model.services:
            return name
    by_image = [s.name for s in model.services.values() if image and s.image == image]
    if len(by_image) == 1:
        return by_image[0]
    enabled = ", ".join(sorted(model.services)) or "none"
    raise CheckoutError(
        f"no RAGFlow server service among the enabled services ({enabled}); expected {' or '.join(candidates)}",
        fix="enable its profile (COMPOSE_PROFILES in docker/.env, e.g. DEVICE=cpu) or set compose.service in devenv.toml",
    )


def make_plan(
    det: Detection,
    settings: Settings,
    model: ComposeModel,
    *,
    checkout_dirs: frozenset[str],
    debug: bool = False,
    baked: tuple[str, ...] = (),
    baked_key: str = "",
) -> Plan:
    """Decide the override, the folders and what is mounted where.

    Pure: everything it needs is passed in; see tests/unit/test_plan.py.
    """
    service_name = settings["compose.service"] or pick_server(model, det.server_candidates, det.image)
    if service_name not in model.services:
        raise ConfigError(
            f"compose.service = {service_name!r} is not an enabled service",
            fix=f"use one of: {', '.join(sorted(model.services))}, or enable its profile",
        )
    svc = model.services[service_name]
    release = _release(det.release, settings)
    mode = settings["mounts.mode"]
    warnings: list[str] = []
    mounts: list[Mount] = []
    host_dirs: list[str] = []

    packages = mounted_packages(settings, det, checkout_dirs) if mode == "packages" else ()
    if mode == "checkout":
        mounts.append(Mount("bind", ".", "/ragflow", "the whole checkout"))
        for name, target, why in (
            ("devenv-venv", "/ragflow/.venv", "the image's venv, kept across recreates"),
            ("devenv-web-dist", "/ragflow/web/dist", "the image's built web UI"),
            ("devenv-conf", "/ragflow/conf", "rendered config stays out of the checkout"),
        ):
            mounts.append(Mount("volume", image_volume(name, det.image), target, why))
    for pkg in packages:
        mounts.append(Mount("bind", pkg, f"/ragflow/{pkg}", "source package"))
    # What the image baked under a mounted package and the checkout lacks (rag/res/huqie.txt.trie in
    # RAGFlow's image): the package's bind would hide it, so each file is bound on its own, read-only,
    # from a copy taken out of the image. The workspace finds them (see baked_files).
    baked = tuple(rel for rel in baked if any(rel.startswith(pkg + "/") for pkg in packages))
    for rel in baked:
        mounts.append(Mount("bind", f"{BAKED_DIR}/{baked_key}/{rel}", f"/ragflow/{rel}", "baked into the image, not in the checkout",
                            read_only=True))
    if settings["mounts.models_volume"] and MODELS_PATH in packages:
        warnings.append(f"mounts.packages binds {MODELS_PATH} itself: the checkout's copy is used, not the image's models volume")
    elif settings["mounts.models_volume"] and (mode == "checkout" or "rag" in packages):
        mounts.append(Mount("volume", image_volume(MODELS_VOLUME, det.image), f"/ragflow/{MODELS_PATH}",
                            "the image's models, filled on first use"))
    if svc.volume_at("/ragflow/logs") is None:
        mounts.append(Mount("bind", f"{STATE_DIR}/logs", "/ragflow/logs", "server logs"))
    if settings["mounts.caches"]:
        for name, target in CACHES:
            mounts.append(Mount("bind", f"{CACHE_DIR}/{name}", target, f"{name} cache"))
    env: dict[str, str] = {}
    if settings["mounts.bytecode_cache"]:
        mounts.append(Mount("bind", f"{CACHE_DIR}/pycache", PYCACHE_TARGET, "bytecode cache"))
        env["PYTHONDONTWRITEBYTECODE"] = ""  # empty means "write bytecode"
        env["PYTHONPYCACHEPREFIX"] = PYCACHE_TARGET
    if settings["mounts.caches"]:
        env["UV_LINK_MODE"] = "copy"  # the cache is another filesystem: no hardlinks
    generated: list[tuple[str, str]] = []
    warm: tuple[str, ...] = ()
    patch = False
    if settings["server.fast_relaunch"]:
        if "BASH_ENV" in svc.environment_keys:
            warnings.append(f"{svc.name} sets BASH_ENV itself: fast relaunch is off (restarts wait for the loop's sleep)")
        else:
            mounts.append(Mount("bind", HOOKS_DIR, HOOKS_TARGET, "restart loops relaunch at once", read_only=True))
            env["BASH_ENV"] = f"{HOOKS_TARGET}/bash_env.sh"
            if settings["reload.warm"] and det.processes:
                warm = tuple(p.script for p in det.processes)
                mounts.append(Mount("bind", f"{STATE_DIR}/warm", WARM_TARGET, "warm start: modules each process imported"))
                generated.append((f"{HOOKS_DIR}/warm.py", warm_source()))
                # warm.py starts the patch listener in each process it runs, whether devenv uses it or not,
                # so that turning reload.patch on or off applies to the running watch (no recreate).
                generated.append((f"{HOOKS_DIR}/patch.py", patch_source()))
                env["DEVENV_PATCH"] = "1"
                patch = bool(settings["reload.patch"])
            generated.append((f"{HOOKS_DIR}/bash_env.sh", bash_env_hook(f"{HOOKS_TARGET}/warm.py" if warm else None,
                                                                       tuple(p.script for p in det.processes), det.background)))
    mounts, replaced = _extras_win(mounts, [_extra_mount(spec) for spec in settings["mounts.extra"]])
    warnings += replaced

    mounts, clashes = _drop_clashes(mounts, svc)
    warnings += clashes
    volumes = [m.source for m in mounts if m.kind == "volume"]  # those an extra or the stack did not replace
    if image_volume(MODELS_VOLUME, det.image) in volumes:
        host_dirs.append(MODELS_PATH)  # the mount point inside the bind; made by us, not by root
    ports: list[str] = []
    debug_port = None
    if debug:
        debug_port = settings["server.debug_port"]
        if not release.debugpy:
            warnings.append(f"{release.label} has no RAGFLOW_DEBUGPY_LISTEN: the debugger port will not answer")
        env["RAGFLOW_DEBUGPY_LISTEN"] = str(debug_port)
        published = svc.published(debug_port)
        if published is None:
            ports.append(f"127.0.0.1:{debug_port}:{debug_port}")
        else:  # a second mapping of the same port would make `up` fail
            where = published.host_ip or "every address"
            warnings.append(f"{svc.name} already publishes port {debug_port} (on {where}); devenv adds no port of its own for the debugger")

    kept_dirs, host_files, kept = _stack_binds(svc, model, det.root)
    for m in mounts:
        if m.kind == "bind" and not _is_absolute(m.source) and m.source != "." and not m.source.startswith(BAKED_DIR + "/"):
            host_dirs.append(m.source)
    return Plan(
        root=det.root,
        project_dir=det.project_dir,
        project_name=model.name,
        compose_files=tuple(settings["compose.files"] or det.compose_files),
        profiles=tuple(settings["compose.profiles"]) if settings["compose.profiles"] is not None else None,
        service=service_name,
        release=release,
        mode=mode,
        packages=packages,
        mounts=tuple(mounts),
        environment=tuple(env.items()),
        ports=tuple(ports),
        init=settings["server.init"],
        stop_grace_period=settings["server.stop_grace_period"],
        named_volumes=tuple(volumes),
        host_dirs=tuple(dict.fromkeys(kept_dirs + host_dirs)),
        host_files=tuple(host_files),
        generated=tuple(generated),
        kept=tuple(kept),
        health_url=_health_url(settings, svc),
        health=release.health,
        processes=det.processes,
        fast_relaunch=bool(generated),
        debug_port=debug_port,
        warnings=tuple(warnings),
        warm=warm,
        patch=patch,
        baked=baked,
        baked_key=baked_key,
    )


def _release(detected: Release, settings: Settings) -> Release:
    text = settings["compose.release"]
    if not text:
        return detected
    version = parse_version(text)
    if version is None:
        raise ConfigError(f"compose.release = {text!r} is not a release", fix='write it as "v0.24.0"')
    return Release(version, "devenv.toml", text)


def mounted_packages(settings: Settings, det: Detection, dirs: frozenset[str]) -> tuple[str, ...]:
    """The source packages bind-mounted in packages mode: ``mounts.packages``, validated, else detection's."""
    chosen = settings["mounts.packages"]
    if chosen is None:
        return det.packages
    for pkg in chosen:
        norm = posixpath.normpath(pkg.strip("/")) if pkg.strip("/") else ""
        if norm in NEVER_MOUNT or norm.startswith(".venv") or norm.startswith("web/dist"):
            raise ConfigError(
                f"mounts.packages: mounting {pkg!r} would hide what the image baked there",
                fix="list source packages only (api, rag, ...); for everything use mounts.mode = \"checkout\"",
            )
        if norm.startswith("..") or PurePosixPath(norm).is_absolute():
            raise ConfigError(f"mounts.packages: {pkg!r} is outside the checkout", fix="use mounts.extra for binds from elsewhere")
        if norm not in dirs:
            raise ConfigError(f"mounts.packages: {pkg!r} is not a folder of the checkout", fix=f"choose from: {', '.join(sorted(d for d in dirs if '/' not in d))}")
    return tuple(posixpath.normpath(p.strip("/")) for p in chosen)


_EXTRA = re.compile(r"^(?P<src>.+?):(?P<dst>/[^:]*)(?::(?P<mode>ro|rw))?$")


def _extra_mount(spec: str) -> Mount:
    m = _EXTRA.match(spec)
    if not m:
        raise ConfigError(f"mounts.extra: {spec!r} is not \"host:/container[:ro]\"", fix='e.g. "../plugins:/ragflow/plugins:ro"')
    dst = posixpath.normpath(m["dst"])
    if dst in PROTECTED_TARGETS:
        raise ConfigError(f"mounts.extra: {spec!r} would hide {dst} from the image", fix="mount a subfolder instead")
    return Mount("bind", m["src"], dst, "extra (devenv.toml)", read_only=m["mode"] == "ro")


def _extras_win(mounts: list[Mount], extras: list[Mount]) -> tuple[list[Mount], list[str]]:
    """An extra mount replaces devenv's own at the same target (compose would keep only the last)."""
    targets = {m.target for m in extras}
    if len(targets) < len(extras):
        twice = next(t for t in targets if sum(m.target == t for m in extras) > 1)
        raise ConfigError(f"mounts.extra mounts {twice} twice", fix="keep one mount per container path")
    warnings = [
        f"mounts.extra mounts {m.target}, which devenv would mount from {m.source} ({m.why}); the extra mount wins"
        for m in mounts if m.target in targets
    ]
    return [m for m in mounts if m.target not in targets] + extras, warnings


def _drop_clashes(mounts: list[Mount], svc: ServiceSpec) -> tuple[list[Mount], list[str]]:
    """The override only adds: where the stack already mounts a target, keep the stack's."""
    kept, warnings = [], []
    for m in mounts:
        if svc.volume_at(m.target) is not None:
            warnings.append(f"{svc.name} already mounts {m.target}; devenv keeps that mount and skips its own ({m.why})")
        else:
            kept.append(m)
    return kept, warnings


def _stack_binds(svc: ServiceSpec, model: ComposeModel, root: str) -> tuple[list[str], list[str], list[str]]:
    """The stack's own bind sources: folders to create, files that must exist, and a summary."""
    dirs, files, kept = [], [], []
    for service in model.services.values():
        for v in service.volumes:
            if v.type != "bind":
                continue
            # `compose config` writes a literal "$" as "$$" (ready to be read again); the host path,
            # and what the user reads, has one
            rel = relative_to_root(v.source.replace("$$", "$"), root)
            if service.name == svc.name:
                kept.append(f"{rel} -> {v.target}")
            if _is_absolute(rel):
                continue  # outside the checkout (e.g. /var/run/docker.sock): not ours to create or check
            if PurePosixPath(rel).suffix and not v.source.endswith(("/", "\\")):
                files.append(rel)
            else:
                dirs.append(rel)
    return dirs, files, kept


def relative_to_root(path: str, root: str) -> str:
    """``path`` relative to the checkout when inside it (POSIX-style), else unchanged.

    >>> relative_to_root("/src/my app/docker/logs", "/src/my app")
    'docker/logs'
    >>> relative_to_root("C:\\\\src\\\\docker\\\\logs", "C:\\\\src")
    'docker/logs'
    """
    flavour: type[PurePath] = PureWindowsPath if PureWindowsPath(root).drive else PurePosixPath
    try:
        return flavour(path).relative_to(flavour(root)).as_posix() or "."
    except ValueError:
        return path


def _is_absolute(path: str) -> bool:
    return PurePosixPath(path).is_absolute() or bool(PureWindowsPath(path).drive)


def _health_url(settings: Settings, svc: ServiceSpec) -> str:
    if settings["server.health_url"]:
        return settings["server.health_url"].rstrip("/")
    port = svc.published(API_PORT)
    if port is None:
        return ""  # the command reports it: no published API port and no health_url
    return f"http://{port.loopback_ip}:{port.published}"
