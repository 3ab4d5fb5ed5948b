"""A checkout opened for work: detection, settings, the compose model and the plan.

This is the glue the commands share: it calls the adapters (files, engine)
around the pure core (:mod:`detect`, :mod:`config`, :mod:`plan`) in the right
order, and writes the override only after compose accepted it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..core.config import CONFIG_FILE, FileConfig, Settings, parse_config, resolve
from ..core.detect import Detection, detect
from ..core.errors import CommandFailed, ConfigError, DevenvError, EngineError, OverrideEditedError
from ..core.model import ComposeModel
from ..core.override import OVERRIDE_NAME, State, classify, render
from ..core.plan import BAKED_DIR, CACHE_DIR, STATE_DIR, Plan, make_plan
from ..engine import Engine, Target
from . import fsio

IMAGE_INDEX_DIR = f"{CACHE_DIR}/image-index"  # the image's files under mounted packages, per image id
PLACEHOLDERS = f"{STATE_DIR}/baked-placeholders"  # empty mount points devenv made in the checkout
WORKDIR = "/ragflow"


@dataclass
class Workspace:
    root: Path
    detection: Detection
    settings: Settings
    engine: Engine
    checkout_dirs: frozenset[str]
    _model: ComposeModel | None = field(default=None, repr=False)
    _unsaved_index: tuple[Path, str] | None = field(default=None, repr=False)
    image_unknown: bool = field(default=False, repr=False)

    @property
    def project_dir(self) -> Path:
        return self.root / self.detection.project_dir

    @property
    def override_path(self) -> Path:
        return self.project_dir / OVERRIDE_NAME

    @property
    def compose_files(self) -> tuple[Path, ...]:
        files = self.settings["compose.files"] or self.detection.compose_files
        return tuple(self.root / f for f in files)

    def target(self, *, with_override: bool = True, override: Path | None = None) -> Target:
        files = self.compose_files
        if override is not None:
            files += (override,)
        elif with_override:
            files += (self.override_path,)
        profiles = self.settings["compose.profiles"]
        return Target(self.project_dir, files, tuple(profiles) if profiles is not None else None)

    def model(self) -> ComposeModel:
        """The stack as compose resolves it without devenv's override (asked once)."""
        if self._model is None:
            for f in self.compose_files:
                if not f.is_file():
                    raise ConfigError(f"compose file {f} does not exist", fix=f"fix compose.files in {CONFIG_FILE}")
            try:
                data = self.engine.compose_config(self.target(with_override=False))
            except CommandFailed as e:
                where = locate_yaml_error(self.compose_files, self.root)
                if where:  # compose's YAML errors give a line but not the file
                    files = " -f ".join(str(f) for f in self.compose_files)
                    e.fix = f"the YAML error is in {where}; fix it, then check with: docker compose -f {files} config"
                raise
            self._model = ComposeModel.from_json(data)
            self._check_profiles(self._model)
        return self._model

    def _check_profiles(self, model: ComposeModel) -> None:
        wanted = self.settings["compose.profiles"]
        if not wanted:
            return
        known = {p for s in model.services.values() for p in s.profiles}
        unknown = [p for p in wanted if p not in known]
        if unknown:
            origin = self.settings.origin("compose.profiles")
            raise ConfigError(
                f"unknown compose profile {unknown[0]!r} (from {origin}); no service declares it",
                fix="use profiles the compose files declare (list them with `docker compose config --profiles`)",
            )

    def plan(self, *, debug: bool = False) -> Plan:
        plan = make_plan(self.detection, self.settings, self.model(), checkout_dirs=self.checkout_dirs, debug=debug)
        baked, key = self.baked_files(plan)
        if not baked:
            return plan
        return make_plan(self.detection, self.settings, self.model(), checkout_dirs=self.checkout_dirs, debug=debug,
                         baked=baked, baked_key=key)

    def baked_files(self, plan: Plan) -> tuple[tuple[str, ...], str]:
        """Files the server image has under the mounted packages and the checkout lacks, and the image's id.

        Read from the image itself (once per image id, then cached): RAGFlow's image bakes
        ``rag/res/huqie.txt.trie`` (git-ignored, so no checkout has it), and the ``rag/`` bind would
        hide it. An image the engine does not have yet (first `up` builds or pulls it) has none.
        """
        if plan.mode != "packages" or not plan.packages:
            return (), ""
        image = self.model().services[plan.service].image
        try:
            image_id = self.engine.image_id(image) if image else None
        except EngineError:
            return (), ""
        if image_id is None:
            self.image_unknown = True  # `up` looks again once compose has built or pulled it
            return (), ""
        key = image_id.split(":")[-1][:12]
        index = self._image_index(image, key, plan.packages)
        covered = [m.target[len(WORKDIR) + 1:] for m in plan.mounts if m.kind == "volume" and m.target.startswith(WORKDIR + "/")]
        made = set((fsio.read_text(self.root / PLACEHOLDERS) or "").splitlines())
        missing = []
        for path, size in index:
            rel = path[len(WORKDIR) + 1:]
            if any(rel == c or rel.startswith(c + "/") for c in covered):
                continue  # a volume filled from the image shows it already (the models)
            here = self.root / rel
            if not here.exists() and not here.is_symlink() or (rel in made and size > 0 and _empty(here)):
                missing.append(rel)
        # Only what the checkout ignores (build output, as RAGFlow's `*.trie`): a source file the checkout
        # lacks was removed on purpose, or the image is another release; the image's copy must not come back.
        return tuple(sorted(_ignored_by_checkout(self.root, missing))), key

    def _image_index(self, image: str, key: str, packages: tuple[str, ...]) -> list[tuple[str, int]]:
        cache = self.root / IMAGE_INDEX_DIR / f"{key}.json"
        try:
            known = json.loads(fsio.read_text(cache) or "{}")
        except ValueError:
            known = {}
        todo = [p for p in packages if p not in known]
        if todo:
            found = self.engine.image_files(image, [f"{WORKDIR}/{p}" for p in todo])
            for pkg in todo:
                known[pkg] = [[path, size] for path, size in found if path.startswith(f"{WORKDIR}/{pkg}/")]
            self._unsaved_index = (cache, json.dumps(known))  # written with the override (`plan --stdout` writes nothing)
        return [(path, size) for pkg in packages for path, size in known.get(pkg, [])]

    def ensure_baked(self, plan: Plan) -> list[str]:
        """devenv's copies of the baked files, and their (empty) mount points in the checkout."""
        if not plan.baked:
            return []
        image = self.model().services[plan.service].image
        todo = [rel for rel in plan.baked if not (self.root / plan.baked_source(rel)).is_file()]
        if todo:
            by_path = {f"{WORKDIR}/{rel}": rel for rel in todo}
            self.engine.image_extract(image, list(by_path), lambda path: self.root / plan.baked_source(by_path[path]))
        made = set((fsio.read_text(self.root / PLACEHOLDERS) or "").splitlines())
        new = []
        for rel in plan.baked:
            point = self.root / rel
            if not point.exists():
                # Docker would make this mount point itself, as root; made here it is the user's and empty
                point.parent.mkdir(parents=True, exist_ok=True)
                point.touch()
                new.append(rel)
        if new:
            fsio.atomic_write(self.root / PLACEHOLDERS, "".join(f"{r}\n" for r in sorted(made | set(new))))
        return todo

    def override_state(self, text: str) -> State:
        return classify(fsio.read_text(self.override_path), text)

    def edited_error(self, state: State) -> OverrideEditedError:
        """Why devenv will not replace the override, in the same words for `up`, `plan` and `watch`."""
        what = "was edited by hand since devenv wrote it" if state is State.EDITED else "was not written by devenv"
        return OverrideEditedError(
            f"{self.override_path} {what}; devenv will not overwrite it",
            fix=f"move your changes into {CONFIG_FILE} (mounts.extra, rules, ...) and run `devenv plan --force`; "
            "your copy is then kept as docker-compose.devenv.yml.bak",
        )

    def write_override(self, plan: Plan, *, force: bool = False) -> "WriteResult":
        """Validate with compose, create the host folders, then replace the override atomically.

        A hand-edited override is never replaced unless ``force``; then the old
        one is kept next to it as ``.bak``.
        """
        text = render(plan)
        state = self.override_state(text)
        if state in (State.EDITED, State.FOREIGN) and not force:
            raise self.edited_error(state)
        missing = fsio.missing_files(self.root, plan.host_files)
        if missing:
            raise DevenvError(
                f"the stack mounts {missing[0]}, which is missing; Docker would mount an empty folder in its place",
                fix=f"restore it (git checkout -- {missing[0]}) or remove that mount from the compose file",
            )
        if state is not State.CURRENT:
            self._validate(text)
        created = fsio.ensure_dirs(self.root, plan.host_dirs)  # first: it refuses before writing anything
        fsio.ensure_state_dir(self.root)
        if self._unsaved_index is not None:
            try:
                fsio.atomic_write(*self._unsaved_index)
            except OSError:
                pass  # a cache: the next run asks the image again
            self._unsaved_index = None
        self.ensure_baked(plan)
        for rel, content in plan.generated:  # devenv's own files in .devenv/ (the fast-relaunch hook)
            if fsio.read_text(self.root / rel) != content:
                fsio.atomic_write(self.root / rel, content)
        if state is not State.CURRENT:
            if state in (State.EDITED, State.FOREIGN):
                fsio.atomic_write(self.override_path.with_name(OVERRIDE_NAME + ".bak"), fsio.read_text(self.override_path) or "")
            fsio.atomic_write(self.override_path, text)
        return WriteResult(state, text, created)

    def _validate(self, text: str) -> None:
        """Ask compose to load the stack with the new override before it replaces the old one."""
        fd, tmp = tempfile.mkstemp(prefix=".devenv-check-", suffix=".yml", dir=self.project_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            self.engine.compose_config(self.target(override=Path(tmp)))
        finally:
            Path(tmp).unlink(missing_ok=True)


@dataclass(frozen=True)
class WriteResult:
    state: State  # the state before writing
    text: str
    created: list[Path]


def open_workspace(project: Path | None, engine: Engine, environ: Mapping[str, str] | None = None,
                   arguments: Mapping[str, Any] | None = None) -> Workspace:
    """Find the checkout (``-C`` or the current folder upwards), read it and the settings."""
    environ = dict(os.environ if environ is None else environ)
    start = project or (Path(environ["DEVENV_PROJECT"]) if environ.get("DEVENV_PROJECT") else Path.cwd())
    root = fsio.find_checkout(start)
    config_path = root / CONFIG_FILE
    text = fsio.read_text(config_path)
    file_config = parse_config(text, str(config_path)) if text is not None else FileConfig()
    settings = resolve(file_config, environ, arguments)
    snapshot = fsio.read_checkout(root, environ, named=settings["mounts.packages"] or ())
    return Workspace(root, detect(snapshot), settings, engine, snapshot.dirs)


def locate_yaml_error(files: tuple[Path, ...], root: Path) -> str | None:
    """``"docker/docker-compose.yml (line 4: ...)"`` for the first compose file, or file it
    includes, that is not valid YAML; None when they all parse."""
    import yaml

    seen: set[Path] = set()
    queue = list(files)
    while queue:
        path = queue.pop(0)
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark else ""
            shown = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
            return f"{shown} ({line}{getattr(e, 'problem', None) or e})"
        except (OSError, UnicodeDecodeError):
            continue
        for inc in (doc or {}).get("include") or () if isinstance(doc, dict) else ():
            rel = inc if isinstance(inc, str) else (inc.get("path") if isinstance(inc, dict) else None)
            for one in [rel] if isinstance(rel, str) else rel or ():
                queue.append((path.parent / one).resolve())
    return None


def _empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def _ignored_by_checkout(root: Path, rels: list[str]) -> list[str]:
    """Those of ``rels`` that the checkout's ``.gitignore`` files (root and along each path) ignore."""
    if not rels:
        return []
    from ..watch.ignore import IgnoreRules

    folders = {""} | {"/".join(r.split("/")[:i]) for r in rels for i in range(1, r.count("/") + 1)}
    gitignores = {}
    for folder in folders:
        try:
            lines = (root / folder / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        gitignores[folder] = lines
    rules = IgnoreRules(gitignores, defaults=())
    return [r for r in rels if rules(r, False)]
