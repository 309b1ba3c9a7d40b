"""The garbage collector's long-lived heap, frozen while a task streams rows.

Streaming allocates millions of short-lived objects (fetched rows, event dicts). Every few
hundred thousand of them the cyclic collector runs a full pass, which walks everything the task
process imported too (Airflow, SQLAlchemy, the drivers), garbage it never finds: about 6% of a
task's CPU time. While a delivery runs, :func:`long_lived_heap_frozen` moves the objects that
exist when it starts out of the collector's view (``gc.freeze``, as Airflow's own executor does
before forking); they outlive the run anyway. Collection itself is left as it is: the HTTP
client's responses are reference cycles holding request bodies, which must go as usual.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def long_lived_heap_frozen() -> Iterator[None]:
    """``gc.freeze()`` for the duration, then ``gc.unfreeze()``; a heap someone else froze
    (``gc.get_freeze_count()`` non-zero) is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
