"""The demo's API server (standard library only).

Run as `python3 api/ragflow_server.py` from the project root, with the project root
on PYTHONPATH (the image sets PYTHONPATH=/ragflow/). Exits 0 on SIGTERM, as
RAGFlow's server does, so the entrypoint's loop starts it again.
"""
import time

_STARTED = time.time()

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

from api import apps  # noqa: E402
from api.version import get_ragflow_version  # noqa: E402
from common.config import load_service_conf  # noqa: E402
from common.log_utils import init_logger  # noqa: E402

logger = init_logger("ragflow_server")


class Handler(BaseHTTPRequestHandler):
    server_version = "ragflow-demo"
    protocol_version = "HTTP/1.1"

    def _answer(self, send_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        handler = apps.ROUTES.get(path)
        if handler is None:
            status, ctype, body = 404, "application/json", {"code": 404, "message": f"no route {path}"}
        else:
            try:
                status, ctype, body = handler()
            except Exception as exc:  # a broken handler answers 500; the server keeps running
                logger.exception("handler for %s failed", path)
                status, ctype, body = 500, "application/json", {"code": 500, "message": repr(exc)}
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)

    def log_message(self, format, *args) -> None:  # noqa: A002 - polling would flood the log
        pass


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def _on_sigterm(signum, frame):
    logger.info("ragflow_server pid=%d got signal %d, exiting", os.getpid(), signum)
    sys.exit(0)


def main() -> None:
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, _on_sigterm)
    apps.SERVER_INFO["started"] = _STARTED
    names = apps.load_apps()
    conf = (load_service_conf().get("ragflow") or {})
    host = str(conf.get("host") or "0.0.0.0")
    port = int(os.environ.get("RAGFLOW_DEMO_HTTP_PORT") or conf.get("http_port") or 9380)
    server = Server((host, port), Handler)
    mark = getattr(sys.modules.get("api.apps.demo_app"), "MARK", None)
    listen_for_debugger()

    logger.info(
        "ragflow_server %s started pid=%d mark=%s apps=%s listening on %s:%d (%.0f ms)",
        get_ragflow_version(), os.getpid(), mark, ",".join(names), host, port,
        (time.time() - _STARTED) * 1000,
    )
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


def listen_for_debugger() -> None:
    """Honour RAGFLOW_DEBUGPY_LISTEN as RAGFlow's server does.

    With debugpy installed this is the real thing. The demo image is standard
    library only, so otherwise a stand-in accepts connections on that port and
    says so: enough to prove the port is published where devenv says it is.
    """
    port = int(os.environ.get("RAGFLOW_DEBUGPY_LISTEN", "0") or 0)
    if port <= 0:
        return
    try:
        import debugpy  # type: ignore[import-not-found]

        debugpy.listen(("0.0.0.0", port))
        logger.info("debugpy listening on %d", port)
        return
    except ImportError:
        pass
    import socket
    import threading

    listener = socket.create_server(("0.0.0.0", port), reuse_port=False)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            conn.sendall(b"devenv-demo: debugpy is not installed in this image; stand-in listener\n")
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    logger.info("debugger stand-in listening on %d (debugpy is not installed)", port)


if __name__ == "__main__":
    main()
