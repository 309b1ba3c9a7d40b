"""Prepared (serialized) events and their packing into request bodies.

An event is serialized once, when it is prepared; a request body is the join of its events'
bytes, so resending a subset (after a culprit is removed) never serializes anything again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import orjson

from airflow_provider_openai_ads.conversions.report import Rejection
from airflow_provider_openai_ads.conversions.taxonomy import MAX_EVENTS_PER_REQUEST

#: our own cap per request body; the API documents none (RudderStack uses 4 MB)
DEFAULT_MAX_REQUEST_BYTES = 4_000_000
#: our own cap per event; larger events are rejected, never sent
DEFAULT_MAX_EVENT_BYTES = 512_000
_ENVELOPE_OVERHEAD = 128


class PreparedEvent:
    """One API event, validated and serialized, with the number of input rows it came from."""

    __slots__ = ("event_id", "payload", "rows", "timestamp_ms")

    def __init__(self, event_id: str, timestamp_ms: int, payload: bytes, rows: int = 1) -> None:
        self.event_id = event_id
        self.timestamp_ms = timestamp_ms
        self.payload = payload
        self.rows = rows

    @classmethod
    def from_event(cls, event: dict, rows: int = 1) -> PreparedEvent:
        return cls(event["id"], event["timestamp_ms"], orjson.dumps(event), rows)

    def __repr__(self) -> str:
        return f"PreparedEvent(id={self.event_id!r}, timestamp_ms={self.timestamp_ms}, bytes={len(self.payload)})"


def request_body(
    events: list[PreparedEvent], *, validate_only: bool, integration_source: str | None
) -> bytes:
    tail = b'],"validate_only":' + (b"true" if validate_only else b"false")
    if integration_source is not None:
        tail += b',"integration_source":' + orjson.dumps(integration_source)
    tail += b"}"
    parts = [e.payload for e in events]
    if not parts:
        return b'{"events":[' + tail
    # one join writes the body: concatenating around a joined megabyte would copy it again twice
    parts[0] = b'{"events":[' + parts[0]
    parts[-1] += tail
    return b",".join(parts)


def iter_batches(
    events: Iterable[PreparedEvent],
    *,
    max_events: int = MAX_EVENTS_PER_REQUEST,
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    on_oversized: Callable[[Rejection], None],
) -> Iterator[list[PreparedEvent]]:
    """Group events into batches of at most ``max_events`` events and ``max_bytes`` bytes.

    Events larger than ``max_event_bytes`` are handed to ``on_oversized`` as a rejection and
    never batched. Batches are yielded as soon as they are full, so memory stays bounded.
    """
    if not 1 <= max_events <= MAX_EVENTS_PER_REQUEST:
        raise ValueError(f"max_events must be between 1 and {MAX_EVENTS_PER_REQUEST}")
    max_event_bytes = min(max_event_bytes, max_bytes - _ENVELOPE_OVERHEAD)
    batch: list[PreparedEvent] = []
    size = _ENVELOPE_OVERHEAD
    for event in events:
        event_size = len(event.payload) + 1
        if event_size > max_event_bytes:
            on_oversized(
                Rejection(
                    event.event_id,
                    "event_too_large",
                    f"the serialized event is {event_size} bytes, over the {max_event_bytes}-byte limit per event",
                    rows=event.rows,
                )
            )
            continue
        if batch and (len(batch) >= max_events or size + event_size > max_bytes):
            yield batch
            batch, size = [], _ENVELOPE_OVERHEAD
        batch.append(event)
        size += event_size
    if batch:
        yield batch
