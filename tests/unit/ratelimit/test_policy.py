"""The policy's `rate_limits` section: strict, bounded, a key's entry inherits the default's
fields, 0 is unlimited, and no section means no limits."""

from __future__ import annotations

import pytest
import yaml

from app.config import CallerLimits, parse_policy
from app.config.rate_limits import MAX_REQUESTS_PER_MINUTE, MAX_TOKENS_PER_MINUTE
from app.errors import PolicyError


def limits(section: object) -> object:
    return parse_policy(yaml.safe_dump({"rate_limits": section})).rate_limits


def rejection(section: object) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(yaml.safe_dump({"rate_limits": section}))
    return info.value.detail


def test_no_section_limits_nobody() -> None:
    assert parse_policy("{}").rate_limits.for_caller("anyone").unlimited


def test_a_key_entry_overrides_the_default_field_by_field_and_zero_is_unlimited() -> None:
    policy = parse_policy(yaml.safe_dump({"rate_limits": {
        "default": {"requests_per_minute": 60, "tokens_per_minute": 100_000},
        "keys": {"ci-bot": {"requests_per_minute": 5},
                 "oncall": {"requests_per_minute": 0, "tokens_per_minute": 0}},
    }})).rate_limits
    assert policy.for_caller("ci-bot") == CallerLimits(requests_per_minute=5,
                                                       tokens_per_minute=100_000)
    assert policy.for_caller("oncall").unlimited
    assert policy.for_caller("someone-else") == CallerLimits(requests_per_minute=60,
                                                             tokens_per_minute=100_000)


@pytest.mark.parametrize(("section", "where"), [
    ({"default": {"request_per_minute": 5}}, "rate_limits.default.request_per_minute"),
    ({"defaults": {}}, "rate_limits.defaults"),
    ({"keys": {"a": {"requests_per_minute": -1}}}, "rate_limits.keys.a.requests_per_minute"),
    ({"default": {"requests_per_minute": MAX_REQUESTS_PER_MINUTE + 1}},
     "rate_limits.default.requests_per_minute"),
    ({"default": {"tokens_per_minute": MAX_TOKENS_PER_MINUTE + 1}},
     "rate_limits.default.tokens_per_minute"),
    ({"default": {"tokens_per_minute": 1.5}}, "rate_limits.default.tokens_per_minute"),
    ({"keys": {"bad{tag}": {}}}, "rate_limits.keys.bad{tag}"),
], ids=["typo", "unknown-section", "negative", "rpm-bound", "tpm-bound", "fraction", "braces"])
def test_a_bad_section_is_refused_naming_the_field(section: object, where: str) -> None:
    assert rejection(section).startswith(where), rejection(section)


def test_each_callers_limits_are_resolved_once_per_policy_and_equal_policies_stay_equal() -> None:
    """The limiter asks twice per request: the answer is built when the policy is, not then."""
    section = {"default": {"requests_per_minute": 60}, "keys": {"ci-bot": {"tokens_per_minute": 9}}}
    policy = parse_policy(yaml.safe_dump({"rate_limits": section})).rate_limits
    assert policy.for_caller("ci-bot") is policy.for_caller("ci-bot")
    assert policy.for_caller("a") is policy.for_caller("b")  # the default's, shared
    assert policy.for_caller("ci-bot") == CallerLimits(requests_per_minute=60,
                                                       tokens_per_minute=9)
    again = parse_policy(yaml.safe_dump({"rate_limits": section})).rate_limits
    assert again == policy and again.for_caller("x") == policy.for_caller("y")
