"""Interleaved repeated timing: every round runs each contender once, in a rotating order."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any


def interleaved(
    contenders: Mapping[str, Callable[[Any], object]], make_input: Callable[[], Any], *, rounds: int
) -> dict[str, list[float]]:
    """Seconds per run of each contender on a fresh ``make_input()``, ``rounds`` times each, interleaved.

    The input is made before the clock starts, so it is not timed. Round ``r`` starts with
    contender ``r mod n``, so none always runs first (warm caches) or last (a CPU already hot).
    The garbage collector is collected before each run and disabled during it, the same for
    every contender.
    """
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up: imports, caches, first allocations
        contenders[name](make_input())
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            data = make_input()
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                contenders[name](data)
                times[name].append(time.perf_counter() - start)
            finally:
                gc.enable()
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)
