"""Accepted events and the deduplication index (documented key: pixel + event name + ``id``)."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_openai_ads.conversions.schema import Event
from airflow_provider_openai_ads.emulator.jsonio import decode
from airflow_provider_openai_ads.emulator.lean_schema import LeanModel

_SEP = "\x1f"


def dedup_key(event_type: str, custom_event_name: str | None, event_id: str) -> str:
    """The per-pixel deduplication key of one event.

    A custom event is keyed by its ``custom_event_name`` (lower-cased, as the API does). Neither a
    type nor a valid custom name can contain the separator, so keys never collide by construction.
    """
    if event_type == "custom" and custom_event_name is not None:
        return f"custom{_SEP}{custom_event_name.lower()}{_SEP}{event_id}"
    return f"{event_type}{_SEP}{event_id}"


@dataclass(frozen=True, slots=True)
class StoredBatch:
    """The accepted events of one request: its body as received, and which of its events count."""

    pid: str
    body: bytes
    positions: array[int] | None
    """Indexes of the accepted events in ``body``'s ``events``; ``None``: all of them."""
    count: int

    def events(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """The accepted events ``[start:stop]``, parsed from the body (fresh objects)."""
        sent = decode(self.body)["events"]
        if self.positions is None:
            return sent[start:stop]
        return [sent[position] for position in self.positions[start:stop]]


class EventStore:
    """First-wins deduplication per pixel, plus (optionally) the accepted events themselves.

    Events are kept as the request bodies they came in, parsed only when read: storing costs
    nothing per event, bodies are compact and immutable, and the cyclic garbage collector never
    has to walk millions of stored dicts. Not thread-safe on its own;
    :class:`~.state.EmulatorState` serialises access.
    """

    def __init__(self) -> None:
        self._keys: dict[str, set[str]] = {}
        self._batches: list[StoredBatch] = []
        self._counts: Counter[str] = Counter()

    def add(self, pid: str, events: Sequence[Event | LeanModel], body: bytes | None) -> tuple[int, int]:
        """Register a validated batch; ``(accepted, duplicates)``.

        ``body`` (the request as received, whose ``events`` are ``events``) is kept for the newly
        accepted events when given; with ``None`` only the deduplication keys are kept.
        """
        keys = self._keys.setdefault(pid, set())
        positions = []
        for position, event in enumerate(events):
            key = dedup_key(event.type, event.custom_event_name, event.id)
            if key not in keys:
                keys.add(key)
                positions.append(position)
        accepted = len(positions)
        if body is not None and accepted:
            kept = None if accepted == len(events) else array("H", positions)  # <= 1000 events a request
            self._batches.append(StoredBatch(pid, body, kept, accepted))
            self._counts[pid] += accepted
        return accepted, len(events) - accepted

    def select(
        self, pid: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[tuple[StoredBatch, int, int]]:
        """``(batch, start, stop)`` slices covering stored events ``[offset:offset+limit]`` in order.

        Cheap (no parsing), so callers can hold a lock for it and parse the slices outside.
        """
        slices = []
        skip = offset
        wanted = limit
        for batch in self._batches:
            if wanted is not None and wanted <= 0:
                break
            if pid is not None and batch.pid != pid:
                continue
            if skip >= batch.count:
                skip -= batch.count
                continue
            stop = batch.count if wanted is None else min(batch.count, skip + wanted)
            slices.append((batch, skip, stop))
            if wanted is not None:
                wanted -= stop - skip
            skip = 0
        return slices

    def count(self, pid: str | None = None) -> int:
        return self._counts.total() if pid is None else self._counts[pid]

    def key_count(self) -> int:
        return sum(len(keys) for keys in self._keys.values())

    def clear(self) -> None:
        self._keys.clear()
        self._batches.clear()
        self._counts.clear()
