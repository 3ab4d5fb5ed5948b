"""`devenv up --debug`: the debugger port answers on loopback, and only there."""

from __future__ import annotations

import socket
import time

import pytest

from .conftest import free_port

pytestmark = pytest.mark.engine


def test_debug_port_is_published_on_loopback_only_and_answers(demo):
    port = free_port()
    demo.env["DEVENV_SERVER_DEBUG_PORT"] = str(port)
    demo.devenv("up", "--detach", "--debug", check=True)
    info = demo.inspect()
    env = dict(e.split("=", 1) for e in info["Config"]["Env"])
    assert env["RAGFLOW_DEBUGPY_LISTEN"] == str(port)
    bindings = info["HostConfig"]["PortBindings"][f"{port}/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    # The demo server listens for a debugger as RAGFlow's does (a stand-in: its image has no debugpy).
    greeting = None
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                greeting = s.recv(200)
                break
        except OSError:
            time.sleep(0.1)
    assert greeting and b"stand-in listener" in greeting
