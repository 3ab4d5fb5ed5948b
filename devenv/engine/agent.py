"""The host side of devenv's in-container agent: one long-lived ``docker exec``.

The agent (:mod:`devenv.container.agent`) is started once per container with
``python3 -u -c <source>`` and answers one JSON line per request, so listing
processes, hashing files and signalling cost a millisecond instead of a fresh
``docker exec`` (about 70 ms) each. The exec's multiplexed stream is decoded
by the docker SDK's own frame reader, on a reader thread, so every request
can wait with a timeout.
"""

from __future__ import annotations

import json
import queue
import threading
from typing import Any

from ..core.errors import EngineError

_EOF = object()


class ExecAgent:
    """A running agent in ``container``; see :meth:`start`."""

    def __init__(self, sock: Any, container: str) -> None:
        self._sock = sock
        self._raw = getattr(sock, "_sock", sock)
        self._lines: "queue.Queue[object]" = queue.Queue()
        self._lock = threading.Lock()
        self.container = container
        self.alive = True
        threading.Thread(target=self._read, name=f"devenv-agent-{container[:12]}", daemon=True).start()

    @classmethod
    def start(cls, client: Any, container: str) -> "ExecAgent":
        from ..container import agent_source
        from .docker import sdk_errors

        try:
            exec_id = client.api.exec_create(container, ["python3", "-u", "-c", agent_source()], stdin=True, stdout=True, stderr=True)
            sock = client.api.exec_start(exec_id, socket=True)
        except sdk_errors() as e:
            raise EngineError(f"cannot start devenv's agent in {container}: {e}", fix="is the container running? see `devenv status`") from None
        return cls(sock, container)

    def _read(self) -> None:
        """Turn the exec's stdout frames into lines; stderr frames are the agent's own errors."""
        from docker.utils.socket import STDOUT, frames_iter

        buf = b""
        try:
            for stream, data in frames_iter(self._raw, tty=False):
                if stream != STDOUT:
                    continue
                buf += data
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    self._lines.put(line.decode("utf-8", "replace"))
        except (OSError, ValueError):
            pass
        self._lines.put(_EOF)

    def request(self, payload: dict[str, Any], timeout: float = 10) -> dict[str, Any]:
        with self._lock:
            try:
                if not self.alive:
                    raise EOFError("the agent exited")
                self._raw.sendall((json.dumps(payload) + "\n").encode())
                line = self._lines.get(timeout=timeout)
                if line is _EOF:
                    raise EOFError("the agent exited")
                answer = json.loads(str(line))
            except queue.Empty:
                self.alive = False
                raise EngineError("devenv's agent in the container did not answer in time",
                                  fix="the container may be overloaded or restarting; devenv retries") from None
            except (OSError, ValueError, EOFError) as e:
                self.alive = False
                raise EngineError(f"devenv's agent in the container stopped answering ({e})",
                                  fix="the container may have restarted; devenv retries") from None
        if "error" in answer:
            raise EngineError(f"devenv's agent failed: {answer['error']}")
        return answer

    def close(self) -> None:
        self.alive = False
        try:
            self._raw.close()
        except OSError:
            pass
