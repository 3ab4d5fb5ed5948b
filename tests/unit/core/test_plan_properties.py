"""Properties of the mount plan for generated package lists, extra mounts and modes.

For every input the planner accepts: nothing is mounted outside /ragflow or the
known caches unless the user asked for it in mounts.extra; no bind source lies
outside the checkout unless from mounts.extra; nothing hides what the image
baked; and the override only adds to the stack.
"""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devenv.core.config import resolve
from devenv.core.errors import ConfigError
from devenv.core.plan import CACHES, HOOKS_TARGET, PROTECTED_TARGETS, PYCACHE_TARGET, WARM_TARGET, make_plan
from devenv.core.release import NEVER_MOUNT
from tests.fixtures import RELEASES, make_checkout, planning_inputs

EXTRA = "extra (devenv.toml)"
CACHE_TARGETS = {t for _, t in CACHES} | {PYCACHE_TARGET} | {HOOKS_TARGET, WARM_TARGET}  # devenv's own folders, outside /ragflow
HIDDEN = PROTECTED_TARGETS - {"/ragflow"}  # never a bind target, in any mode


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    base = tmp_path_factory.mktemp("fixtures")
    return {r: planning_inputs(make_checkout(base / r, r)) for r in RELEASES}


segment = st.from_regex(r"[a-z_][a-z0-9_-]{0,7}", fullmatch=True)
package = st.one_of(
    segment,
    st.builds(lambda a, b: f"{a}/{b}", segment, segment),
    st.sampled_from(["api", "rag", "rag/svr", "tools/scripts", "logs", "conf", "web", "web/dist", ".venv", "docs", "rag/res/deepdoc"]),
)
container_path = st.one_of(
    st.builds(lambda parts: "/" + "/".join(parts), st.lists(segment, min_size=1, max_size=3)),
    st.builds(lambda parts: "/ragflow/" + "/".join(parts), st.lists(segment, min_size=1, max_size=2)),
    st.sampled_from(["/ragflow", "/ragflow/.venv", "/ragflow/web/dist", "/ragflow/conf", "/ragflow/api", "/ragflow/logs",
                     "/root/.cache/uv", "/ragflow/rag/res/deepdoc", "/ragflow/conf/extra"]),
)
host_path = st.one_of(segment, st.sampled_from(["../plugins", "/data/models", "C:\\data", "my dir/été", "."]))
extra = st.builds(lambda h, c, mode: f"{h}:{c}{mode}", host_path, container_path, st.sampled_from(["", ":ro", ":rw"]))
arguments = st.fixed_dictionaries(
    {
        "mounts.mode": st.sampled_from(["packages", "checkout"]),
        "mounts.packages": st.one_of(st.none(), st.lists(package, max_size=6, unique=True)),
        "mounts.extra": st.lists(extra, max_size=4),
        "mounts.caches": st.booleans(),
        "mounts.bytecode_cache": st.booleans(),
        "mounts.models_volume": st.booleans(),
    }
)


def _refused(args: dict) -> bool:
    """Whether the inputs hold something the planner must refuse."""
    packages = args["mounts.packages"] or []
    if args["mounts.mode"] == "packages" and any(
        p in NEVER_MOUNT or p.startswith((".venv", "web/dist")) for p in packages
    ):
        return True
    targets = [posixpath.normpath(e.rsplit(":", 2)[1] if e.endswith((":ro", ":rw")) else e.rsplit(":", 1)[1]) for e in args["mounts.extra"]]
    return any(t in PROTECTED_TARGETS for t in targets) or len(set(targets)) < len(targets)


@settings(max_examples=300, deadline=None)
@given(release=st.sampled_from(RELEASES), args=arguments, debug=st.booleans())
def test_plan_properties(inputs, release: str, args: dict, debug: bool) -> None:
    det, _, model, dirs = inputs[release]
    dirs = dirs | set(args["mounts.packages"] or ()) | {p.split("/")[0] for p in args["mounts.packages"] or ()}
    settings_ = resolve(None, {}, args)
    try:
        plan = make_plan(det, settings_, model, checkout_dirs=frozenset(dirs), debug=debug)
    except ConfigError:
        assert _refused(args), args
        return
    assert not _refused(args), args
    svc = model.services[plan.service]
    targets = [m.target for m in plan.mounts]
    assert len(targets) == len(set(targets)), "one mount per target"

    for m in plan.mounts:
        if m.why != EXTRA:
            # nothing outside /ragflow or the caches unless the user asked
            assert m.target == "/ragflow" or m.target.startswith("/ragflow/") or m.target in CACHE_TARGETS, m
            if m.kind == "bind":
                # no bind source outside the checkout unless from mounts.extra
                assert not PurePosixPath(m.source).is_absolute() and ":" not in m.source, m
                assert not posixpath.normpath(m.source).startswith(".."), m
        if m.kind == "bind":
            assert m.target not in HIDDEN, m
            if m.target == "/ragflow":
                assert plan.mode == "checkout" and m.source == "." and m.why != EXTRA
        # the override only adds
        assert svc.volume_at(m.target) is None, m

    if plan.mode == "checkout":
        kinds = {m.target: m.kind for m in plan.mounts}
        assert all(kinds.get(t) == "volume" for t in ("/ragflow/.venv", "/ragflow/web/dist", "/ragflow/conf"))
    else:
        assert "/ragflow" not in targets

    doc = plan.override()
    for entry in doc["services"][plan.service]["volumes"]:
        assert svc.volume_at(entry["target"]) is None
    assert set(doc.get("volumes", {})) == {m.source for m in plan.mounts if m.kind == "volume"}
    for m in plan.mounts:
        if m.kind == "bind" and m.source != "." and not PurePosixPath(m.source).is_absolute() and ":" not in m.source:
            assert m.source in plan.host_dirs
    if debug and plan.ports:
        assert all(p.startswith("127.0.0.1:") for p in plan.ports)


@settings(max_examples=100, deadline=None)
@given(parts=st.lists(st.sampled_from(["api", "..", ".", "rag", "été", "a b"]), min_size=1, max_size=5))
def test_relative_packages_never_escape(inputs, parts: list[str]) -> None:
    det, settings_, model, dirs = inputs["v0.24.0"]
    pkg = "/".join(parts)
    norm = posixpath.normpath(pkg)
    args = resolve(None, {}, {"mounts.packages": [pkg]})
    try:
        plan = make_plan(det, args, model, checkout_dirs=frozenset(dirs | {norm}))
    except ConfigError:
        return
    for m in plan.mounts:
        if m.kind == "bind":
            assert not posixpath.normpath(m.source).startswith("..") and not Path(m.source).is_absolute()
