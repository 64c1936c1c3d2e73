"""One paid call per question in flight (issue 13), through the real service: three uvicorn
replicas share one redis-server, and the fake Anthropic API holds every call until the test
releases it, so all the questions are in flight together."""

from __future__ import annotations

import pytest

from tests.fakes.service_process import wait_until
from tests.integration.money.conftest import Burst, Fleet, metric_sum, policy_yaml

pytestmark = pytest.mark.integration

TIMEOUT_SECONDS = 120.0


def in_flight(fleet: Fleet) -> float:
    return sum(metric_sum(s, "ai_active_requests") for s in fleet.replicas)


def coalesced(fleet: Fleet) -> float:
    series = 'ai_cache_lookups_total{outcome="coalesced"}'
    return sum(metric_sum(s, series) for s in fleet.replicas)


def test_fifty_identical_questions_across_replicas_make_one_upstream_call(fleet: Fleet) -> None:
    fleet.apply(policy_yaml())
    fleet.fake.hold()
    burst = Burst(fleet.replicas, ["pod OOMKilled, what now?"] * 50)
    wait_until(lambda: in_flight(fleet) >= 50, timeout=TIMEOUT_SECONDS,
               what="all 50 questions in flight")
    assert len(fleet.fake.arrived) == 1  # the other 49 wait for it, in every replica
    fleet.fake.release()
    done = burst.finish(TIMEOUT_SECONDS)
    assert [o.status for o in done] == [200] * 50
    assert len({o.body["answer"] for o in done}) == 1
    paid = [o for o in done if o.body["cost_usd"] > 0]
    assert len(paid) == 1 and not paid[0].body["cached"]
    assert all(o.body["cached"] for o in done if o is not paid[0])
    assert len(fleet.fake.arrived) == 1
    assert coalesced(fleet) == 49
    assert {o.replica for o in done} == {0, 1, 2}


def test_a_reworded_question_in_flight_is_waited_for_too(fleet: Fleet) -> None:
    fleet.apply(policy_yaml())
    fleet.fake.hold()
    first = Burst(fleet.replicas[:1], ["postgres refusing connections: too many clients already"])
    wait_until(lambda: len(fleet.fake.arrived) == 1, timeout=TIMEOUT_SECONDS,
               what="the first question's call")
    second = Burst(fleet.replicas[1:2],
                   ["postgres refuses connections, too many clients already"])
    wait_until(lambda: in_flight(fleet) >= 2, timeout=TIMEOUT_SECONDS,
               what="the reworded question in flight")
    assert len(fleet.fake.arrived) == 1
    fleet.fake.release()
    a, b = first.finish(TIMEOUT_SECONDS)[0], second.finish(TIMEOUT_SECONDS)[0]
    assert a.status == b.status == 200 and a.body["answer"] == b.body["answer"]
    assert b.body["cached"] and b.body["cost_usd"] == 0
    assert len(fleet.fake.arrived) == 1


def test_with_single_flight_off_each_identical_question_pays(fleet: Fleet) -> None:
    fleet.apply(policy_yaml() + "cache: {single_flight_enabled: false, max_entries: 0}\n")
    fleet.fake.hold()
    burst = Burst(fleet.replicas, ["pod OOMKilled, what now?"] * 6)
    wait_until(lambda: len(fleet.fake.arrived) == 6, timeout=TIMEOUT_SECONDS,
               what="six upstream calls")
    fleet.fake.release()
    assert [o.status for o in burst.finish(TIMEOUT_SECONDS)] == [200] * 6
