"""Read docker/.env the way compose does, for the few values devenv needs.

Compose remains the authority on interpolation for the stack itself (devenv asks
``docker compose config``); this small parser only serves detection (the image
tag, the profiles, the published ports) and must never leak secrets.
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Mapping

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_SECRET = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE|CREDENTIAL|_PASS$|_KEY$", re.I)


def parse_dotenv(text: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Parse a compose ``.env`` text, interpolating ``${VAR:-default}`` forms.

    Variables already set in ``environ`` win over the file, as in compose.

    >>> parse_dotenv("DEVICE=${DEVICE:-cpu}\\nP=${DEVICE},x\\n", {})
    {'DEVICE': 'cpu', 'P': 'cpu,x'}
    """
    environ = dict(environ or {})
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            continue
        key, value = m.group(1), m.group(2)
        if key in environ:
            values[key] = environ[key]
            continue
        values[key] = _unquote_and_interpolate(value, {**values, **environ})
    return values


def _unquote_and_interpolate(value: str, scope: Mapping[str, str]) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1]  # single quotes: literal, as in compose
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('\\"', '"').replace("\\n", "\n")
    else:
        value = re.sub(r"\s+#.*$", "", value)  # inline comment after whitespace
    return interpolate(value, scope)


def interpolate(value: str, scope: Mapping[str, str]) -> str:
    """Expand ``$VAR``, ``${VAR}``, ``${VAR:-d}``, ``${VAR-d}``, ``${VAR:+a}``.

    >>> interpolate("${A:-x}/${B}", {"B": "b"})
    'x/b'
    """

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3) or ""
        current = scope.get(name)
        if op in (":-", ":?"):
            return current if current else interpolate(arg, scope) if op == ":-" else ""
        if op in ("-", "?"):
            return current if current is not None else interpolate(arg, scope) if op == "-" else ""
        if op == ":+":
            return interpolate(arg, scope) if current else ""
        if op == "+":
            return interpolate(arg, scope) if current is not None else ""
        return current or ""

    return _VAR.sub(sub, value.replace("$$", "\0")).replace("\0", "$")


def is_secret(key: str) -> bool:
    """Whether a variable name looks like it holds a secret.

    >>> is_secret("MYSQL_PASSWORD"), is_secret("SVR_HTTP_PORT")
    (True, False)
    """
    return bool(_SECRET.search(key))


def mask(key: str, value: str) -> str:
    """The value to print for ``key``: secrets become ``****``."""
    return "****" if is_secret(key) and value else value


MIN_SECRET = 4  # shorter values would mask ordinary words and numbers


def secret_values(*sources: Mapping[str, str]) -> frozenset[str]:
    """Every value of a secret-looking variable in any of ``sources``.

    Pass the .env file parsed on its own *and* the environment: when a variable is in
    both, compose interpolates the shell's value but ``env_file: .env`` hands the
    file's value to the container, so either may show up in a log.

    >>> sorted(secret_values({"DB_PASSWORD": "from-file", "PORT": "9380"}, {"DB_PASSWORD": "from-shell"}))
    ['from-file', 'from-shell']
    """
    return frozenset(v for source in sources for k, v in source.items() if is_secret(k) and len(v) >= MIN_SECRET)


def mask_values(text: str, values: Iterable[str]) -> str:
    """Replace each of ``values`` in ``text`` with ``****``, also in its JSON-escaped form.

    >>> mask_values('{"dsn": "root:p\\"w0rd@db"}', {'p"w0rd'})
    '{"dsn": "root:****@db"}'
    """
    for value in sorted(values, key=len, reverse=True):  # a longer secret that contains a shorter one goes first
        text = text.replace(value, "****")
        escaped = json.dumps(value, ensure_ascii=False)[1:-1]
        if escaped != value:
            text = text.replace(escaped, "****")
    return text


def mask_text(text: str, secrets: Mapping[str, str]) -> str:
    """Replace every secret value that appears in ``text`` with ``****``."""
    return mask_values(text, secret_values(secrets))
