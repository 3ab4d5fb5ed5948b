"""Load conf/service_conf.yaml (rendered from the template by the entrypoint).

The standard library has no YAML parser, so this reads the small subset the
service configuration uses: nested mappings by indentation, scalar values,
comments and blank lines. Environment variables are a fallback when the file
has not been rendered (for example when a module runs outside the container).
"""
import os

from common.paths import conf_dir

SERVICE_CONF = "service_conf.yaml"


def _scalar(text: str):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


def parse_simple_yaml(text: str) -> dict:
    root: dict = {}
    stack = [(-1, root)]  # (indent, mapping)
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        key, sep, value = line.strip().partition(":")
        if not sep:
            raise ValueError(f"cannot parse line: {raw!r}")
        while stack and indent <= stack[-1][0]:
            stack.pop()
        parent = stack[-1][1]
        if value.strip():
            parent[key.strip()] = _scalar(value)
        else:
            child: dict = {}
            parent[key.strip()] = child
            stack.append((indent, child))
    return root


def load_service_conf(path: str | None = None) -> dict:
    path = path or os.path.join(conf_dir(), SERVICE_CONF)
    try:
        with open(path, encoding="utf-8") as fh:
            return parse_simple_yaml(fh.read())
    except FileNotFoundError:
        return {}


def mysql_address(conf: dict | None = None) -> tuple[str, int]:
    """Host and port of the database, from the rendered config or the environment."""
    conf = load_service_conf() if conf is None else conf
    mysql = conf.get("mysql") or {}
    host = mysql.get("host") or os.environ.get("MYSQL_HOST") or "localhost"
    port = mysql.get("port") or os.environ.get("MYSQL_PORT") or 3306
    return str(host), int(port)
