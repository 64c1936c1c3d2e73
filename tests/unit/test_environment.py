"""The environment contract: a bad variable is named with the fix (never its secret value),
and SRE_AI_* variables no setting reads are found with the closest known name."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.config.environment import (
    fallback_log_format,
    known_variables,
    load_settings,
    unknown_variables,
)
from app.errors import ConfigurationError


def test_every_setting_has_its_variable_and_aliases_keep_their_names() -> None:
    known = known_variables()
    assert "ANTHROPIC_API_KEY" in known and "SRE_AI_ANTHROPIC_API_KEY" not in known
    assert {"SRE_AI_LOG_LEVEL", "SRE_AI_REDIS_URL", "SRE_AI_POLICY_CONFIGMAP"} <= known
    assert len(known) == len(Settings.model_fields)


def test_unknown_variables_get_the_closest_known_name() -> None:
    env = {"SRE_AI_REDIS_URI": "redis://x", "SRE_AI_LOG_LEVEL": "INFO", "SRE_AI_ZZZ": "1",
           "HOME": "/root", "ANTHROPIC_API_KEYS": "x"}
    assert unknown_variables(env) == [("SRE_AI_REDIS_URI", "SRE_AI_REDIS_URL"),
                                      ("SRE_AI_ZZZ", None)]


@pytest.mark.parametrize(("given", "level"), [("debug", "DEBUG"), (" Warn ", "WARNING"),
                                              ("ERROR", "ERROR")])
def test_log_levels_are_normalised(given: str, level: str) -> None:
    assert Settings(log_level=given).log_level == level


def test_a_bad_value_names_the_variable_and_never_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SRE_AI_LOG_LEVEL", "verbose")
    monkeypatch.setenv("SRE_AI_MAX_BODY_BYTES", "-1")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    err = caught.value
    assert err.setting == "SRE_AI_LOG_LEVEL, SRE_AI_MAX_BODY_BYTES"
    assert "SRE_AI_LOG_LEVEL='verbose': not a log level" in err.detail
    assert "SRE_AI_MAX_BODY_BYTES='-1': Input should be greater than 0" in err.detail
    assert "SRE_AI_LOG_LEVEL" in err.fix
    # a check across variables is named by the variables its message names, secrets never
    monkeypatch.delenv("SRE_AI_LOG_LEVEL")
    monkeypatch.delenv("SRE_AI_MAX_BODY_BYTES")
    monkeypatch.setenv("SRE_AI_ALERT_WEBHOOK_URL", "https://hooks.example/T0/SECRET")
    monkeypatch.setenv("SRE_AI_ALERT_WEBHOOK_URL_FILE", "/x")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    err = caught.value
    assert err.setting == "SRE_AI_ALERT_WEBHOOK_URL, SRE_AI_ALERT_WEBHOOK_URL_FILE"
    assert "SECRET" not in err.detail + err.fix


@pytest.mark.parametrize(("value", "fmt"), [("console", "console"), ("CONSOLE", "console"),
                                            ("xml", "json"), (None, "json")])
def test_an_error_is_reported_in_the_configured_format_or_json(value: str | None,
                                                               fmt: str) -> None:
    env = {} if value is None else {"SRE_AI_LOG_FORMAT": value}
    assert fallback_log_format(env) == fmt


def test_the_in_flight_limit_is_a_count_and_zero_turns_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert load_settings().max_in_flight == 1000
    monkeypatch.setenv("SRE_AI_MAX_IN_FLIGHT", "0")
    assert load_settings().max_in_flight == 0
    monkeypatch.setenv("SRE_AI_MAX_IN_FLIGHT", "-5")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert caught.value.setting == "SRE_AI_MAX_IN_FLIGHT"


def test_an_empty_embedding_cache_dir_is_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's "empty: none": not the working directory, which `.` would be."""
    monkeypatch.setenv("SRE_AI_EMBEDDING_CACHE_DIR", "")
    assert load_settings().embedding_cache_dir is None
    monkeypatch.setenv("SRE_AI_EMBEDDING_CACHE_DIR", "/var/lib/sre-ai/embeddings")
    assert str(load_settings().embedding_cache_dir) == "/var/lib/sre-ai/embeddings"
