"""The garbage collector, set up for a task that streams rows, for the duration of a delivery.

Streaming allocates millions of short-lived objects (fetched rows, event dicts), and two of the
collector's defaults cost a task about a tenth of its CPU time:

* Every few hundred thousand allocations it runs a full pass, which walks everything the task
  process imported too (Airflow, SQLAlchemy, the drivers), garbage it never finds. The objects
  that exist when the delivery starts are moved out of its view (``gc.freeze``, as Airflow's own
  executor does before forking); they outlive the run anyway.
* A young-generation pass runs every 700 net container allocations. A fetched chunk of rows, or
  a batch of prepared events waiting for its request, is more than that, so the collector walked
  every row and event about once: 1.3 us per event. During the delivery the threshold is
  :data:`YOUNG_THRESHOLD`. Almost everything is freed by reference counting anyway; what waits for
  the collector is small (the HTTP client's reference cycles, which the client keeps clear of
  request bodies), so memory stays flat.

Both are undone when the delivery ends.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

#: net container allocations between two young-generation passes during a delivery
YOUNG_THRESHOLD = 20_000


@contextlib.contextmanager
def collector_tuned_for_streaming() -> Iterator[None]:
    """Freeze the heap (unless someone else already froze it) and raise the young-generation
    threshold to at least :data:`YOUNG_THRESHOLD` (unless it is 0: automatic collection off);
    both are restored afterwards."""
    thresholds = gc.get_threshold()
    if thresholds[0]:
        gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    freeze = not gc.get_freeze_count()  # a heap someone else froze is left as it is
    if freeze:
        gc.freeze()
    try:
        yield
    finally:
        if freeze:
            gc.unfreeze()
        gc.set_threshold(*thresholds)
