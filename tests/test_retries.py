"""The pause before pyramid_retry's next attempt: random, growing with the
attempt, bounded, and registered in the app (tests/test_faults.py shows what it
is for: conflicting requests no longer meet again attempt after attempt)."""

from __future__ import annotations

import pytest
from pyramid.scripting import prepare
from pyramid_retry import BeforeRetry

from sessapp import retries


@pytest.mark.parametrize(("attempt", "longest"), [(0, 0.05), (1, 0.1), (2, 0.2), (4, 0.5),
                                                  (30, 0.5)])
def test_the_pause_is_drawn_between_zero_and_its_bound(attempt, longest):
    assert retries.pause_length(attempt, draw=lambda low, high: high) == pytest.approx(longest)
    assert retries.pause_length(attempt, draw=lambda low, high: low) == 0.0


def test_pauses_differ_from_one_retry_to_the_next():
    assert len({retries.pause_length(3) for _ in range(20)}) > 1


@pytest.mark.backends("sqlite")
def test_a_retry_of_the_app_waits_before_its_next_attempt(harness, monkeypatch):
    waited = []
    monkeypatch.setattr(retries.time, "sleep", waited.append)
    env = prepare(registry=harness.registry)
    try:
        request = env["request"]
        request.environ["retry.attempt"] = 1
        harness.registry.notify(BeforeRetry(request, RuntimeError("conflict")))
    finally:
        env["closer"]()
    assert len(waited) == 1 and 0 <= waited[0] <= 0.1
