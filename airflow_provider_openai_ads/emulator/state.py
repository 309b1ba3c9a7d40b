"""Everything the emulator remembers, shared by the server's event loop and in-process readers."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_openai_ads.conversions.schema import Event
from airflow_provider_openai_ads.emulator.config import EmulatorConfig
from airflow_provider_openai_ads.emulator.faults import FaultDecision, FaultInjector
from airflow_provider_openai_ads.emulator.lean_schema import LeanModel
from airflow_provider_openai_ads.emulator.stats import EmulatorStats, RequestRecord, StatsCounter
from airflow_provider_openai_ads.emulator.store import EventStore

REQUEST_LOG_SIZE = 10_000
"""How many :class:`RequestRecord` entries are kept (oldest dropped first)."""


class EmulatorState:
    """The running configuration, accepted events, dedup index, statistics and request log.

    The server mutates it from its event-loop thread while tests read it from theirs, so every
    access goes through one lock (held briefly, never across an ``await``). Readers get copies.
    """

    def __init__(self, config: EmulatorConfig) -> None:
        self._lock = threading.Lock()
        self._initial_config = config
        self._config = config
        self._faults = FaultInjector(config.seed)
        self._store = EventStore()
        self._stats = StatsCounter()
        self._log: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_SIZE)

    # -- configuration -------------------------------------------------------------------------

    @property
    def config(self) -> EmulatorConfig:
        """The settings in force (an immutable snapshot)."""
        return self._config

    def configure(self, changes: Mapping[str, Any] | None = None, /, **more: Any) -> EmulatorConfig:
        """Apply runtime changes (``changes`` and keyword arguments) atomically; the new settings.

        Raises ``ValueError`` (a ``pydantic.ValidationError`` for bad values) and changes nothing
        when any change is invalid. Changing ``seed`` restarts the fault sequence.
        """
        changes = {**(changes or {}), **more}
        with self._lock:
            self._config = self._config.with_changes(changes)
            if "seed" in changes:
                self._faults.reseed(self._config.seed)
            return self._config

    def reset(self, *, restore_config: bool = False) -> None:
        """Forget events, dedup keys, statistics and the request log; restart the fault sequence.

        With ``restore_config`` the settings the emulator started with come back as well.
        """
        with self._lock:
            if restore_config:
                self._config = self._initial_config
            self._store.clear()
            self._stats = StatsCounter()
            self._log.clear()
            self._faults.reseed(self._config.seed)

    # -- used by the app -----------------------------------------------------------------------

    def draw_fault(self, config: EmulatorConfig) -> FaultDecision:
        return self._faults.draw(config)

    def accept(self, pid: str, events: Sequence[Event | LeanModel], body: bytes | None) -> tuple[int, int]:
        """Register a validated batch, first event per dedup key wins; ``(accepted, duplicates)``.

        ``body``, the request as received, is kept for reading the accepted events back; ``None``
        keeps only the dedup keys.
        """
        with self._lock:
            return self._store.add(pid, events, body)

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._stats.add(record)
            self._log.append(record)

    # -- readers -------------------------------------------------------------------------------

    def events(
        self, pid: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Accepted events exactly as sent (fresh objects), in acceptance order, paged."""
        with self._lock:
            slices = self._store.select(pid, offset=offset, limit=limit)
        # stored batches are immutable: parsing them outside the lock is safe
        return [event for batch, start, stop in slices for event in batch.events(start, stop)]

    def event_count(self, pid: str | None = None) -> int:
        with self._lock:
            return self._store.count(pid)

    def stats(self) -> EmulatorStats:
        with self._lock:
            return self._stats.snapshot(stored_events=self._store.count(), dedup_keys=self._store.key_count())

    def requests(self) -> list[RequestRecord]:
        """The most recent ``POST /v1/events`` outcomes, oldest first."""
        with self._lock:
            return list(self._log)
