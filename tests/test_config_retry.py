"""Settings from the environment, duration parsing, and the shared retry policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from hubsnap.config import DEFAULT_HF_ENDPOINT, Settings, parse_duration
from hubsnap.errors import ExitCode, UsageError
from hubsnap.retry import RetryPolicy, parse_retry_after


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30.0), ("2m", 120.0), ("500ms", 0.5), ("1.5", 1.5), ("1h", 3600.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "-1s", "0"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_duration(text)
    assert info.value.exit_code == ExitCode.USAGE


def test_settings_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = Settings.from_env({})
    assert settings.home == tmp_path / ".cache" / "hubsnap"
    assert settings.store == settings.home / "store"
    assert settings.hf_endpoint == DEFAULT_HF_ENDPOINT
    assert settings.hf_token is None
    assert settings.timeout == 60.0
    assert not settings.debug


def test_settings_from_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "HUBSNAP_HOME": str(tmp_path / "h"),
            "HUBSNAP_STORE": str(tmp_path / "s"),
            "HF_ENDPOINT": "http://127.0.0.1:9/",
            "HF_TOKEN": "hf_x",
            "HUBSNAP_TIMEOUT": "5s",
            "HUBSNAP_DEBUG": "1",
            "DOCKER_CONFIG": str(tmp_path / "d"),
        }
    )
    assert settings.store == tmp_path / "s"
    assert settings.hf_endpoint == "http://127.0.0.1:9"
    assert settings.hf_token == "hf_x"
    assert settings.timeout == 5.0
    assert settings.debug
    assert settings.docker_config == tmp_path / "d"


def test_retry_after_seconds_and_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2026, 1, 1, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(7.0)


def test_retry_policy_honours_retry_after_and_caps_it() -> None:
    slept: list[float] = []
    policy = RetryPolicy(max_delay=10.0, sleep=slept.append)
    policy.wait(1, "2")
    policy.wait(1, "3600")
    assert slept == [2.0, 10.0]


def test_retry_policy_backoff_grows_with_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=100.0)
    for attempt in range(1, 6):
        delay = policy.delay(attempt)
        full = 2 ** (attempt - 1)
        assert full / 2 <= delay <= full
