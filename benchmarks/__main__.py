"""``python -m benchmarks``: hot path, end to end and failure cost; prints and saves a markdown table.

    python -m benchmarks                  # the full run (1,000,000-order warehouses; builds them once)
    python -m benchmarks --quick          # minutes: smaller sizes, fewer rounds
    python -m benchmarks --orders 200000 --only hot,e2e

Results go to stdout and to ``.bench/results.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from airflow_provider_openai_ads.conversions import compiled_modules
from benchmarks import end_to_end, failure_cost, hot_path
from benchmarks.data import BENCH_DIR
from benchmarks.results import document

BENCHMARKS = ("hot", "e2e", "failure")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Run the provider's benchmarks."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and few rounds (a few minutes)")
    parser.add_argument(
        "--orders",
        "--rows",
        dest="orders",
        type=int,
        help="end to end: the large size in orders (1-3 rows each); the small size is a tenth "
        "(default 1,000,000; --quick 100,000)",
    )
    parser.add_argument(
        "--hot-orders", type=int, help="hot path: orders per run (default 20,000; --quick 5,000)"
    )
    parser.add_argument("--rounds", type=int, help="hot path: interleaved rounds (default 9; --quick 5)")
    parser.add_argument(
        "--batches", type=int, help="failure cost: 1,000-event batches (default 10; --quick 3)"
    )
    parser.add_argument(
        "--max-in-flight",
        type=int,
        help="end to end: concurrent requests (default: the operator's, 4; 1, 2 and 4 are also run "
        "once on the small size, for information)",
    )
    parser.add_argument(
        "--databases", default="sqlite,postgres", help="end to end: comma-separated (default %(default)s)"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="end to end: runs of each database x size, the median kept (default 3; --quick 1)",
    )
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {', '.join(BENCHMARKS)}"
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR / "results.md", help="markdown file (%(default)s)"
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    args.orders = args.orders or (100_000 if args.quick else 1_000_000)
    args.hot_orders = args.hot_orders or (5_000 if args.quick else 20_000)
    args.rounds = args.rounds or (5 if args.quick else 9)
    args.batches = args.batches or (3 if args.quick else 10)
    args.repeats = args.repeats or (1 if args.quick else 3)
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    command = "python -m benchmarks" + "".join(
        f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv)
    )
    started = time.perf_counter()
    hot = pure = e2e = failure = None
    if "hot" in args.only:
        _log(f"hot path: {args.hot_orders:,} orders x {args.rounds} rounds x 3 contenders ...")
        hot = hot_path.run(args.hot_orders, args.rounds)
        _log(
            f"  ours {hot.us_per_event('ours'):.2f} us/event, peer x{hot.ratio_peer:.2f}, floor x{hot.ratio_floor:.2f}"
        )
        if compiled_modules():
            _log("hot path again, pure Python (OPENAI_ADS_PURE_PYTHON=1) ...")
            pure = hot_path.run_pure_python(args.hot_orders, args.rounds)
    if "e2e" in args.only:
        sizes = (max(1, args.orders // 10), args.orders)
        e2e = end_to_end.run(
            sizes,
            databases=tuple(d.strip() for d in args.databases.split(",") if d.strip()),
            max_in_flight=args.max_in_flight,
            repeats=args.repeats,
            log=_log,
        )
    if "failure" in args.only:
        _log(f"failure cost: {args.batches} batches x 2 error styles ...")
        failure = failure_cost.run(args.batches)
    text = document(command, hot, pure, e2e, failure, time.perf_counter() - started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
