"""The event recorder: client-go's count aggregation, similar-event combining and spam filter."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.api.apiserver import ApiServer, Options
from cluster.controlplane.events import EventRecorder
from tests.controlplane.conftest import items


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def now_ns(self) -> int:
        return int(self.t * 1e9)

    def stamp(self) -> str:
        return f"2026-01-01T00:{int(self.t) // 60:02d}:{int(self.t) % 60:02d}Z"


@pytest.fixture
def recorder(api: ApiServer) -> tuple[EventRecorder, FakeClock]:
    clock = FakeClock()
    return EventRecorder(api, clock.now, clock.now_ns, clock.stamp), clock


def _owner() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web-5d4f", "namespace": "default", "uid": "u-1"},
    }


def _say(rec: EventRecorder, message: str, reason: str = "SuccessfulCreate") -> None:
    rec.record(_owner(), "Normal", reason, message, Options(trace=False), "replicaset-controller")


def test_a_repeat_bumps_the_count_of_one_event(api: ApiServer, recorder: tuple[EventRecorder, FakeClock]) -> None:
    rec, clock = recorder
    _say(rec, "Created pod: web-1", reason="FailedCreate")
    clock.t = 30
    _say(rec, "Created pod: web-1", reason="FailedCreate")
    events = items(api, "", "Event", "default")
    assert len(events) == 1
    assert events[0]["count"] == 2
    assert events[0]["firstTimestamp"] == "2026-01-01T00:00:00Z"
    assert events[0]["lastTimestamp"] == "2026-01-01T00:00:30Z"
    assert events[0]["metadata"]["name"].startswith("web-5d4f.")


def test_similar_events_are_combined_after_ten(api: ApiServer, recorder: tuple[EventRecorder, FakeClock]) -> None:
    """Events differing only by message: nine on their own, then one combined event that counts up."""
    rec, _ = recorder
    for i in range(14):
        _say(rec, f"Created pod: web-{i}")
    events = items(api, "", "Event", "default")
    plain = [e for e in events if not e["message"].startswith("(combined")]
    combined = [e for e in events if e["message"].startswith("(combined from similar events): ")]
    assert len(plain) == 9
    assert len(combined) == 1
    assert combined[0]["count"] == 5
    assert combined[0]["message"] == "(combined from similar events): Created pod: web-13"


def test_a_source_may_burst_25_events_about_an_object_then_one_per_five_minutes(
    api: ApiServer, recorder: tuple[EventRecorder, FakeClock]
) -> None:
    rec, clock = recorder
    for i in range(40):
        _say(rec, f"Deleted pod: web-{i}", reason="SuccessfulDelete")
    first = sum(e["count"] for e in items(api, "", "Event", "default"))
    assert first == 25
    clock.t = 299
    _say(rec, "Deleted pod: web-40", reason="SuccessfulDelete")
    assert sum(e["count"] for e in items(api, "", "Event", "default")) == 25
    clock.t = 301
    _say(rec, "Deleted pod: web-41", reason="SuccessfulDelete")
    # The combined event's count includes the dropped ones, as client-go's logger counts before the filter.
    combined = [e for e in items(api, "", "Event", "default") if e["message"].startswith("(combined")]
    assert combined and combined[0]["count"] == 42 - 9
