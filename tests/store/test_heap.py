"""The collector settings a cluster process runs with (cluster/heap.py)."""

from __future__ import annotations

import gc

from cluster import heap


def test_the_app_tunes_the_collector_when_it_loads() -> None:
    assert gc.get_threshold() == heap.THRESHOLDS
    # What the app loaded before it was ready is out of the collector's walks.
    assert gc.get_freeze_count() > 10_000
