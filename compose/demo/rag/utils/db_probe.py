"""Check the MySQL-like service with its one-line protocol: "PING\n" -> "PONG\n"."""
import socket


def ping_mysql(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\n")
            reply = b""
            while not reply.endswith(b"\n") and len(reply) < 64:
                chunk = sock.recv(64)
                if not chunk:
                    break
                reply += chunk
            return reply.strip() == b"PONG"
    except OSError:
        return False
