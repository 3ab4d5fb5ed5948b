"""docker/.env parsing the way compose reads it, and secret masking."""

from __future__ import annotations

import pytest

from devenv.core.dotenv import interpolate, is_secret, mask, mask_text, parse_dotenv
from tests.fixtures import EXPECTED, PASSWORDS, RELEASES, checkout_files


@pytest.mark.parametrize("release", RELEASES)
def test_fixture_env_files(release: str) -> None:
    env = parse_dotenv(checkout_files(release)["docker/.env"], {})
    assert tuple(env["COMPOSE_PROFILES"].split(",")) == EXPECTED[release].profiles
    assert env["RAGFLOW_IMAGE"] == f"infiniflow/ragflow:{EXPECTED[release].tag}"
    assert env["TIMEZONE"] == "Asia/Shanghai"  # single quotes stripped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A=1\n# comment\n\n  B = two  \n", {"A": "1", "B": "two"}),
        ("export A=1\n", {"A": "1"}),
        ("A='${B} $x'\n", {"A": "${B} $x"}),  # single quotes: literal
        ('A="x \\"y\\" ${B:-d}"\n', {"A": 'x "y" d'}),
        ("A=value # a comment\n", {"A": "value"}),
        ("A=value#not-a-comment\n", {"A": "value#not-a-comment"}),
        ("A=\n", {"A": ""}),
        ("A=1\nB=${A}-${A:+set}-${C:-unset}-${C-dash}\n", {"A": "1", "B": "1-set-unset-dash"}),
        ("A=$$literal\n", {"A": "$literal"}),
        ("not a line\n=novalue\nA=1\n", {"A": "1"}),
        ("A=1\nA=2\n", {"A": "2"}),
    ],
)
def test_parse(text: str, expected: dict[str, str]) -> None:
    assert parse_dotenv(text, {}) == expected


def test_the_environment_wins_over_the_file_like_compose() -> None:
    text = "DEVICE=${DEVICE:-cpu}\nDOC_ENGINE=elasticsearch\nCOMPOSE_PROFILES=${DOC_ENGINE},${DEVICE}\n"
    assert parse_dotenv(text, {"DEVICE": "gpu", "DOC_ENGINE": "infinity"})["COMPOSE_PROFILES"] == "infinity,gpu"
    assert parse_dotenv(text, {"COMPOSE_PROFILES": "x"})["COMPOSE_PROFILES"] == "x"
    assert parse_dotenv(text, None)["COMPOSE_PROFILES"] == "elasticsearch,cpu"


@pytest.mark.parametrize(
    ("value", "scope", "expected"),
    [
        ("${A:-x}", {"A": ""}, "x"),
        ("${A-x}", {"A": ""}, ""),
        ("${A-x}", {}, "x"),
        ("${A:+y}", {"A": "1"}, "y"),
        ("${A+y}", {"A": ""}, "y"),
        ("${A:?must be set}", {}, ""),
        ("$A/$B", {"A": "a", "B": "b"}, "a/b"),
        ("${A:-${B}}", {"B": "nested"}, "nested"),
        ("plain", {}, "plain"),
    ],
)
def test_interpolate(value: str, scope: dict[str, str], expected: str) -> None:
    assert interpolate(value, scope) == expected


@pytest.mark.parametrize("key", ["MYSQL_PASSWORD", "ELASTIC_PASSWORD", "REDIS_PASSWORD", "MINIO_PASSWORD", "API_KEY", "SECRET_KEY", "HF_TOKEN"])
def test_secret_names(key: str) -> None:
    assert is_secret(key) and mask(key, "abc") == "****"


@pytest.mark.parametrize("key", ["SVR_HTTP_PORT", "RAGFLOW_IMAGE", "COMPOSE_PROFILES", "MINIO_USER"])
def test_not_secret_names(key: str) -> None:
    assert not is_secret(key) and mask(key, "abc") == "abc"


def test_mask_text_hides_every_fixture_password() -> None:
    env = parse_dotenv(checkout_files("v0.24.0")["docker/.env"], {})
    text = " ".join(f"{k}={v}" for k, v in env.items())
    masked = mask_text(text, env)
    assert not any(pw in masked for pw in PASSWORDS.values())
    assert "infiniflow/ragflow:v0.24.0" in masked
    assert mask_text("pw=abc", {"X_PASSWORD": "abc"}) == "pw=abc"  # too short to mask safely
