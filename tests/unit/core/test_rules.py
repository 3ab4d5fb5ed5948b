"""Which change gets which action: the default rules, user rules and batch merging."""

from __future__ import annotations

import pytest

from devenv.core import rules as R
from devenv.core.config import parse_config, resolve
from devenv.core.globs import anchored
from devenv.core.release import KNOWN_PROCESSES

PACKAGES = ("api", "rag", "deepdoc", "agent", "common", "admin", "mcp")
ALL_NAMES = [p.name for p in KNOWN_PROCESSES]


def make_rules(toml: str = "", packages=PACKAGES, processes=KNOWN_PROCESSES):
    settings = resolve(parse_config(toml), {})
    return R.default_rules(packages, processes, settings)


def decide(paths, toml: str = "", **kw):
    return R.decide(paths, make_rules(toml, **kw), ALL_NAMES)


@pytest.mark.parametrize("path, action, processes", [
    ("api/apps/kb_app.py", R.SIGNAL, {"server"}),
    ("api/db/services/x.py", R.SIGNAL, set(ALL_NAMES)),
    ("rag/svr/task_executor.py", R.SIGNAL, {"task_executor"}),
    ("rag/svr/sync_data_source.py", R.SIGNAL, {"data_sync"}),
    ("rag/nlp/query.py", R.SIGNAL, set(ALL_NAMES)),
    ("rag/res/huqie.txt", R.SIGNAL, set(ALL_NAMES)),  # data loaded at import counts too
    ("admin/server/admin_server.py", R.SIGNAL, {"admin"}),
    ("mcp/server/server.py", R.SIGNAL, {"mcp"}),
    ("common/settings.py", R.SIGNAL, set(ALL_NAMES)),
    ("docker/entrypoint.sh", R.RECREATE, set()),
    ("docker/service_conf.yaml.template", R.RECREATE, set()),
    ("docker/.env", R.RECREATE, set()),
    ("docker/docker-compose.yml", R.RECREATE, set()),
    ("docker/docker-compose-base.yml", R.RECREATE, set()),
    ("devenv.toml", R.RECREATE, set()),
    ("pyproject.toml", R.SYNC, set(ALL_NAMES)),
    ("uv.lock", R.SYNC, set(ALL_NAMES)),
    ("README.md", R.NONE, set()),
    ("docs/guide.md", R.NONE, set()),
    ("sdk/python/x.py", R.NONE, set()),  # not a mounted package
])
def test_default_rule_for_each_kind_of_change(path, action, processes):
    d = decide([path])
    assert d.action == action, d
    assert set(d.processes) == processes


def test_devenvs_own_files_never_trigger_a_reload():
    d = decide(["docker/docker-compose.devenv.yml", "docker/docker-compose.devenv.yml.bak", "docker/.devenv-check-ab12.yml"])
    assert d.nothing


def test_web_source_asks_for_a_build_and_conf_is_a_notice():
    d = decide(["web/src/pages/x.tsx"])
    assert d.web and d.action == R.WEB and not d.nothing
    n = decide(["conf/llm_factories.json"])
    assert n.action == R.NOTICE and "conf/llm_factories.json" in n.notices[0]


def test_the_strongest_action_of_a_batch_wins_and_processes_unite():
    d = decide(["api/apps/a.py", "admin/server/b.py"])
    assert d.action == R.SIGNAL and d.processes == {"server", "admin"}
    d = decide(["api/apps/a.py", "docker/.env"])
    assert d.action == R.RECREATE
    d = decide(["api/apps/a.py", "uv.lock"])
    assert d.action == R.SYNC and d.processes == set(ALL_NAMES)


def test_narrow_rules_only_for_processes_the_release_runs():
    only_two = [p for p in KNOWN_PROCESSES if p.name in ("server", "task_executor")]
    d = R.decide(["admin/server/x.py"], make_rules(packages=("api", "rag", "admin"), processes=only_two), ["server", "task_executor"])
    assert d.action == R.SIGNAL and d.processes == {"server", "task_executor"}  # no admin process: all of them


def test_user_rules_come_first():
    toml = '[[rules]]\npaths = ["api/apps/**"]\naction = "restart"\n\n[[rules]]\npaths = ["rag/**"]\naction = "none"\n'
    assert decide(["api/apps/a.py"], toml).action == R.RESTART
    assert decide(["rag/x.py"], toml).nothing
    assert decide(["common/x.py"], toml).action == R.SIGNAL


def test_uv_sync_off_turns_dependency_changes_into_a_notice():
    d = decide(["uv.lock"], "[reload]\nuv_sync = false\n")
    assert d.action == R.NOTICE


@pytest.mark.parametrize("pattern, path, hit", [
    ("api/**", "api/a/b/c.py", True),
    ("api/**", "apix/a.py", False),
    ("api/*.py", "api/a.py", True),
    ("api/*.py", "api/sub/a.py", False),
    ("**/*.py", "a.py", True),
    ("**/*.py", "x/y/a.py", True),
    ("docker/*.yml", "docker/sub/a.yml", False),
    ("a?c", "abc", True),
    ("a?c", "a/c", False),
])
def test_glob_semantics(pattern, path, hit):
    assert anchored(pattern).matches(path, False) is hit


def test_rules_have_a_readable_repr():
    assert repr(R.PathRule(("admin/**",), R.SIGNAL, ("admin",))) == "<rule admin/** -> signal admin>"
