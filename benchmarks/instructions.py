"""CPU instructions per event, counted by valgrind's callgrind: our hot path, the floor, and
the emulator's judging of our request bodies.

Timings on a shared 2-core virtual machine move by 10-20% between runs, more than most single
changes to the hot path are worth. Instruction counts are deterministic to about 0.1%, so this
is how to compare two versions of the code (the timed benchmark stays the reference for the
targets). Each contender runs twice under callgrind on the same fresh rows (``as_fetched``),
once with the workload and once without; the difference over the events is its cost per event.
The emulator's judge is counted the same way, on the request bodies our hot path makes of
those rows (it shares the machine with the task in the end-to-end benchmark).

    python -m benchmarks.instructions [orders]      # default 2,000 orders; about a minute
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTENDERS = ("ours", "floor", "judge")
_COLLECTED = re.compile(r"Collected : (\d+)")


def _workload(contender: str, orders: int, run: bool) -> None:
    """Inside the measured process: warm up, make the input from fresh rows, then (if ``run``)
    measure the contender on it."""
    from benchmarks.data import as_fetched, order_rows

    prepare, measured = _steps(contender)
    rows = order_rows(orders)
    measured(prepare(as_fetched(rows[: max(1, orders // 5)])))  # imports, caches, first allocations
    data = prepare(as_fetched(rows))
    if run:
        measured(data)


def _steps(contender: str) -> tuple[Callable[[list[dict]], Any], Callable[[Any], object]]:
    """``(prepare, measured)``: what turns the rows into the contender's input (not counted),
    and the contender itself."""
    from benchmarks.hot_path import floor, ours

    if contender != "judge":
        return (lambda rows: rows), (ours if contender == "ours" else floor)
    import time

    from airflow_provider_openai_ads.emulator.config import EmulatorConfig
    from airflow_provider_openai_ads.emulator.judge import Rejected, judge

    config = EmulatorConfig()
    now_ms = time.time_ns() // 1_000_000

    def judge_all(bodies: list[bytes]) -> None:  # the emulator's verdict on each of our bodies
        for body in bodies:
            if isinstance(judge(body, config, now_ms), Rejected):
                raise RuntimeError("the emulator refused a benchmark body: the count would not be judging")

    return ours, judge_all


def _count(contender: str, orders: int, run: bool) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--workload",
        json.dumps([contender, orders, run]),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    match = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise RuntimeError(f"callgrind failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(match[1])


def run(orders: int = 2000) -> dict[str, float]:
    """Instructions per event of each contender, and ours over the floor."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed")
    jobs = [(contender, run) for contender in CONTENDERS for run in (False, True)]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        counts = dict(zip(jobs, pool.map(lambda job: _count(job[0], orders, job[1]), jobs), strict=True))
    per_event = {c: (counts[c, True] - counts[c, False]) / orders for c in CONTENDERS}
    return {
        **{c: round(v) for c, v in per_event.items()},
        "ours_over_floor": per_event["ours"] / per_event["floor"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("orders", nargs="?", type=int, default=2000)
    parser.add_argument("--workload", help="(internal) the measured process: [contender, orders, run]")
    args = parser.parse_args(argv)
    if args.workload:
        _workload(*json.loads(args.workload))
        return
    result = run(args.orders)
    print(
        f"instructions per event: ours {result['ours']:,}, floor {result['floor']:,}; "
        f"ours / floor = {result['ours_over_floor']:.3f}; the emulator judging our bodies {result['judge']:,}"
    )


if __name__ == "__main__":
    main()
