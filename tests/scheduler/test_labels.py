"""Label selectors as the scheduler parses them (metav1.LabelSelectorAsSelector)."""

from __future__ import annotations

import pytest

from cluster.scheduler.labels import EVERYTHING, NOTHING, SelectorError, label_selector_as_selector


def test_a_remembered_selector_is_the_one_parsed_and_a_bad_one_fails_every_time() -> None:
    good = {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a"]}]}
    first = label_selector_as_selector(good)
    again = label_selector_as_selector(
        {"matchLabels": {"app": "web"}, "matchExpressions": [dict(good["matchExpressions"][0])]}
    )
    assert again is first  # remembered, not parsed again
    assert first.matches({"app": "web", "tier": "a"}) and not first.matches({"app": "web", "tier": "b"})
    other = label_selector_as_selector({"matchLabels": {"app": "db"}})
    assert not other.matches({"app": "web"})
    bad = {"matchLabels": {"app": "not a valid value!"}}
    for _ in range(2):
        with pytest.raises(SelectorError):
            label_selector_as_selector(bad)
    with pytest.raises(SelectorError):
        label_selector_as_selector({"matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]})
    assert label_selector_as_selector(None) is NOTHING and label_selector_as_selector({}) is EVERYTHING
