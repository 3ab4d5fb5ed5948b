"""IgnoreRules: a table of gitignore / dockerignore cases, git itself as referee, properties."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devenv.watch.ignore import DEFAULT_PATTERNS, IgnoreRules, load_ignore_rules

# (gitignores, path, is_dir, ignored): gitignore semantics with no built-in defaults.
GIT_CASES = [
    # comments, blank lines, escapes, trailing spaces
    ({"": ["# x.py", "", "   "]}, "x.py", False, False),
    ({"": ["# x.py"]}, "# x.py", False, False),
    ({"": ["\\#x.py"]}, "#x.py", False, True),
    ({"": ["\\!x.py"]}, "!x.py", False, True),
    ({"": ["foo   "]}, "foo", False, True),
    ({"": ["foo\\ "]}, "foo ", False, True),
    # negation: the last match wins
    ({"": ["*.log", "!keep.log"]}, "a.log", False, True),
    ({"": ["*.log", "!keep.log"]}, "keep.log", False, False),
    ({"": ["*.log", "!keep.log"]}, "sub/keep.log", False, False),
    ({"": ["!keep.log", "*.log"]}, "keep.log", False, True),
    # nothing below an excluded folder can be re-included ...
    ({"": ["build/", "!build/keep.txt"]}, "build/keep.txt", False, True),
    ({"": ["build", "!build/sub/"]}, "build/sub/x", False, True),
    # ... but the folder's content can be excluded selectively
    ({"": ["build/*", "!build/keep.txt"]}, "build/keep.txt", False, False),
    ({"": ["build/*", "!build/keep.txt"]}, "build/other.txt", False, True),
    ({"": ["build/*", "!build/keep.txt"]}, "build", True, False),
    # anchoring: a leading or middle slash anchors, a trailing one alone does not
    ({"": ["/todo"]}, "todo", False, True),
    ({"": ["/todo"]}, "sub/todo", False, False),
    ({"": ["doc/frotz"]}, "doc/frotz", False, True),
    ({"": ["doc/frotz"]}, "a/doc/frotz", False, False),
    ({"": ["frotz/"]}, "a/frotz", True, True),
    ({"": ["frotz"]}, "a/b/frotz", False, True),
    # trailing slash: folders only
    ({"": ["logs/"]}, "logs", True, True),
    ({"": ["logs/"]}, "logs", False, False),
    ({"": ["logs/"]}, "a/logs/x.txt", False, True),
    # wildcards never cross a slash
    ({"": ["api/*.py"]}, "api/x.py", False, True),
    ({"": ["api/*.py"]}, "api/sub/x.py", False, False),
    ({"": ["*"]}, "anything/at/all", False, True),
    ({"": ["file?.txt"]}, "file1.txt", False, True),
    ({"": ["file?.txt"]}, "file10.txt", False, False),
    ({"": ["a?b"]}, "a/b", False, False),
    # bracket expressions
    ({"": ["*.py[co]"]}, "x.pyc", False, True),
    ({"": ["*.py[co]"]}, "x.pyd", False, False),
    ({"": ["[!a]*.md"]}, "b.md", False, True),
    ({"": ["[!a]*.md"]}, "a.md", False, False),
    ({"": ["[^a]*.md"]}, "a.md", False, False),
    ({"": ["x[0-9].txt"]}, "x7.txt", False, True),
    ({"": ["x[0-9].txt"]}, "xa.txt", False, False),
    ({"": ["v[[:digit:]]"]}, "v3", False, True),
    ({"": ["v[[:digit:]]"]}, "vx", False, False),
    # ** leading, trailing, middle
    ({"": ["**/foo"]}, "foo", False, True),
    ({"": ["**/foo"]}, "a/b/foo", False, True),
    ({"": ["**/foo/bar"]}, "a/foo/bar", False, True),
    ({"": ["**/foo/bar"]}, "foo/bar", False, True),
    ({"": ["abc/**"]}, "abc/x", False, True),
    ({"": ["abc/**"]}, "abc/x/y", False, True),
    ({"": ["abc/**"]}, "abc", True, False),
    ({"": ["abc/**"]}, "x/abc/y", False, False),
    ({"": ["a/**/b"]}, "a/b", False, True),
    ({"": ["a/**/b"]}, "a/x/b", False, True),
    ({"": ["a/**/b"]}, "a/x/y/b", False, True),
    ({"": ["a/**/b"]}, "a/xb", False, False),
    ({"": ["a**z"]}, "abcz", False, True),
    ({"": ["a**z"]}, "ab/cz", False, False),
    # nested .gitignore files apply to their folder, and deeper ones win
    ({"web": ["dist"]}, "web/dist", True, True),
    ({"web": ["dist"]}, "web/x/dist", True, True),
    ({"web": ["dist"]}, "dist", True, False),
    ({"web": ["/only-here"]}, "web/only-here", False, True),
    ({"web": ["/only-here"]}, "web/x/only-here", False, False),
    ({"web": ["src/gen/"]}, "web/src/gen/a.ts", False, True),
    ({"web": ["src/gen/"]}, "src/gen/a.ts", False, False),
    ({"": ["*.gen"], "web": ["!keep.gen"]}, "web/a/keep.gen", False, False),
    ({"": ["*.gen"], "web": ["!keep.gen"]}, "keep.gen", False, True),
    ({"": ["web/"], "web": ["!x"]}, "web/x", False, True),
    ({"a": ["*.txt"], "a/b": ["!*.txt"]}, "a/b/c.txt", False, False),
    ({"a": ["*.txt"], "a/b": ["!*.txt"]}, "a/c.txt", False, True),
]


@pytest.mark.parametrize(("gitignores", "path", "is_dir", "ignored"), GIT_CASES)
def test_gitignore_semantics(gitignores: dict[str, list[str]], path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules(gitignores, defaults=())(path, is_dir) is ignored


DOCKER = ["# comment", "docs", "*.md", "!README.md", "**/*.bak", "/tmp/", "./out", "conf/*.local", " spaced "]


@pytest.mark.parametrize(
    ("path", "is_dir", "ignored"),
    [
        ("docs/a.txt", False, True),
        ("a.md", False, True),
        ("sub/a.md", False, False),  # root-anchored: "*" stays in the root folder
        ("README.md", False, False),
        ("a/b/c.bak", False, True),
        ("c.bak", False, True),
        ("tmp/x", False, True),
        ("out/x", False, True),
        ("conf/a.local", False, True),
        ("conf/sub/a.local", False, False),
        ("spaced", False, True),
        ("comment", False, False),
        ("api/app.py", False, False),
    ],
)
def test_dockerignore_semantics(path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules(dockerignore=DOCKER, defaults=())(path, is_dir) is ignored


def test_sources_combine_with_config_first_and_defaults_absolute() -> None:
    rules = IgnoreRules(
        {"": ["*.env", "*.log"]},
        dockerignore=["!x.log", "secrets"],
        extra=["!api/local.env", "docker/ragflow-logs", "!node_modules"],
    )
    assert rules("other.env", False)
    assert not rules("api/local.env", False)  # config re-includes what .gitignore ignores
    assert rules("x.log", False)  # .dockerignore cannot re-include what .gitignore ignores
    assert rules("secrets/key", False)  # either file may ignore
    assert rules("docker/ragflow-logs/ragflow.log", False)
    assert rules("node_modules/x/index.js", False)  # defaults cannot be negated


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        "sub/.git",
        "api/__pycache__/app.cpython-311.pyc",
        "api/app.pyc",
        "web/node_modules/react/index.js",
        ".venv/bin/python",
        "venv/lib/x.py",
        ".mypy_cache/x",
        ".pytest_cache/v/x",
        ".ruff_cache/x",
        ".idea/workspace.xml",
        "api/.app.py.swp",
        "api/.app.py.swx",
        "api/app.py.swp",
        "api/app.py~",
        "api/.#app.py",
        "api/#app.py#",
        "api/4913",
        "api/app.py.tmp",
        "down/file.crdownload",
        ".DS_Store",
        ".devenv/state.json",
        "api/sedAb12Cd",  # sed -i's temporary file
    ],
)
def test_defaults_ignore_vcs_caches_and_editor_temp_files(path: str) -> None:
    assert IgnoreRules()(path, False)


@pytest.mark.parametrize(
    "path", ["api/app.py", "README.md", ".gitignore", ".github/workflows/ci.yml", "x.tmpl", "web/src/App.tsx",
             "api/sedfoo.py", "api/sediment"]  # (an extensionless 9-letter "sed..." name is taken for sed's)
)
def test_defaults_keep_sources(path: str) -> None:
    assert not IgnoreRules()(path, False)


def test_can_prune_and_repr_and_explain() -> None:
    rules = IgnoreRules({"": ["dist/", "*.log"], "web": ["build"]}, ["docs"], ["extra-dir"])
    assert rules.can_prune("web/node_modules")
    assert rules.can_prune("web/build")
    assert not rules.can_prune("web/src")
    assert repr(rules) == (
        f"IgnoreRules(defaults={len(DEFAULT_PATTERNS)}, extra=1, gitignore=3 patterns in 2 files, dockerignore=1)"
    )
    assert rules.explain("web/build/x.js", False) == "web/.gitignore: build"
    assert rules.explain("a/node_modules/b/c", False) == "defaults: node_modules"
    assert rules.explain("docs/x", False) == ".dockerignore: docs"
    assert rules.explain("api/app.py", False) is None


def test_load_ignore_rules_reads_root_nested_and_dockerignore(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.log\n/docker/ragflow-logs\n")
    (tmp_path / ".dockerignore").write_text("docs\n")
    (tmp_path / "web" / "src").mkdir(parents=True)
    (tmp_path / "web" / ".gitignore").write_text("dist\n")
    # A .gitignore inside an ignored folder is never read, as in git.
    (tmp_path / "web" / "node_modules" / "pkg").mkdir(parents=True)
    (tmp_path / "web" / "node_modules" / "pkg" / ".gitignore").write_text("!*\n")
    (tmp_path / "web" / "src" / ".gitignore").write_text("*.gen.ts\n")

    rules = load_ignore_rules(tmp_path, extra=["scratch"])

    assert rules("a.log", False)
    assert rules("docker/ragflow-logs/x", False)
    assert rules("docs/index.md", False)
    assert rules("web/dist/main.js", False)
    assert rules("web/src/api.gen.ts", False)
    assert not rules("web/api.gen.ts", False)
    assert rules("scratch/x", False)
    assert not rules("web/src/App.tsx", False)
    assert "in 3 files" in repr(rules)


def test_load_ignore_rules_without_any_file(tmp_path: Path) -> None:
    rules = load_ignore_rules(tmp_path)
    assert not rules("api/app.py", False)
    assert rules(".git/config", False)


# --- git as referee -------------------------------------------------------------------

git = shutil.which("git")
needs_git = pytest.mark.skipif(git is None, reason="git is not installed")


def git_check_ignore(repo: Path, gitignores: dict[str, list[str]], paths: list[tuple[str, bool]]) -> set[str]:
    """The subset of ``paths`` that git itself ignores, given these .gitignore files."""
    if not (repo / ".git").exists():
        subprocess.run([git, "init", "-q", str(repo)], check=True)
    for folder, lines in gitignores.items():
        target = repo / folder / ".gitignore"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
    for path, is_dir in paths:
        full = repo / path
        if is_dir:
            full.mkdir(parents=True, exist_ok=True)
        elif not full.exists():
            full.parent.mkdir(parents=True, exist_ok=True)
            full.touch()
    out = subprocess.run(
        [git, "-C", str(repo), "check-ignore", "--no-index", "--stdin", "-z", "-n", "-v"],
        input="\0".join(p for p, _ in paths) + "\0",
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split("\0")
    # -v -z prints source, line, pattern, path per entry; an empty source means "not ignored".
    return {out[i + 3] for i in range(0, len(out) - 3, 4) if out[i] and not out[i + 2].startswith("!")}


@needs_git
@pytest.mark.parametrize(("gitignores", "path", "is_dir", "ignored"), GIT_CASES)
def test_git_agrees_with_the_table(
    tmp_path: Path, gitignores: dict[str, list[str]], path: str, is_dir: bool, ignored: bool
) -> None:
    assert (path in git_check_ignore(tmp_path, gitignores, [(path, is_dir)])) is ignored


SEGMENTS = st.sampled_from(["a", "b", "ab", "*", "?", "a*", "*.py", "*.log", "[ab]", "[!a]", "lib", "**"])


@st.composite
def patterns(draw: st.DrawFn) -> str:
    segs = draw(st.lists(SEGMENTS, min_size=1, max_size=3))
    if segs == ["**"] * len(segs):
        segs.append("a")
    text = "/".join(segs)
    if draw(st.booleans()):
        text = "/" + text
    if draw(st.booleans()):
        text += "/"
    if draw(st.integers(0, 3)) == 0:
        text = "!" + text
    return text


TREE = [
    ("a", True),
    ("a/b", True),
    ("a/b/y.log", False),
    ("a/b/ab", False),
    ("a/x.py", False),
    ("a/lib", True),
    ("a/lib/ab", False),
    ("lib", True),
    ("lib/b", True),
    ("lib/b/x.py", False),
    ("lib/x.py", False),
    ("lib/a", True),
    ("lib/a/b", True),
    ("lib/a/b/y.log", False),
    ("x.py", False),
    ("ab", False),
    ("b", True),
    ("b/a", False),
]


@needs_git
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(root=st.lists(patterns(), max_size=4), nested=st.lists(patterns(), max_size=3))
def test_git_agrees_on_generated_patterns(tmp_path_factory: pytest.TempPathFactory, root: list[str], nested: list[str]) -> None:
    repo = tmp_path_factory.mktemp("repo")
    gitignores = {"": root, "lib": nested}
    expected = git_check_ignore(repo, gitignores, TREE)
    rules = IgnoreRules(gitignores, defaults=())
    assert {p for p, is_dir in TREE if rules(p, is_dir)} == expected


# --- properties -----------------------------------------------------------------------

NAME = st.text(alphabet="abcxyz._-", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
REL_PATH = st.lists(NAME, min_size=1, max_size=4).map("/".join)
ANY_PATTERN = st.one_of(patterns(), st.sampled_from(["!node_modules", "!**", "!.git/", "!__pycache__/**", "!*"]))


@given(
    lines=st.lists(ANY_PATTERN, max_size=6),
    folder=REL_PATH,
    below=REL_PATH,
    is_dir=st.booleans(),
)
def test_anything_below_an_ignored_folder_is_ignored(lines: list[str], folder: str, below: str, is_dir: bool) -> None:
    rules = IgnoreRules({"": lines}, defaults=())
    if rules(folder, True):
        assert rules(f"{folder}/{below}", is_dir)
        assert rules.can_prune(folder)


@given(
    lines=st.lists(ANY_PATTERN, max_size=6),
    extra=st.lists(ANY_PATTERN, max_size=3),
    prefix=st.lists(NAME, max_size=3).map("/".join),
    default=st.sampled_from([".git", "node_modules", "__pycache__"]),
    below=REL_PATH,
    is_dir=st.booleans(),
)
def test_defaults_always_ignore_vcs_and_dependency_trees(
    lines: list[str], extra: list[str], prefix: str, default: str, below: str, is_dir: bool
) -> None:
    rules = IgnoreRules({"": lines}, dockerignore=lines, extra=extra)
    folder = f"{prefix}/{default}" if prefix else default
    assert rules(folder, True)
    assert rules(f"{folder}/{below}", is_dir)


SAFE_NAME = st.text(alphabet="abcdefgh", min_size=1, max_size=8).filter(lambda s: s not in ("venv",))


@given(
    path=st.lists(SAFE_NAME, min_size=1, max_size=5).map("/".join),
    is_dir=st.booleans(),
    blank=st.lists(st.sampled_from(["", "   ", "# comment", "#*"]), max_size=3),
)
def test_no_patterns_means_only_defaults(path: str, is_dir: bool, blank: list[str]) -> None:
    assert not IgnoreRules()(path, is_dir)
    assert not IgnoreRules({"": blank, "sub": blank}, blank, blank)(path, is_dir)
    assert IgnoreRules({"": blank}, blank, blank)(f"{path}/node_modules/x", is_dir)


@given(paths=st.lists(st.tuples(REL_PATH, st.booleans()), max_size=12), lines=st.lists(ANY_PATTERN, max_size=5))
def test_answers_do_not_depend_on_call_order(paths: list[tuple[str, bool]], lines: list[str]) -> None:
    warm = IgnoreRules({"": lines})
    first = [warm(p, d) for p, d in paths]
    assert [IgnoreRules({"": lines})(p, d) for p, d in reversed(paths)][::-1] == first
