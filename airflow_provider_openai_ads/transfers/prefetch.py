"""Fetching the next chunk of a query's rows while the current one is mapped and sent.

A server-side cursor's ``fetchmany`` is a round trip: the database computes the next chunk
while the task waits. :func:`prefetched_rows` moves those calls to a reader thread that keeps
up to ``depth`` chunks ready in a bounded queue, so the waits overlap the task's own work and
memory stays bounded (``depth`` + 2 chunks). Only ``fetchmany`` runs in the reader thread; the
connection and the cursor are opened, executed and closed by the caller's thread, after the
reader has stopped.

The reader needs the GIL for a moment after each round trip, to build the chunk's rows. The
thread that maps them holds it, and CPython takes it from a running thread only every switch
interval (5 ms by default, longer than mapping a chunk takes): the mapping thread of a
PostgreSQL benchmark task waited for rows 40% of its time. While rows are prefetched the
interval is :data:`SWITCH_INTERVAL_S` (unless it was already shorter): the wait fell to a tenth
and the task delivered 4-8% more events per second (``benchmarks/``, 300,000 orders, alternating
runs). It is restored when the rows end or the consumer stops.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

_DONE = object()
_PUT_TIMEOUT_S = 0.1
#: the interpreter's switch interval while rows are prefetched
SWITCH_INTERVAL_S = 0.001


class _Failed:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched_rows(fetch: Callable[[], Sequence[Any]], *, depth: int = 2) -> Iterator[Any]:
    """The rows of successive ``fetch()`` chunks (an empty chunk ends them), fetched ahead.

    An exception raised by ``fetch`` is raised here, where its chunk would have been. Closing
    the generator early stops the reader after its current ``fetch`` and waits for it.
    """
    chunks: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=_PUT_TIMEOUT_S)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            while not stop.is_set():
                chunk = fetch()
                if not chunk:
                    break
                if not put(chunk):
                    return
        except BaseException as error:  # handed to the consumer, raised in its thread
            put(_Failed(error))
            return
        put(_DONE)

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL_S))
    reader = threading.Thread(target=read, name="openai-ads-fetch", daemon=True)
    reader.start()
    try:
        while (chunk := chunks.get()) is not _DONE:
            if type(chunk) is _Failed:
                raise chunk.error
            yield from chunk
    finally:
        stop.set()
        reader.join()
        sys.setswitchinterval(switch_interval)
