"""The garbage collector's settings for a process that holds cluster caches.

A control-loop process keeps every watched object in its informer caches: hundreds of thousands
of dicts and lists that live as long as the process. CPython's default thresholds (700, 10, 10)
run a young collection every 700 net allocations and, whenever the old generation has grown by
a quarter, a full collection that walks all of them. At 10,000 pods that was fifteen full
collections of about a quarter of a second each, a tenth of the end-to-end time. JSON objects
form no reference cycles, so almost all of that garbage is freed by reference counting anyway;
the cycle collector only has to find the rare cycles (loops, closures, tracebacks), and can look
less often. Objects made while the app loads (modules, schemas, settings) are frozen out of the
collector's walks altogether.
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 20, 10)
"""Young collections every 50,000 net allocations; the rest as CPython's defaults scale."""


def tune() -> None:
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()
