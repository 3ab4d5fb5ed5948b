"""`devenv init` and `devenv plan` through typer's CliRunner, with a FakeEngine behind the one seam.

Bad input must give a clear message, the documented exit code, and write
nothing: each such test compares the checkout's file tree before and after.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from devenv.core.config import parse_config
from devenv.core.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from devenv.core.override import OVERRIDE_NAME, render
from devenv.engine import Target
from tests.fakes import Devenv, compose_config, config_failure
from tests.fixtures import EXPECTED, RELEASES, make_checkout, plan_for

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "golden"


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under root: folders map to None, files to their bytes."""
    return {p.relative_to(root).as_posix(): (None if p.is_dir() else p.read_bytes()) for p in sorted(root.rglob("*"))}


def override_of(root: Path) -> Path:
    return root / "docker" / OVERRIDE_NAME


# --- devenv plan -----------------------------------------------------------------------------

@pytest.mark.parametrize("release", RELEASES)
def test_plan_writes_the_golden_override_and_the_folders(devenv: Devenv, checkout, release: str) -> None:
    root = checkout(release)
    result = devenv("-C", root, "plan")
    assert result.exit_code == EXIT_OK, result.stderr
    assert override_of(root).read_bytes() == (GOLDEN / f"{release}.yml").read_bytes()
    assert f"wrote {override_of(root)}" in result.stderr
    assert f"service {EXPECTED[release].service} in project docker" in result.stdout
    for pkg in EXPECTED[release].packages:
        assert f"/ragflow/{pkg}" in result.stdout
    for folder in (".devenv/cache/uv", ".devenv/cache/pycache", "docker/ragflow-logs", "rag/res/deepdoc"):
        assert (root / folder).is_dir(), folder
    assert (root / ".devenv" / ".gitignore").is_file()
    # the model first (no override), then compose checks the new override before it replaces the old
    first, second = [c for c in devenv.engine.calls if c.name == "compose_config"]
    assert [c.name for c in devenv.engine.calls] == ["compose_config", "image_id", "compose_config"]  # no image: nothing baked
    assert first.args[0] == Target(root / "docker", (root / "docker" / "docker-compose.yml",), None)
    checked = second.args[0].files[-1]
    assert checked.parent == root / "docker" and checked.name.startswith(".devenv-check-") and not checked.exists()


def test_plan_twice_is_unchanged_and_asks_compose_once(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    devenv("-C", root, "plan")
    before = tree(root)
    devenv.engine.calls.clear()
    result = devenv("-C", root, "plan")
    assert result.exit_code == EXIT_OK and f"unchanged: {override_of(root)}" in result.stderr
    assert devenv.engine.names() == ["compose_config", "image_id"] and tree(root) == before


def test_plan_from_a_subfolder_and_quiet(devenv: Devenv, checkout) -> None:
    root = checkout("v0.22.0")
    result = devenv("-q", "-C", root / "rag" / "svr", "plan")
    assert result.exit_code == EXIT_OK and result.stderr == ""
    assert override_of(root).is_file()


def test_plan_stdout_writes_nothing(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    before = tree(root)
    result = devenv("-C", root, "plan", "--stdout")
    assert result.exit_code == EXIT_OK
    assert result.stdout == (GOLDEN / "v0.24.0.yml").read_text(encoding="utf-8")
    assert tree(root) == before and devenv.engine.names() == ["compose_config", "image_id"]


def test_plan_debug(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    result = devenv("-C", root, "plan", "--debug", "--stdout")
    assert "- 127.0.0.1:5678:5678" in result.stdout and "RAGFLOW_DEBUGPY_LISTEN: '5678'" in result.stdout


def test_plan_warnings_are_printed(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    (root / "devenv.toml").write_text('[mounts]\nextra = ["elsewhere:/ragflow/logs"]\n')
    result = devenv("-C", root, "plan")
    assert result.exit_code == EXIT_OK
    assert "[devenv] warning: ragflow-cpu already mounts /ragflow/logs" in result.stderr


def test_check_exit_codes(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    missing = devenv("-C", root, "plan", "--check")
    assert missing.exit_code == EXIT_FAILED and "is missing" in missing.stderr and "run `devenv plan`" in missing.stderr
    assert not override_of(root).exists()
    devenv("-C", root, "plan")
    current = devenv("-C", root, "plan", "--check")
    assert current.exit_code == EXIT_OK and "is up to date" in current.stderr
    (root / "devenv.toml").write_text('[server]\nstop_grace_period = "5s"\n')
    stale = devenv("-C", root, "plan", "--check")
    assert stale.exit_code == EXIT_FAILED and "is stale" in stale.stderr and "--force" not in stale.stderr
    (root / "devenv.toml").unlink()
    override_of(root).write_text(override_of(root).read_text().replace("init: true", "init: false"))
    edited = devenv("-C", root, "plan", "--check")
    assert edited.exit_code == EXIT_FAILED and "is edited" in edited.stderr and "--force" in edited.stderr


def test_stale_override_is_updated(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    devenv("-C", root, "plan")
    (root / "devenv.toml").write_text("[mounts]\ncaches = false\n")
    result = devenv("-C", root, "plan")
    assert result.exit_code == EXIT_OK and f"updated {override_of(root)}" in result.stderr
    assert "/root/.cache/uv" not in override_of(root).read_text()
    assert not (root / "docker" / (OVERRIDE_NAME + ".bak")).exists()


@pytest.mark.parametrize("kind", ["edited", "foreign"])
def test_hand_edited_override_is_refused_then_forced(devenv: Devenv, checkout, kind: str) -> None:
    root = checkout("v0.24.0")
    devenv("-C", root, "plan")
    path = override_of(root)
    mine = path.read_text().replace("stop_grace_period: 2s", "stop_grace_period: 9s") if kind == "edited" else "services: {}\n"
    path.write_text(mine)
    before = tree(root)
    refused = devenv("-C", root, "plan")
    assert refused.exit_code == EXIT_USAGE
    what = "was edited by hand since devenv wrote it" if kind == "edited" else "was not written by devenv"
    assert f"[devenv] error: {path} {what}; devenv will not overwrite it" in refused.stderr
    assert "devenv plan --force" in refused.stderr
    assert tree(root) == before
    forced = devenv("-C", root, "plan", "--force")
    assert forced.exit_code == EXIT_OK and f"replaced {path}" in forced.stderr
    assert path.read_bytes() == (GOLDEN / "v0.24.0.yml").read_bytes()
    assert (root / "docker" / (OVERRIDE_NAME + ".bak")).read_text() == mine


def test_compose_refuses_the_new_override_and_nothing_is_written(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    before = tree(root)
    def config(target: Target):  # answers for the stack, then refuses the new override
        if len(target.files) > 1:
            raise config_failure(["docker", "compose"], "services.ragflow-cpu.volumes.0 additional properties 'bad' not allowed", None)
        return compose_config(target)

    devenv.engine.config = config
    result = devenv("-C", root, "plan")
    assert result.exit_code == EXIT_USAGE
    assert "the compose files do not load: services.ragflow-cpu.volumes.0" in result.stderr
    assert tree(root) == before


# --- bad input: a clear message, and nothing written -----------------------------------------

def _broken_yaml(root: Path) -> None:
    (root / "docker" / "docker-compose.yml").write_text("services:\n  ragflow-cpu:\n    image: x\n   volumes: [\n")


BAD_INPUT: list[tuple[str, Callable[[Path], None], dict[str, str], int, list[str]]] = [
    ("no docker/.env", lambda r: (r / "docker" / ".env").unlink(), {}, EXIT_USAGE,
     ["docker/.env is missing", "git checkout -- docker/.env"]),
    ("broken YAML", _broken_yaml, {}, EXIT_USAGE,
     ["the compose files do not load: yaml: line 4", "fix: the YAML error is in docker/docker-compose.yml (line 4: "]),
    ("unknown profile in the environment", lambda r: None, {"DEVENV_COMPOSE_PROFILES": "cpu,nosuch"}, EXIT_USAGE,
     ["unknown compose profile 'nosuch' (from DEVENV_COMPOSE_PROFILES)", "docker compose config --profiles"]),
    ("unknown profile in devenv.toml", lambda r: (r / "devenv.toml").write_text('[compose]\nprofiles = ["gpu", "nosuch"]\n'), {},
     EXIT_USAGE, ["unknown compose profile 'nosuch' (from devenv.toml)"]),
    ("bad devenv.toml key", lambda r: (r / "devenv.toml").write_text("[mounts]\nmodes = 'checkout'\n"), {}, EXIT_USAGE,
     ["devenv.toml: unknown key mounts.modes", "the keys of [mounts] are: mode, packages"]),
    ("bad devenv.toml value", lambda r: (r / "devenv.toml").write_text("[mounts]\nmode = 'all'\n"), {}, EXIT_USAGE,
     ["devenv.toml: mounts.mode = 'all' is not allowed", "use one of: 'packages', 'checkout'"]),
    ("bad devenv.toml syntax", lambda r: (r / "devenv.toml").write_text("[mounts\n"), {}, EXIT_USAGE,
     ["devenv.toml is not valid TOML"]),
    ("bad DEVENV_ value", lambda r: None, {"DEVENV_SERVER_INIT": "maybe"}, EXIT_USAGE,
     ["environment variable DEVENV_SERVER_INIT = 'maybe' must be true or false"]),
    ("bad package", lambda r: (r / "devenv.toml").write_text('[mounts]\npackages = ["conf"]\n'), {}, EXIT_USAGE,
     ["mounts.packages: mounting 'conf' would hide what the image baked there"]),
    ("bad extra mount", lambda r: None, {"DEVENV_MOUNTS_EXTRA": "x:/ragflow/.venv"}, EXIT_USAGE,
     ["mounts.extra: 'x:/ragflow/.venv' would hide /ragflow/.venv from the image"]),
    ("a mounted file is missing", lambda r: (r / "docker" / "entrypoint.sh").unlink(), {}, EXIT_USAGE,
     ["the stack mounts docker/entrypoint.sh, which is missing", "git checkout -- docker/entrypoint.sh"]),
    ("a file where a folder goes", lambda r: (r / "docker" / "ragflow-logs").write_text("x"), {}, EXIT_USAGE,
     ["ragflow-logs should be a folder but is a file"]),
    ("no server enabled", lambda r: None, {"DEVICE": "none"}, EXIT_USAGE,
     ["no RAGFlow server service among the enabled services", "fix: enable its profile"]),
    ("compose file in devenv.toml missing", lambda r: (r / "devenv.toml").write_text('[compose]\nfiles = ["docker/nope.yml"]\n'), {},
     EXIT_USAGE, ["compose file", "nope.yml does not exist", "compose.files"]),
]


@pytest.mark.parametrize(("what", "spoil", "environ", "code", "words"), BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
@pytest.mark.parametrize("args", [("plan",), ("plan", "--check"), ("plan", "--stdout")], ids=["plan", "check", "stdout"])
def test_bad_input_writes_nothing(devenv: Devenv, checkout, what, spoil, environ, code, words, args) -> None:
    root = checkout("v0.24.0")
    spoil(root)
    devenv.environ.update(environ)
    before = tree(root)
    result = devenv("-C", root, *args)
    if args != ("plan",) and what in ("a mounted file is missing", "a file where a folder goes"):
        # only writing checks the host side; --check and --stdout never touch it
        assert result.exit_code in (EXIT_OK, EXIT_FAILED)
    else:
        assert result.exit_code == code, result.stderr
        assert result.stderr.startswith("[devenv] error: ")
        for word in words:
            assert word in result.stderr
    assert tree(root) == before


def test_not_a_checkout(devenv: Devenv, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    before = tree(tmp_path)
    for command in ("plan", "init"):
        result = devenv("-C", tmp_path / "empty", command)
        assert result.exit_code == EXIT_USAGE
        assert "is not inside a RAGFlow checkout (no docker/docker-compose.yml here or above)" in result.stderr
        assert "fix: cd into your RAGFlow checkout or pass -C DIR" in result.stderr
    missing = devenv("-C", tmp_path / "nowhere", "plan")
    assert missing.exit_code == EXIT_USAGE and "does not exist or is not a folder" in missing.stderr
    assert tree(tmp_path) == before and devenv.engine.calls == []


def test_a_stack_folder_with_a_suffix_is_not_a_missing_file(devenv: Devenv, checkout) -> None:
    # RAGFlow's oceanbase service binds ./oceanbase/init.d, a folder whose name looks like a file's
    root = checkout("v0.24.0")
    (root / "docker" / "oceanbase" / "init.d").mkdir(parents=True)
    (root / "docker" / "oceanbase" / "init.d" / "vec_memory.sql").write_text("SELECT 1;\n")
    compose = root / "docker" / "docker-compose-base.yml"
    compose.write_text(compose.read_text().replace(
        "      - ./init.sql:/data/application/init.sql\n",
        "      - ./init.sql:/data/application/init.sql\n      - ./oceanbase/init.d:/root/boot/init.d\n"))
    result = devenv("-C", root, "plan")
    assert result.exit_code == EXIT_OK, result.stderr


def test_checkout_path_with_spaces_and_non_ascii(devenv: Devenv, tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "my projects" / "ragflow été 数据", "v0.27.0")
    result = devenv("-C", root, "plan")
    assert result.exit_code == EXIT_OK, result.stderr
    assert override_of(root).read_bytes() == (GOLDEN / "v0.27.0.yml").read_bytes()
    assert (root / ".devenv" / "cache" / "pip").is_dir() and (root / "tools" / "scripts").is_dir()
    assert str(root / "docker" / OVERRIDE_NAME) in result.stderr
    check = devenv("-C", root, "plan", "--check")
    assert check.exit_code == EXIT_OK


def test_secrets_never_printed(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    from devenv.engine.failures import compose_failure

    devenv.engine.config = compose_failure("the compose files do not load", ["docker"], 1, "",
                                           "invalid interpolation: fixture-mysql-pw", None)
    result = devenv("-C", root, "plan")
    assert "fixture-mysql-pw" not in result.stderr + result.stdout and "****" in result.stderr


# --- devenv init ------------------------------------------------------------------------------

@pytest.mark.parametrize("release", RELEASES)
def test_init_writes_a_commented_config_that_changes_nothing(devenv: Devenv, checkout, release: str) -> None:
    root = checkout(release)
    result = devenv("-C", root, "init")
    assert result.exit_code == EXIT_OK, result.stderr
    text = (root / "devenv.toml").read_text(encoding="utf-8")
    parsed = parse_config(text)
    assert parsed.values == {} and parsed.rules == ()
    exp = EXPECTED[release]
    assert f"server service {exp.service}" in text and ",".join(exp.profiles) in text
    assert f'# packages = {str(list(exp.packages)).replace(chr(39), chr(34))}  # detected' in text
    # uncommenting the detected values gives a valid file with the same plan
    uncommented = "\n".join(
        line[2:].split("  # ")[0] if line.endswith(("  # detected", "  # default")) else line for line in text.splitlines()
    )
    assert parse_config(uncommented).values
    assert render(plan_for(root, config_text=uncommented)) == render(plan_for(root))
    assert devenv.engine.calls == []  # init asks no engine


def test_init_refuses_to_overwrite_then_force_keeps_a_backup(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    (root / "devenv.toml").write_text("[watch]\ndebounce_ms = 90\n")
    before = tree(root)
    refused = devenv("-C", root, "init")
    assert refused.exit_code == EXIT_USAGE
    assert "devenv.toml already exists; devenv init does not overwrite it" in refused.stderr
    assert "devenv init --force" in refused.stderr
    assert tree(root) == before
    forced = devenv("-C", root, "init", "--force")
    assert forced.exit_code == EXIT_OK
    assert (root / "devenv.toml.bak").read_text() == "[watch]\ndebounce_ms = 90\n"
    assert parse_config((root / "devenv.toml").read_text()).values == {}


def test_init_without_env_file_writes_nothing(devenv: Devenv, checkout) -> None:
    root = checkout("v0.24.0")
    (root / "docker" / ".env").unlink()
    before = tree(root)
    result = devenv("-C", root, "init")
    assert result.exit_code == EXIT_USAGE and "docker/.env is missing" in result.stderr
    assert tree(root) == before


def test_init_then_plan(devenv: Devenv, checkout) -> None:
    root = checkout("v0.22.0")
    assert devenv("-C", root, "init").exit_code == EXIT_OK
    assert devenv("-C", root, "plan").exit_code == EXIT_OK
    assert override_of(root).read_bytes() == (GOLDEN / "v0.22.0.yml").read_bytes()


BAKED = "rag/res/huqie.txt.trie"


def _bake(devenv: Devenv, root: Path) -> bytes:
    (root / ".gitignore").write_text("*.trie\n")  # as RAGFlow's checkout ignores it
    trie = b"trie built at image build time\n" * 100
    devenv.engine.bake("infiniflow/ragflow:v0.22.0", {
        f"/ragflow/{BAKED}": trie,  # git-ignored: no checkout has it
        "/ragflow/rag/res/deepdoc/det.onnx": b"model",  # shown by the models volume already
        "/ragflow/rag/svr/task_executor.py": b"# the image's copy of a checkout file\n",
        "/ragflow/rag/nlp/removed.py": b"# a module the checkout no longer has\n",  # not ignored: stays hidden
    })
    return trie


def test_a_file_the_image_baked_under_a_mounted_package_stays_visible(devenv: Devenv, checkout) -> None:
    root = checkout("v0.22.0")
    trie = _bake(devenv, root)
    (root / "rag" / "svr").mkdir(parents=True, exist_ok=True)
    (root / "rag" / "svr" / "task_executor.py").write_text("# the checkout's\n")
    result = devenv("-C", root, "plan")
    assert result.exit_code == EXIT_OK, result.stderr
    override = override_of(root).read_text()
    key = devenv.engine.image_id("infiniflow/ragflow:v0.22.0").split(":")[1][:12]
    copy = root / ".devenv" / "cache" / "baked" / key / BAKED
    assert f"source: ../.devenv/cache/baked/{key}/{BAKED}" in override and f"target: /ragflow/{BAKED}" in override
    assert "det.onnx" not in override and "task_executor" not in override and "removed.py" not in override
    assert copy.read_bytes() == trie  # unchanged, from the image
    assert (root / BAKED).is_file() and (root / BAKED).stat().st_size == 0  # the mount point, made as the user
    assert f"/ragflow/{BAKED}" in result.stdout and "baked into the image" in result.stdout


def test_the_baked_files_are_read_once_per_image_and_kept_across_plans(devenv: Devenv, checkout) -> None:
    root = checkout("v0.22.0")
    _bake(devenv, root)
    devenv("-C", root, "plan")
    before = override_of(root).read_bytes()
    devenv.engine.calls.clear()
    result = devenv("-C", root, "plan")
    assert result.exit_code == EXIT_OK and f"unchanged: {override_of(root)}" in result.stderr
    assert override_of(root).read_bytes() == before  # the empty mount point is devenv's: still planned
    assert "image_files" not in devenv.engine.names() and "image_extract" not in devenv.engine.names()


def test_a_checkout_that_has_the_file_mounts_its_own(devenv: Devenv, checkout) -> None:
    root = checkout("v0.22.0")
    _bake(devenv, root)
    (root / BAKED).parent.mkdir(parents=True, exist_ok=True)
    (root / BAKED).write_bytes(b"the developer's own trie")
    devenv("-C", root, "plan")
    assert "baked" not in override_of(root).read_text()
    assert (root / BAKED).read_bytes() == b"the developer's own trie"
