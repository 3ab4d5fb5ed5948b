"""The core claims on a real engine: the override works, the mounts are live, nothing the image
baked is hidden, logs and caches land on the host, and down keeps them."""

from __future__ import annotations

import hashlib
import json

import pytest

pytestmark = pytest.mark.engine

PACKAGES = ["api", "rag", "deepdoc", "agent", "common"]


def test_up_mounts_every_package_and_keeps_what_the_image_baked(running):
    demo = running
    status, body = demo.get("/v1/system/ping")
    assert (status, body) == (200, "pong")
    status, body = demo.get("/v1/system/healthz")
    assert status == 200 and json.loads(body)["db"] == "ok"

    # The container sees the host's bytes under each mounted package, and a fresh host write too.
    for pkg in PACKAGES:
        host_files = sorted(p for p in (demo.root / pkg).rglob("*.py"))
        assert host_files, pkg
        for path in host_files[:5]:
            rel = path.relative_to(demo.root).as_posix()
            inside = demo.exec("python3", "-c", f"import hashlib;print(hashlib.sha256(open('/ragflow/{rel}','rb').read()).hexdigest())")
            assert inside.strip() == hashlib.sha256(path.read_bytes()).hexdigest(), rel
    (demo.root / "rag" / "fresh_probe.txt").write_text("written on the host")
    assert demo.exec("cat", "/ragflow/rag/fresh_probe.txt") == "written on the host"

    # What the image baked and the checkout lacks is still there.
    assert demo.exec("cat", "/ragflow/rag/res/deepdoc/MODEL_MARKER").strip() == "baked-model"
    demo.exec("test", "-f", "/ragflow/.venv/DEVENV_DEMO_VENV")
    demo.exec("test", "-f", "/ragflow/web/dist/index.html")
    env = json.loads(demo.get("/v1/demo/env")[1])
    assert env["venv"] and env["model"] == "baked-model" and env["web_dist"], env
    assert all(where.startswith("/ragflow/") for where in env["packages"].values()), env

    # init: true, and the mounts as the engine reports them.
    info = demo.inspect()
    assert info["HostConfig"]["Init"] is True
    binds = {m["Destination"]: m for m in info["Mounts"]}
    for pkg in PACKAGES:
        assert binds[f"/ragflow/{pkg}"]["Source"] == str(demo.root / pkg)
    for protected in ("/ragflow", "/ragflow/.venv", "/ragflow/web/dist", "/ragflow/conf"):
        assert protected not in binds
    assert binds["/ragflow/rag/res/deepdoc"]["Type"] == "volume"


def test_logs_caches_and_bytecode_land_on_the_host_and_survive_recreate_and_down(running):
    demo = running
    logs = demo.root / "docker" / "ragflow-logs" / "ragflow_server.log"
    assert logs.is_file() and logs.stat().st_size > 0
    pycache = demo.root / ".devenv" / "cache" / "pycache"
    assert any(pycache.rglob("*.pyc")), "the server wrote no bytecode into the mounted cache"
    demo.exec("sh", "-c", "echo kept > /root/.cache/uv/probe-from-container")
    host_probe = demo.root / ".devenv" / "cache" / "uv" / "probe-from-container"
    assert host_probe.read_text() == "kept\n"
    first = demo.container()

    demo.devenv("up", "--detach", "--recreate", check=True)
    assert demo.container() != first, "--recreate did not recreate the server container"
    assert demo.exec("cat", "/root/.cache/uv/probe-from-container") == "kept\n"

    volumes_before = set(demo.docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={demo.project}").split())
    assert volumes_before
    result = demo.devenv("down", check=True)
    assert "kept" in result.stderr
    assert not demo.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={demo.project}").split()
    assert host_probe.is_file() and logs.is_file()
    volumes_after = set(demo.docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={demo.project}").split())
    assert volumes_after == volumes_before


def test_down_volumes_needs_confirmation_then_deletes(running):
    demo = running
    refused = demo.devenv("down", "--volumes", input="")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert demo.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={demo.project}").split(), "refusal stopped the stack"
    demo.devenv("down", "--volumes", "--yes", check=True)
    assert not demo.docker("volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={demo.project}").split()
    assert (demo.root / ".devenv" / "cache" / "uv").is_dir()


def test_a_file_the_image_baked_under_a_mounted_package_stays_visible(running):
    """The demo image bakes rag/res/demo.txt.trie (as RAGFlow's bakes huqie.txt.trie); the checkout has no
    rag/res: the rag/ bind must not hide it, and nothing is written into the checkout but the mount point."""
    baked = running.docker("run", "--rm", "--entrypoint", "cat", running.inspect()["Config"]["Image"], "/ragflow/rag/res/demo.txt.trie")
    assert baked.startswith("trie built into the image")
    assert running.exec("cat", "/ragflow/rag/res/demo.txt.trie") == baked
    assert (running.root / "rag" / "res" / "demo.txt.trie").stat().st_size == 0
    plan = running.devenv("plan", check=True).stdout
    assert "/ragflow/rag/res/demo.txt.trie (ro)" in plan and "baked into the image" in plan
