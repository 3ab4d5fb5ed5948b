"""Path patterns with gitignore semantics, from pathspec: one translator for devenv.

The watcher's ignore rules (``.gitignore``, ``.dockerignore``, ``watch.ignore``) and
the reload rules' path patterns both come through here. A :class:`Glob` answers for a
file or for a folder itself, on root-relative POSIX paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_DIR_GROUP = "(?P<ps_d>/)"  # pathspec's mark of "a folder this pattern names"
_OR_END = "(?:(?P<ps_d>/)|$)"
# git knows POSIX classes in brackets ("[[:digit:]]"); pathspec does not: spell them out first.
_POSIX_CLASSES = {"alnum": "a-zA-Z0-9", "alpha": "a-zA-Z", "blank": " \t", "digit": "0-9", "lower": "a-z",
                  "upper": "A-Z", "xdigit": "0-9A-Fa-f", "space": " \t\n\r\f\v"}
_POSIX_CLASS = re.compile(r"\[:(" + "|".join(_POSIX_CLASSES) + r"):\]")


@dataclass(frozen=True)
class Glob:
    """One gitignore-syntax line, compiled.

    ``file`` matches a file path; ``folder`` matches a folder path (no trailing slash)
    that the pattern names itself: ``abc/**`` matches what is inside ``abc``, not ``abc``.

    >>> g = Glob.parse("abc/**")
    >>> bool(g.file.match("abc/x")), bool(g.folder.match("abc")), bool(g.folder.match("abc/x"))
    (True, False, True)
    >>> Glob.parse("logs/").matches("logs", False), Glob.parse("logs/").matches("a/logs", True)
    (False, True)
    >>> Glob.parse("!keep.log").negate, Glob.parse("# comment")
    (True, None)
    """

    text: str
    negate: bool
    basename: bool  # slash-free and unanchored: matching the last component is enough
    file: re.Pattern[str]
    folder: re.Pattern[str]

    @classmethod
    def parse(cls, line: str, base: str = "") -> "Glob | None":
        """Compile a line of a ``.gitignore`` found in folder ``base`` ("" = the root); None for
        blank lines and comments."""
        regex, include = _translate(line)
        if regex is None:
            return None
        if not regex.startswith("^"):  # pathspec's few unanchored forms ("*", "*/") are searched
            regex = "^.*?" + regex
        body = line.strip().lstrip("!").rstrip("/")
        basename = not base and "/" not in body and regex.startswith("^(?:.+/)?")
        if basename:
            regex = "^" + regex[len("^(?:.+/)?"):]
        elif base:
            regex = "^" + re.escape(base) + "/" + regex[1:]
        # pathspec's regexes match a file by any prefix of its path (a folder it names, or the
        # file itself); devenv asks about one path at a time, ancestors first: match it exactly.
        exact = regex.replace(_OR_END, r"\Z")
        file_rx, folder_rx = _exact(exact.replace(_DIR_GROUP, "(?!)")), _exact(exact.replace(_DIR_GROUP, r"\Z"))
        return cls(line, not include, basename, re.compile(file_rx, re.DOTALL), re.compile(folder_rx, re.DOTALL))

    def matches(self, path: str, is_dir: bool) -> bool:
        subject = path.rpartition("/")[2] if self.basename else path
        return (self.folder if is_dir else self.file).match(subject) is not None


def _exact(regex: str) -> str:
    """A whole-path match: what does not end at the path's end covers what is below (``abc/**``)."""
    return regex if regex.endswith((r"\Z", "(?!)")) else regex + r".*\Z"


@lru_cache(maxsize=4096)
def _translate(line: str) -> tuple[str | None, bool | None]:
    from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern

    line = _POSIX_CLASS.sub(lambda m: _POSIX_CLASSES[m[1]], line)
    stripped = line.rstrip()
    if stripped.endswith("/**/") and stripped != "/**/":
        # git: "a/**/" names the folders inside a, not a itself; pathspec takes it for "a/"
        line = stripped[: -len("**/")] + "*/"
    return GitIgnoreSpecPattern.pattern_to_regex(line)


@lru_cache(maxsize=512)
def anchored(pattern: str) -> Glob:
    """A path pattern relative to the checkout's root (reload rules): ``*`` stays in one
    folder, ``**`` crosses folders, and a slash-free name means that file at the root.

    >>> anchored("api/**/*.py").matches("api/apps/x.py", False), anchored("api/*.py").matches("api/a/x.py", False)
    (True, False)
    >>> anchored("devenv.toml").matches("sub/devenv.toml", False)
    False
    """
    glob = Glob.parse("/" + pattern.lstrip("/"))
    if glob is None or glob.negate:
        raise ValueError(f"not a path pattern: {pattern!r}")
    return glob
