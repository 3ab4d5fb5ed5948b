"""System routes: ping and healthz, on the old /v1 and the newer /api/v1 prefixes."""
from api.apps import route
from common.config import mysql_address
from rag.utils.db_probe import ping_mysql


@route("/v1/system/ping", "/api/v1/system/ping")
def ping():
    return 200, "text/plain; charset=utf-8", "pong"


@route("/v1/system/healthz", "/api/v1/system/healthz")
def healthz():
    host, port = mysql_address()
    result = {
        "db": "ok" if ping_mysql(host, port, timeout=1.0) else "nok",
        # The demo has no Redis, doc engine or object storage to check.
        "redis": "ok",
        "doc_engine": "ok",
        "storage": "ok",
    }
    healthy = all(value == "ok" for value in result.values())
    result["status"] = "ok" if healthy else "nok"
    return (200 if healthy else 500), "application/json", result
