"""Interleaved repeated timing: every round runs each contender once, in a rotating order."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping


def interleaved(contenders: Mapping[str, Callable[[], object]], *, rounds: int) -> dict[str, list[float]]:
    """Seconds per run of each contender, ``rounds`` times each, interleaved.

    Round ``r`` starts with contender ``r mod n``, so none always runs first (warm caches) or
    last (a CPU already hot). The garbage collector is collected before each run and disabled
    during it, the same for every contender.
    """
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up: imports, caches, first allocations
        contenders[name]()
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                contenders[name]()
                times[name].append(time.perf_counter() - start)
            finally:
                gc.enable()
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)
