"""Tiny stand-ins for the stack's dependencies.

  fake_service.py mysql [--port 3306] [--data /var/lib/mysql]
      a line protocol: "PING" -> "PONG", "QUIT" closes; anything else -> "ERR ...".
  fake_service.py http [--port 9200] [--data DIR]
      answers any GET with a small JSON document (an Elasticsearch-like root).

Both count their starts in a file under --data (a named volume in compose),
and exit 0 on SIGTERM.
"""
import argparse
import json
import os
import signal
import socketserver
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _count_start(data_dir: str) -> int:
    try:
        os.makedirs(data_dir, exist_ok=True)
        path = os.path.join(data_dir, "starts")
        try:
            with open(path, encoding="utf-8") as fh:
                starts = int(fh.read().strip() or 0)
        except (OSError, ValueError):
            starts = 0
        starts += 1
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"{starts}\n")
        return starts
    except OSError:
        return 0


class LineHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for raw in self.rfile:
            command = raw.strip().upper()
            if command == b"PING":
                self.wfile.write(b"PONG\n")
            elif command == b"QUIT":
                self.wfile.write(b"BYE\n")
                return
            elif command:
                self.wfile.write(b"ERR unknown command\n")
            self.wfile.flush()


class LineServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class HttpHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps({"name": "es01", "cluster_name": "demo", "version": {"number": "8.11.3"},
                           "tagline": "not really Elasticsearch"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002
        pass


class HttpServer(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["mysql", "http"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    port = args.port or (3306 if args.kind == "mysql" else 9200)
    data_dir = args.data or ("/var/lib/mysql" if args.kind == "mysql" else "/usr/share/elasticsearch/data")

    def on_term(signum, frame):
        print(f"fake {args.kind}: signal {signum}, exiting", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    starts = _count_start(data_dir)
    if args.kind == "mysql":
        server = LineServer(("0.0.0.0", port), LineHandler)
        secret = "set" if os.environ.get("MYSQL_ROOT_PASSWORD") else "not set"
        print(f"fake mysql: listening on {port}, start #{starts}, root password {secret}", flush=True)
    else:
        server = HttpServer(("0.0.0.0", port), HttpHandler)
        print(f"fake http: listening on {port}, start #{starts}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
