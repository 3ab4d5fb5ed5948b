"""Which paths of a checkout the watcher leaves alone: ignore rules as a small value.

Rules come from four sources, in this order of precedence:

1. built-in defaults (VCS folders, caches, dependency trees, editor temp files): always win;
2. extra patterns from devenv's config (gitignore syntax, relative to the root): a match,
   positive or ``!``-negated, decides, so config can re-include what a checkout file ignores;
3. the checkout's ``.gitignore`` files (root and nested) and its root ``.dockerignore``:
   a path is ignored if either of them ignores it.

As in git, a path is ignored as soon as one of its ancestor folders is: nothing below an
excluded folder can be re-included, which is what lets the watcher prune whole trees.
``.dockerignore`` patterns are treated as root-anchored gitignore patterns without the
folder-only form (Docker cleans trailing slashes away).

Building is pure (pattern texts in); :func:`load_ignore_rules` does the reading.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.globs import Glob

__all__ = ["DEFAULT_PATTERNS", "IgnoreRules", "load_ignore_rules", "walk_folders"]

DEFAULT_PATTERNS: tuple[str, ...] = (
    # version control and devenv's own state
    ".git",
    ".hg",
    ".svn",
    ".devenv",
    # dependency trees and virtualenvs
    "node_modules",
    ".venv",
    "venv",
    # tool caches and build by-products
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".tox",
    "*.pyc",
    "*.pyo",
    # IDE state and OS litter
    ".idea",
    ".DS_Store",
    # editors' temporary, swap and backup files (atomic saves write these, then rename)
    "*.swp",
    "*.swo",
    "*.swx",
    ".*.sw?",
    "*~",
    ".#*",
    "\\#*#",
    "4913",
    "*.tmp",
    "*.crdownload",
    "*.part",
    "*___jb_tmp___",
    "*___jb_old___",
    ".goutputstream-*",
    "*.kate-swp",
    # `sed -i` (GNU and BSD) writes the new text to sedXXXXXX beside the file, then renames it over
    "sed[A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9][A-Za-z0-9]",
)

# A cached folder verdict is cheap to recompute; the bound only keeps memory flat.
_CACHE_LIMIT = 100_000


@dataclass(frozen=True)
class _Rule:
    """One pattern line with where it came from (for :meth:`IgnoreRules.explain`)."""

    glob: Glob
    source: str
    text: str

    @property
    def negate(self) -> bool:
        return self.glob.negate

    def matches(self, path: str, is_dir: bool) -> bool:
        return self.glob.matches(path, is_dir)


def _git_rules(lines: Iterable[str], base: str, source: str) -> list[_Rule]:
    """The lines of a ``.gitignore`` found in folder ``base`` ("" = root)."""
    rules = []
    for line in lines:
        glob = Glob.parse(line.rstrip("\r\n"), base)
        if glob is not None:
            rules.append(_Rule(glob, source, glob.text.strip()))
    return rules


def _docker_rule(line: str, source: str) -> _Rule | None:
    """One ``.dockerignore`` line: a root-anchored pattern (Docker cleans every path first)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    negate = text.startswith("!")
    body = text[1:].strip() if negate else text
    body = os.path.normpath(body).replace(os.sep, "/").lstrip("/")
    if body in ("", "."):
        return None
    glob = Glob.parse(("!" if negate else "") + "/" + body)
    return _Rule(glob, source, text) if glob is not None else None


def _alternation(regexes: Sequence[str]) -> re.Pattern[str] | None:
    """One matcher for several rules' regexes; None when there are none."""
    if not regexes:
        return None
    return re.compile("|".join(f"(?:{rx})" for rx in regexes), re.DOTALL)


class _Run:
    """Rules of one sign that are consecutive in precedence order, matched as one.

    "The last matching pattern wins" then costs a couple of regex matches per run, not
    one per pattern; basename rules are matched against the last component only.
    """

    __slots__ = ("negate", "_dir_name", "_dir_path", "_file_name", "_file_path")

    def __init__(self, rules: Sequence[_Rule]) -> None:
        self.negate = rules[0].negate
        globs = [r.glob for r in rules]
        self._dir_name = _alternation([g.folder.pattern for g in globs if g.basename])
        self._dir_path = _alternation([g.folder.pattern for g in globs if not g.basename])
        self._file_name = _alternation([g.file.pattern for g in globs if g.basename])
        self._file_path = _alternation([g.file.pattern for g in globs if not g.basename])

    def matches(self, path: str, name: str, is_dir: bool) -> bool:
        name_rx, path_rx = (self._dir_name, self._dir_path) if is_dir else (self._file_name, self._file_path)
        return bool((name_rx is not None and name_rx.match(name)) or (path_rx is not None and path_rx.match(path)))


def _compile_runs(rules: Sequence[_Rule]) -> tuple[_Run, ...]:
    """Split rules, last first, into runs of equal sign."""
    runs: list[_Run] = []
    group: list[_Rule] = []
    for rule in reversed(rules):
        if group and group[0].negate != rule.negate:
            runs.append(_Run(group))
            group = []
        group.append(rule)
    if group:
        runs.append(_Run(group))
    return tuple(runs)


def _verdict(runs: tuple[_Run, ...], path: str, name: str, is_dir: bool) -> bool | None:
    """True = ignored, False = re-included, None = no pattern of this layer matches."""
    for run in runs:
        if run.matches(path, name, is_dir):
            return not run.negate
    return None


class IgnoreRules:
    """Decide whether a root-relative POSIX path is ignored; built once, called often.

    ``gitignores`` maps a folder relative to the checkout root ("" for the root) to the
    lines of the ``.gitignore`` found there; ``dockerignore`` holds the lines of the root
    ``.dockerignore``; ``extra`` holds gitignore-syntax lines from devenv's config.

    Example:
        >>> rules = IgnoreRules({"": ["*.log", "/build/", "!keep.log"], "web": ["dist"]})
        >>> rules("api/app.py", False), rules("api/x.log", False), rules("keep.log", False)
        (False, True, False)
        >>> rules("web/dist/main.js", False), rules("dist/x", False), rules("build", True)
        (True, False, True)
        >>> rules("web/node_modules/react/index.js", False)  # a built-in default
        True
        >>> rules.can_prune("web/node_modules")
        True
    """

    def __init__(
        self,
        gitignores: Mapping[str, Sequence[str]] | None = None,
        dockerignore: Sequence[str] = (),
        extra: Sequence[str] = (),
        *,
        defaults: Sequence[str] = DEFAULT_PATTERNS,
    ) -> None:
        gitignores = gitignores or {}
        # Defaults are absolute: a "!" among them would only weaken what must hold.
        self._defaults = _git_rules((d.removeprefix("!") for d in defaults), "", "defaults")
        self._extra = _git_rules(extra, "", "config")
        self._git: list[_Rule] = []
        # Deeper .gitignore files override shallower ones: give them later positions.
        for folder in sorted(gitignores, key=lambda f: (f.count("/") + bool(f), f)):
            base = folder.strip("/")
            source = f"{base}/.gitignore" if base else ".gitignore"
            self._git += _git_rules(gitignores[folder], base, source)
        self._docker = [rule for rule in (_docker_rule(line, ".dockerignore") for line in dockerignore) if rule]
        self._git_files = sum(1 for lines in gitignores.values() if lines)

        self._defaults_runs = _compile_runs(self._defaults)
        self._extra_runs = _compile_runs(self._extra)
        self._git_runs = _compile_runs(self._git)
        self._docker_runs = _compile_runs(self._docker)
        self._dir_cache: dict[str, bool] = {}

    def _match(self, path: str, is_dir: bool) -> bool:
        """Verdict for ``path`` itself, ancestors aside."""
        name = path.rpartition("/")[2]
        if _verdict(self._defaults_runs, path, name, is_dir):
            return True
        extra = _verdict(self._extra_runs, path, name, is_dir)
        if extra is not None:
            return extra
        return bool(
            _verdict(self._git_runs, path, name, is_dir) or _verdict(self._docker_runs, path, name, is_dir)
        )

    def _dir_ignored(self, path: str) -> bool:
        cache = self._dir_cache
        verdict = cache.get(path)
        if verdict is None:
            slash = path.rfind("/")
            verdict = (slash != -1 and self._dir_ignored(path[:slash])) or self._match(path, True)
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[path] = verdict
        return verdict

    def __call__(self, path: str, is_dir: bool) -> bool:
        """True if ``path`` (relative to the root, POSIX separators, no leading "./") is ignored."""
        if not path or path == ".":
            return False
        if is_dir:
            return self._dir_ignored(path)
        slash = path.rfind("/")
        if slash != -1 and self._dir_ignored(path[:slash]):
            return True
        return self._match(path, False)

    def can_prune(self, folder: str) -> bool:
        """True if nothing below ``folder`` can matter, so a walk need not enter it.

        Exact, not a heuristic: as in git, an excluded folder's content cannot be re-included.
        """
        return self(folder, True)

    def explain(self, path: str, is_dir: bool) -> str | None:
        """The pattern that decides ``path``, as ``"<source>: <pattern>"``; None if not ignored.

        For logs and diagnostics; slower than calling the rules.
        """
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            sub = "/".join(parts[:depth])
            sub_is_dir = is_dir or depth < len(parts)
            if not self._match(sub, sub_is_dir):
                continue
            for layer in (self._defaults, self._extra, self._git, self._docker):
                for rule in reversed(layer):
                    if rule.matches(sub, sub_is_dir):
                        if not rule.negate:
                            return f"{rule.source}: {rule.text}"
                        break
        return None

    def __repr__(self) -> str:
        return (
            f"IgnoreRules(defaults={len(self._defaults)}, extra={len(self._extra)}, "
            f"gitignore={len(self._git)} patterns in {self._git_files} files, "
            f"dockerignore={len(self._docker)})"
        )


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return []


def load_ignore_rules(root: Path, extra: Sequence[str] = (), *, defaults: Sequence[str] = DEFAULT_PATTERNS) -> IgnoreRules:
    """Read a checkout's ``.gitignore`` files and root ``.dockerignore`` into :class:`IgnoreRules`.

    Nested ``.gitignore`` files are found by a walk that skips ignored folders, as git
    itself never reads one inside an excluded folder.

    Example:
        >>> rules = load_ignore_rules(Path("."), extra=["docker/ragflow-logs"])  # doctest: +SKIP
        >>> rules("web/node_modules/x.js", False)  # doctest: +SKIP
        True
    """
    root = Path(root)
    gitignores: dict[str, list[str]] = {}
    root_lines = _read_lines(root / ".gitignore")
    if root_lines:
        gitignores[""] = root_lines
    dockerignore = _read_lines(root / ".dockerignore")

    def build() -> IgnoreRules:
        return IgnoreRules(gitignores, dockerignore, extra, defaults=defaults)

    rules = build()

    def enter(folder: str) -> bool:  # a nested .gitignore applies from its own folder down
        nonlocal rules
        lines = _read_lines(root / folder / ".gitignore") if folder else []
        if lines:
            gitignores[folder] = lines
            rules = build()
        return True

    for _ in walk_folders(os.fspath(root), lambda child: not rules.can_prune(child), enter=enter):
        pass
    return rules


def walk_folders(
    root: str, keep: Callable[[str], bool], start: str = "", enter: Callable[[str], bool] | None = None
) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    """Yield ``(folder, entries)`` for ``start`` and every folder below it that ``keep`` accepts.

    Folders are root-relative POSIX paths ("" is the root). ``enter(folder)`` runs before
    the folder is listed; False skips it and its subtree. Symlinked folders are not entered.
    """
    stack = [start]
    while stack:
        folder = stack.pop()
        if enter is not None and not enter(folder):
            continue
        try:
            with os.scandir(os.path.join(root, folder) if folder else root) as it:
                entries = list(it)
        except OSError:
            continue
        yield folder, entries
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            child = f"{folder}/{entry.name}" if folder else entry.name
            if is_dir and keep(child):
                stack.append(child)
