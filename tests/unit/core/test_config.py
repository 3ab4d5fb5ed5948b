"""devenv.toml: the schema, every bad input, and the precedence argument > DEVENV_* > file > default."""

from __future__ import annotations

from typing import Any

import pytest

from devenv.core.config import KEY_BY_NAME, KEYS, RULE_ACTIONS, SECTIONS, FileConfig, Rule, parse_config, resolve, validate
from devenv.core.errors import ConfigError

# A good value for each key, different from its default.
GOOD: dict[str, Any] = {
    "compose.files": ["docker/docker-compose.yml", "docker/docker-compose-macos.yml"],
    "compose.profiles": ["infinity", "cpu"],
    "compose.service": "ragflow-gpu",
    "compose.release": "v0.24.0",
    "mounts.mode": "checkout",
    "mounts.packages": ["api", "rag"],
    "mounts.extra": ["../plugins:/ragflow/plugins:ro"],
    "mounts.caches": False,
    "mounts.bytecode_cache": False,
    "mounts.models_volume": False,
    "server.init": False,
    "server.stop_grace_period": "500ms",
    "server.health_url": "http://127.0.0.1:19380",
    "server.start_timeout": 30.5,
    "server.reload_timeout": 60,
    "server.debug_port": 5679,
    "watch.debounce_ms": 120,
    "watch.max_wait_ms": 1000,
    "watch.polling": "always",
    "watch.ignore": ["*.tmp"],
    "reload.uv_sync": False,
    "reload.kill_after": 0,
    "reload.web_build": ["npm", "run", "build"],
}


def toml(dotted: str, literal: str) -> str:
    section, name = dotted.split(".", 1)
    return f"[{section}]\n{name} = {literal}\n"


def good(key) -> Any:
    """A valid value for ``key`` that differs from its default (booleans: the other one)."""
    if key.name in GOOD:
        return GOOD[key.name]
    assert key.kind is bool, f"add a good value for the new key {key.name} to GOOD"
    return not key.default


def test_good_covers_every_key() -> None:
    assert set(GOOD) <= set(KEY_BY_NAME)
    assert all(good(k) != k.default for k in KEYS)


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k.name)
def test_each_good_value_parses(key) -> None:
    import json

    value = good(key)
    literal = ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)
    assert parse_config(toml(key.name, literal)).values == {key.name: value}


def test_defaults() -> None:
    s = resolve(None, {})
    assert {k.name: s[k.name] for k in KEYS} == {k.name: k.default for k in KEYS}
    assert all(s.origin(k.name) == "default" for k in KEYS)
    assert s["mounts.mode"] == "packages" and s["server.init"] is True and s["server.stop_grace_period"] == "2s"


# (toml text, words the message must contain, words the fix must contain)
BAD_FILES = [
    ("[mounts]\nmodee = 'checkout'\n", ["unknown key mounts.modee"], ["mode", "packages", "extra", "caches"]),
    ("[mount]\nmode = 'checkout'\n", ["unknown section [mount]"], ["[mounts]", "[server]", "[watch]"]),
    ("mounts = 1\n", ["mounts must be a table"], ["[mounts]"]),
    ("[mounts]\nmode = 'everything'\n", ["mounts.mode", "'everything'", "not allowed"], ["'packages'", "'checkout'"]),
    ("[watch]\npolling = 'sometimes'\n", ["watch.polling", "not allowed"], ["'auto'", "'always'", "'never'"]),
    ("[mounts]\ncaches = 'yes'\n", ["mounts.caches must be true or false", "str"], ["mounts.caches"]),
    ("[server]\ninit = 1\n", ["server.init must be true or false", "int"], ["server.init"]),
    ("[watch]\ndebounce_ms = true\n", ["watch.debounce_ms must be a number", "bool"], ["watch.debounce_ms"]),
    ("[watch]\ndebounce_ms = 1.5\n", ["watch.debounce_ms must be a number", "float"], ["watch.debounce_ms"]),
    ("[watch]\ndebounce_ms = 0\n", ["watch.debounce_ms = 0 must be greater than 0"], ["watch.debounce_ms"]),
    ("[watch]\nmax_wait_ms = -5\n", ["watch.max_wait_ms = -5 must be greater than 0"], ["watch.max_wait_ms"]),
    ("[server]\nstart_timeout = 0\n", ["server.start_timeout = 0 must be greater than 0"], ["server.start_timeout"]),
    ("[server]\nreload_timeout = 'long'\n", ["server.reload_timeout must be a number", "str"], ["server.reload_timeout"]),
    ("[server]\ndebug_port = 70000\n", ["server.debug_port = 70000", "between 1 and 65535"], ["server.debug_port"]),
    ("[server]\ndebug_port = 0\n", ["server.debug_port = 0", "between 1 and 65535"], ["server.debug_port"]),
    ("[server]\nstop_grace_period = 2\n", ["server.stop_grace_period must be a string", "int"], ["server.stop_grace_period"]),
    ("[server]\nstop_grace_period = 'soon'\n", ["server.stop_grace_period = 'soon'", '"2s" or "500ms"'], ["server.stop_grace_period"]),
    ("[server]\nhealth_url = ['x']\n", ["server.health_url must be a string", "list"], ["server.health_url"]),
    ("[compose]\nprofiles = 'cpu'\n", ["compose.profiles must be a list", "str"], ["compose.profiles"]),
    ("[compose]\nprofiles = ['cpu', 1]\n", ["compose.profiles", "must be a list of strings"], ["compose.profiles"]),
    ("[compose]\nfiles = [1]\n", ["compose.files", "must be a list of strings"], ["compose.files"]),
    ("[compose]\nservice = 3\n", ["compose.service must be a string", "int"], ["compose.service"]),
    ("[compose]\nrelease = 0.24\n", ["compose.release must be a string", "float"], ["compose.release"]),
    ("[mounts]\npackages = 'api'\n", ["mounts.packages must be a list", "str"], ["mounts.packages"]),
    ("[mounts]\nextra = ['plugins']\n", ["mounts.extra", '"host:container" strings'], ["mounts.extra"]),
    ("[mounts]\nextra = '../x:/y'\n", ["mounts.extra must be a list", "str"], ["mounts.extra"]),
    ("[watch]\nignore = [['*.x']]\n", ["watch.ignore", "must be a list of strings"], ["watch.ignore"]),
    ("[reload]\nweb_build = 'npm run build'\n", ["reload.web_build must be a list", "str"], ["reload.web_build"]),
    ("[reload]\nuv_sync = 'true'\n", ["reload.uv_sync must be true or false"], ["reload.uv_sync"]),
    ("[reload]\nkill_after = -1\n", ["reload.kill_after = -1 must be 0 or more"], ["reload.kill_after"]),
    ("[watch\n", ["is not valid TOML"], ["devenv init"]),
    ("[[rules]]\npaths = []\naction = 'signal'\n", ["rule 1: paths must be a non-empty list"], ["paths = ["]),
    ("[[rules]]\npaths = 'a/*.py'\naction = 'signal'\n", ["rule 1: paths must be a non-empty list"], ["paths"]),
    ("[[rules]]\npaths = ['a']\naction = 'reboot'\n", ["rule 1: action = 'reboot' is not allowed"], list(RULE_ACTIONS)),
    ("[[rules]]\npaths = ['a']\naction = 'signal'\nprocesses = 'server'\n", ["rule 1: processes must be a list"], ["processes = ["]),
    ("[[rules]]\npaths = ['a']\naction = 'signal'\nwhen = 1\n", ["rule 1: unknown key when"], ["paths, action, processes"]),
    ("[[rules]]\npaths = ['a']\naction = 'none'\n[[rules]]\npaths = ['b']\n", ["rule 2: action = None is not allowed"], ["signal"]),
    ("rules = 1\n", ["rules must be an array of tables"], ["[[rules]]"]),
]


@pytest.mark.parametrize(("text", "message", "fix"), BAD_FILES, ids=[t for t, _, _ in BAD_FILES])
def test_every_bad_file_names_the_key_and_the_fix(text: str, message: list[str], fix: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(text, "/src/devenv.toml")
    assert e.value.message.startswith("/src/devenv.toml")
    for word in message:
        assert word in e.value.message
    assert e.value.fix, "every config error says how to fix it"
    for word in fix:
        assert word in e.value.fix


def test_unknown_key_lists_the_keys_of_its_section() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config("[server]\nport = 1\n")
    assert e.value.fix == "the keys of [server] are: " + ", ".join(k.name.split(".")[1] for k in KEYS if k.name.startswith("server."))


def test_unknown_section_lists_every_section() -> None:
    with pytest.raises(ConfigError) as e:
        parse_config("[x]\n")
    for section in SECTIONS:
        assert f"[{section}]" in (e.value.fix or "")


def test_rules() -> None:
    text = "[[rules]]\npaths = ['admin/**/*.py']\naction = 'signal'\nprocesses = ['admin']\n[[rules]]\npaths = ['x']\naction = 'none'\n"
    cfg = parse_config(text)
    assert cfg.rules == (Rule(("admin/**/*.py",), "signal", ("admin",)), Rule(("x",), "none", ()))
    assert resolve(cfg, {}).rules == cfg.rules


def test_float_keys_take_ints_and_int_keys_refuse_floats() -> None:
    assert parse_config("[server]\nstart_timeout = 5\n").values["server.start_timeout"] == 5
    with pytest.raises(ConfigError):
        validate("server.debug_port", 5678.0, "argument")


# --- precedence ------------------------------------------------------------------------------

FILE = parse_config("[watch]\ndebounce_ms = 100\n[mounts]\ncaches = false\n")


def test_file_beats_default() -> None:
    s = resolve(FILE, {})
    assert (s["watch.debounce_ms"], s.origin("watch.debounce_ms")) == (100, "devenv.toml")
    assert (s["mounts.caches"], s.origin("mounts.caches")) == (False, "devenv.toml")


def test_environment_beats_file() -> None:
    s = resolve(FILE, {"DEVENV_WATCH_DEBOUNCE_MS": "50", "DEVENV_MOUNTS_CACHES": "yes"})
    assert (s["watch.debounce_ms"], s.origin("watch.debounce_ms")) == (50, "DEVENV_WATCH_DEBOUNCE_MS")
    assert (s["mounts.caches"], s.origin("mounts.caches")) == (True, "DEVENV_MOUNTS_CACHES")


def test_argument_beats_environment() -> None:
    s = resolve(FILE, {"DEVENV_WATCH_DEBOUNCE_MS": "50"}, {"watch.debounce_ms": 20})
    assert (s["watch.debounce_ms"], s.origin("watch.debounce_ms")) == (20, "argument")


def test_none_argument_and_empty_variable_mean_unset() -> None:
    s = resolve(FILE, {"DEVENV_WATCH_DEBOUNCE_MS": ""}, {"watch.debounce_ms": None})
    assert (s["watch.debounce_ms"], s.origin("watch.debounce_ms")) == (100, "devenv.toml")


@pytest.mark.parametrize(
    ("var", "text", "expected"),
    [
        ("DEVENV_COMPOSE_PROFILES", "infinity, gpu,", ["infinity", "gpu"]),
        ("DEVENV_MOUNTS_EXTRA", "../a:/a:ro,/b:/b", ["../a:/a:ro", "/b:/b"]),
        ("DEVENV_SERVER_START_TIMEOUT", "2.5", 2.5),
        ("DEVENV_SERVER_DEBUG_PORT", "5679", 5679),
        ("DEVENV_SERVER_INIT", "off", False),
        ("DEVENV_SERVER_INIT", "1", True),
        ("DEVENV_MOUNTS_MODE", "checkout", "checkout"),
    ],
)
def test_environment_values_are_converted(var: str, text: str, expected: Any) -> None:
    key = next(k for k in KEYS if k.env_var == var)
    s = resolve(None, {var: text})
    assert s[key.name] == expected and s.origin(key.name) == var


@pytest.mark.parametrize(
    ("var", "text", "words"),
    [
        ("DEVENV_SERVER_INIT", "maybe", ["DEVENV_SERVER_INIT", "'maybe'", "true or false"]),
        ("DEVENV_SERVER_DEBUG_PORT", "x", ["DEVENV_SERVER_DEBUG_PORT", "must be a number"]),
        ("DEVENV_SERVER_DEBUG_PORT", "99999", ["DEVENV_SERVER_DEBUG_PORT", "between 1 and 65535"]),
        ("DEVENV_MOUNTS_MODE", "all", ["DEVENV_MOUNTS_MODE", "not allowed"]),
        ("DEVENV_WATCH_POLLING", "yes", ["DEVENV_WATCH_POLLING", "not allowed"]),
        ("DEVENV_MOUNTS_EXTRA", "nocolon", ["DEVENV_MOUNTS_EXTRA", "host:container"]),
    ],
)
def test_bad_environment_values_name_the_variable(var: str, text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        resolve(None, {var: text})
    for word in words:
        assert word in e.value.message + " " + (e.value.fix or "")


def test_bad_argument() -> None:
    with pytest.raises(ConfigError, match="argument: mounts.mode = 'x' is not allowed"):
        resolve(None, {}, {"mounts.mode": "x"})


def test_environment_variable_names() -> None:
    assert KEY_BY_NAME["watch.debounce_ms"].env_var == "DEVENV_WATCH_DEBOUNCE_MS"
    assert len({k.env_var for k in KEYS}) == len(KEYS)


def test_unrelated_environment_is_ignored() -> None:
    s = resolve(FileConfig(), {"DEVENV_PROJECT": "/x", "DEVENV_NOT_A_KEY": "1", "DEVICE": "gpu"})
    assert all(s.origin(k.name) == "default" for k in KEYS)
