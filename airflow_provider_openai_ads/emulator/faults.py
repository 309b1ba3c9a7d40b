"""Seeded, reproducible fault injection for ``POST /v1/events``."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from airflow_provider_openai_ads.emulator.config import EmulatorConfig

FaultKind = Literal["drop", "429", "500", "503"]
FAULT_KINDS: tuple[str, ...] = ("drop", "429", "500", "503", "slow")
"""Every kind counted in the statistics (``slow`` is a delay, the others replace the answer)."""
_RATE_FIELDS: tuple[tuple[FaultKind, str], ...] = (
    ("drop", "rate_drop"),
    ("429", "rate_429"),
    ("500", "rate_500"),
    ("503", "rate_503"),
)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    kind: FaultKind | None
    slow: bool
    delay_s: float


class FaultInjector:
    """Draws the fate of each request from ``random.Random(seed)``.

    Exactly two numbers are drawn per request whatever the rates, so a given seed yields the same
    sequence of decisions for the same sequence of requests, even across rate changes.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def reseed(self, seed: int) -> None:
        self._rng = random.Random(seed)  # a new object: swapping it is atomic for other threads

    def draw(self, config: EmulatorConfig) -> FaultDecision:
        rng = self._rng
        fault_draw = rng.random()
        slow_draw = rng.random()
        kind: FaultKind | None = None
        threshold = 0.0
        for candidate, rate_field in _RATE_FIELDS:
            threshold += getattr(config, rate_field)
            if fault_draw < threshold:
                kind = candidate
                break
        slow = slow_draw < config.slow_rate
        delay_ms = config.latency_ms + (config.slow_ms if slow else 0.0)
        return FaultDecision(kind=kind, slow=slow, delay_s=delay_ms / 1000.0)
