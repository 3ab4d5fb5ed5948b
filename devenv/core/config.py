"""devenv.toml: the schema, validation, and the precedence of settings.

Precedence, for every setting: command-line argument, then the ``DEVENV_*``
environment variable, then ``devenv.toml``, then detection. Each setting is
resolved in :func:`resolve`; nothing else reads the environment for settings.
Pure: callers pass the file's text and the environment in.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .errors import ConfigError

CONFIG_FILE = "devenv.toml"

_DURATION = re.compile(r"^\d+(\.\d+)?(ms|s|m)$")


@dataclass(frozen=True)
class Key:
    """One setting: its dotted name, type, allowed values and environment variable."""

    name: str
    kind: type | tuple[type, ...]
    default: Any
    help: str
    choices: tuple[Any, ...] = ()
    env: str | None = None
    check: Callable[[Any], str | None] | None = None  # returns an error text

    @property
    def env_var(self) -> str:
        return self.env or "DEVENV_" + self.name.replace(".", "_").upper()


def _positive(v: Any) -> str | None:
    return None if v > 0 else "must be greater than 0"


def _non_negative(v: Any) -> str | None:
    return None if v >= 0 else "must be 0 or more"


def _port(v: Any) -> str | None:
    return None if 0 < v < 65536 else "must be a port number between 1 and 65535"


def _duration(v: Any) -> str | None:
    return None if _DURATION.match(v) else 'must be a duration such as "2s" or "500ms"'


def _str_list(v: Any) -> str | None:
    return None if all(isinstance(x, str) for x in v) else "must be a list of strings"


def _mounts(v: Any) -> str | None:
    if not all(isinstance(x, str) and ":" in x for x in v):
        return 'must be a list of "host:container" strings, optionally ending in ":ro"'
    return None


KEYS: tuple[Key, ...] = (
    Key("compose.files", list, None, "compose files, relative to the checkout (default: docker/docker-compose.yml)", check=_str_list),
    Key("compose.profiles", list, None, "profiles to enable (default: COMPOSE_PROFILES from docker/.env)", check=_str_list),
    Key("compose.service", str, None, "the RAGFlow server service (default: ragflow-cpu, ragflow-gpu or ragflow, by profile and release)"),
    Key("compose.release", str, None, 'the RAGFlow release, e.g. "v0.24.0" (default: from RAGFLOW_IMAGE\'s tag, else the layout)'),
    Key("mounts.mode", str, "packages", "packages: mount each source package; checkout: mount the whole checkout (for editing dependencies)", choices=("packages", "checkout")),
    Key("mounts.packages", list, None, "source packages to mount (default: those both in the checkout and the image)", check=_str_list),
    Key("mounts.extra", list, [], 'extra binds, "host:container[:ro]", host relative to the checkout', check=_mounts),
    Key("mounts.caches", bool, True, "mount uv, pip and huggingface caches from .devenv/cache"),
    Key("mounts.bytecode_cache", bool, True, "keep compiled bytecode in .devenv/cache/pycache (PYTHONPYCACHEPREFIX)"),
    Key("mounts.models_volume", bool, True, "keep /ragflow/rag/res/deepdoc in a named volume filled from the image"),
    Key("server.init", bool, True, "run docker-init as PID 1 so stop and restart take well under a second"),
    Key("server.fast_relaunch", bool, True, "when devenv restarts a process, its restart loop's `sleep 1` returns at once (a BASH_ENV hook)"),
    Key("server.stop_grace_period", str, "2s", "how long compose waits before killing the server on stop", check=_duration),
    Key("server.health_url", str, None, "base URL of the API (default: http://127.0.0.1:<published API port>)"),
    Key("server.start_timeout", (int, float), 600, "seconds `devenv up` waits for health", check=_positive),
    Key("server.reload_timeout", (int, float), 180, "seconds a reload waits for the server to be healthy again", check=_positive),
    Key("server.debug_port", int, 5678, "debugpy port for `devenv up --debug` (published on 127.0.0.1)", check=_port),
    Key("watch.debounce_ms", int, 100, "quiet time after the last change before reloading", check=_positive),
    Key("watch.max_wait_ms", int, 2000, "longest a stream of changes can postpone a reload", check=_positive),
    Key("watch.polling", str, "auto", "auto: inotify, polling when the watch limit is too low; always; never", choices=("auto", "always", "never")),
    Key("watch.ignore", list, [], "extra ignore patterns (gitignore syntax), on top of .gitignore and .dockerignore", check=_str_list),
    Key("reload.warm", bool, True, "start Python processes forked from a warm parent that has their third-party modules "
        "imported (needs server.fast_relaunch); any doubt starts them cold"),
    Key("reload.patch", bool, False, "serve a save that changes only function bodies by swapping the new code into the "
        "running process (no restart: module-level state is the running one); anything else restarts (needs reload.warm; "
        "applies to a running watch)"),
    Key("reload.kill_after", (int, float), 1.0, "seconds a process devenv replaces may take to exit before it is killed "
        "(only where its loop ignores the exit code; 0: always wait for it)", check=_non_negative),
    Key("reload.uv_sync", bool, True, "run `uv sync` in the container when pyproject.toml or uv.lock changes"),
    Key("reload.web_build", list, [], 'command run in web/ on the host when web/src changes, e.g. ["npm", "run", "build"]', check=_str_list),
)
KEY_BY_NAME = {k.name: k for k in KEYS}
SECTIONS = sorted({k.name.split(".")[0] for k in KEYS} | {"rules"})


@dataclass(frozen=True)
class Rule:
    """A user rule from ``[[rules]]``: changed paths -> an action."""

    paths: tuple[str, ...]
    action: str
    processes: tuple[str, ...] = ()


RULE_ACTIONS = ("signal", "restart", "recreate", "sync", "web", "none")


@dataclass(frozen=True)
class Settings:
    """Resolved settings; ``None`` means "detect"."""

    values: Mapping[str, Any]
    origins: Mapping[str, str]  # key -> "argument" | "DEVENV_X" | "devenv.toml" | "default"
    rules: tuple[Rule, ...] = ()

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def origin(self, name: str) -> str:
        return self.origins.get(name, "default")


@dataclass(frozen=True)
class FileConfig:
    """What devenv.toml says: flat dotted keys, and rules."""

    values: Mapping[str, Any] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()


def parse_config(text: str, path: str = CONFIG_FILE) -> FileConfig:
    """Parse and validate devenv.toml; every problem names the key and the fix.

    >>> parse_config('[watch]\\ndebounce_ms = 100').values
    {'watch.debounce_ms': 100}
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}", fix=f"fix the syntax in {path}, or move it away and run `devenv init`") from None
    values: dict[str, Any] = {}
    rules: list[Rule] = []
    for section, body in data.items():
        if section == "rules":
            rules = _parse_rules(body, path)
            continue
        if section not in SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}]", fix=f"the sections are: {', '.join('[' + s + ']' for s in SECTIONS)}")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: {section} must be a table ([{section}])", fix=f"write it as [{section}] followed by its keys")
        for name, value in body.items():
            dotted = f"{section}.{name}"
            values[dotted] = validate(dotted, value, path)
    return FileConfig(values, tuple(rules))


def validate(dotted: str, value: Any, where: str) -> Any:
    """Check one value against the schema; return it (ints widened where floats are allowed)."""
    key = KEY_BY_NAME.get(dotted)
    if key is None:
        section = dotted.split(".")[0]
        allowed = ", ".join(k.name.split(".", 1)[1] for k in KEYS if k.name.startswith(section + "."))
        raise ConfigError(f"{where}: unknown key {dotted}", fix=f"the keys of [{section}] are: {allowed}")
    kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise ConfigError(f"{where}: {dotted} must be {_kind_name(kinds)}, not {type(value).__name__} ({value!r})", fix=f"{dotted}: {key.help}")
    if key.choices and value not in key.choices:
        raise ConfigError(f"{where}: {dotted} = {value!r} is not allowed", fix=f"use one of: {', '.join(map(repr, key.choices))}")
    problem = key.check(value) if key.check else None
    if problem:
        raise ConfigError(f"{where}: {dotted} = {value!r} {problem}", fix=f"{dotted}: {key.help}")
    return value


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "a number", float: "a number", str: "a string", list: "a list"}
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in kinds))


def _parse_rules(body: Any, path: str) -> list[Rule]:
    if not isinstance(body, list):
        raise ConfigError(f"{path}: rules must be an array of tables ([[rules]])", fix="write each rule as [[rules]] with paths and action")
    rules = []
    for i, raw in enumerate(body, 1):
        where = f"{path}: rule {i}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a table", fix="write it as [[rules]] with paths = [...] and action = ...")
        unknown = set(raw) - {"paths", "action", "processes"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]}", fix="a rule has: paths, action, processes")
        paths, action = raw.get("paths"), raw.get("action")
        if not isinstance(paths, list) or not paths or _str_list(paths):
            raise ConfigError(f"{where}: paths must be a non-empty list of glob patterns", fix='e.g. paths = ["admin/**/*.py"]')
        bad = next((p for p in paths if p.strip().startswith(("!", "#")) or not p.strip()), None)
        if bad is not None:
            raise ConfigError(f"{where}: {bad!r} is not a path pattern", fix='paths are globs relative to the checkout, e.g. "plugin/**/*.py"')
        if action not in RULE_ACTIONS:
            raise ConfigError(f"{where}: action = {action!r} is not allowed", fix=f"use one of: {', '.join(RULE_ACTIONS)}")
        procs = raw.get("processes", [])
        if not isinstance(procs, list) or _str_list(procs):
            raise ConfigError(f"{where}: processes must be a list of process names", fix='e.g. processes = ["server", "task_executor"]')
        rules.append(Rule(tuple(paths), action, tuple(procs)))
    return rules


def _from_env(key: Key, text: str) -> Any:
    """Convert a ``DEVENV_*`` value to the key's type."""
    kinds = key.kind if isinstance(key.kind, tuple) else (key.kind,)
    where = f"environment variable {key.env_var}"
    try:
        if bool in kinds:
            low = text.strip().lower()
            if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError
            value: Any = low in ("1", "true", "yes", "on")
        elif list in kinds:
            value = [p.strip() for p in text.split(",") if p.strip()]
        elif int in kinds and float in kinds:
            value = float(text)
        elif int in kinds:
            value = int(text)
        else:
            value = text
    except ValueError:
        raise ConfigError(f"{where} = {text!r} must be {_kind_name(kinds)}", fix=f"{key.name}: {key.help}") from None
    return validate(key.name, value, where)


def resolve(
    file: FileConfig | None, environ: Mapping[str, str], arguments: Mapping[str, Any] | None = None
) -> Settings:
    """Merge the layers: argument, then DEVENV_* variable, then file, then default.

    >>> s = resolve(parse_config('[watch]\\ndebounce_ms = 100'), {"DEVENV_WATCH_DEBOUNCE_MS": "50"})
    >>> s["watch.debounce_ms"], s.origin("watch.debounce_ms")
    (50, 'DEVENV_WATCH_DEBOUNCE_MS')
    """
    file = file or FileConfig()
    arguments = {k: v for k, v in (arguments or {}).items() if v is not None}
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key in KEYS:
        if key.name in arguments:
            values[key.name], origins[key.name] = validate(key.name, arguments[key.name], "argument"), "argument"
        elif environ.get(key.env_var, "") != "":
            values[key.name], origins[key.name] = _from_env(key, environ[key.env_var]), key.env_var
        elif key.name in file.values:
            values[key.name], origins[key.name] = file.values[key.name], CONFIG_FILE
        else:
            values[key.name], origins[key.name] = key.default, "default"
    return Settings(values, origins, file.rules)
