"""The benchmarks' results as one markdown document (printed and written to ``.bench/results.md``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
from importlib import metadata

from airflow_provider_openai_ads.conversions import compiled_modules
from benchmarks.end_to_end import EndToEndResult, EndToEndRun
from benchmarks.failure_cost import FailureCostResult
from benchmarks.hot_path import CALIBRATION_ORDERS, CALIBRATION_ROUNDS, HotPathResult

#: issue targets
PEER_RATIO_TARGET = 4.0  # ours >= 4x the peer's events/s
FLOOR_TIME_TARGET = 1.5  # ours no slower than 1.5x the floor's time per event
END_TO_END_SHARE_TARGET = 0.5  # end to end >= 50% of the hot-path rate
RSS_GROWTH_TARGET = 1.2  # peak RSS at the large size <= 1.2x the small size's


def _mark(ok: bool) -> str:
    return "met" if ok else "NOT met"


def machine_facts() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = []
    for package in ("orjson", "pydantic", "httpx", "facebook-business", "apache-airflow", "Cython"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{package} {metadata.version(package)}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"- nproc: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}"
        f" ({cpu})",
        f"- Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}",
        f"- {', '.join(versions)}",
        f"- hot path compiled with Cython: {', '.join(compiled_modules()) or 'no (pure Python)'}",
        f"- load average at the end: {load}",
    ]


def hot_path_section(result: HotPathResult, pure: HotPathResult | None = None) -> list[str]:
    names = {
        "ours": f"ours (RowMapper + batching{', compiled' if compiled_modules() else ''})",
        "peer": "peer (facebook-business SDK)",
        "floor": "floor (bare loop)",
    }
    lines = [
        "## 1. Hot path, one core (rows -> request bodies of 1,000 events)",
        "",
        f"{result.events:,} orders ({result.rows:,} rows, 1-3 line items each), median of {result.rounds} "
        "interleaved runs per contender, each on new row objects as a driver returns them (garbage "
        "collector paused during each run). Our bodies are first "
        "checked to carry exactly the floor's events and to pass `schema.validate_event`.",
        "",
        "| contender | us/event | events/s | ours / contender (events/s) |",
        "|---|---:|---:|---:|",
    ]
    for name in ("ours", "peer", "floor"):
        ratio = result.events_per_s("ours") / result.events_per_s(name)
        lines.append(
            f"| {names[name]} | {result.us_per_event(name):.2f} | {result.events_per_s(name):,.0f} | {ratio:.2f} |"
        )
    floor_time = result.us_per_event("ours") / result.us_per_event("floor")
    lines += [
        "",
        f"- ours / peer = {result.ratio_peer:.2f}x events/s (target >= {PEER_RATIO_TARGET:g}x): "
        f"**{_mark(result.ratio_peer >= PEER_RATIO_TARGET)}**",
        f"- ours / floor = {result.ratio_floor:.2f}x events/s, i.e. {floor_time:.2f}x the floor's time per event "
        f"(target <= {FLOOR_TIME_TARGET:g}x): **{_mark(floor_time <= FLOOR_TIME_TARGET)}**",
    ]
    if pure is not None:
        lines += [
            f"- the same run in a separate process on the pure-Python build (`OPENAI_ADS_PURE_PYTHON=1`, "
            f"with its own peer and floor runs): ours {pure.us_per_event('ours'):.2f} us/event, "
            f"ours / peer = {pure.ratio_peer:.2f}x, "
            f"{pure.us_per_event('ours') / pure.us_per_event('floor'):.2f}x the floor's time per event",
        ]
    return lines


def end_to_end_section(result: EndToEndResult, hot_rate: float | None) -> list[str]:
    lines = [
        "## 2. End to end (warehouse -> SqlToOpenAIAdsOperator -> emulator process, --no-store)",
        "",
        f"Each run is a fresh task process; max_in_flight = {result.max_in_flight}. The hot path is "
        f"measured again just before and just after every run ({CALIBRATION_ORDERS:,} orders, median of "
        f"{CALIBRATION_ROUNDS}; their mean is "
        "*hot path around it*), because this machine's speed drifts by up to 2x within minutes: the "
        "share of that rate is the one the target is read from. The share of section 1's rate is shown too. "
        "Where a run was repeated, the table shows the repeat with the median share, and *repeats* every "
        "repeat's share.",
        "",
        "| database | orders | rows | events/s | hot path around it (events/s) | share of it | "
        "share of section 1 | repeats | peak RSS (MB) | requests | seconds | task CPU us/event | "
        "emulator CPU us/event |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for run in result.runs:
        share = f"{run.events_per_s / hot_rate:.0%}" if hot_rate else "n/a"
        repeats = ", ".join(f"{s:.0%}" for s in run.repeat_shares) or "-"
        lines.append(
            f"| {run.database} | {run.orders:,} | {run.rows:,} | {run.events_per_s:,.0f} | "
            f"{run.adjacent_hot_path_events_per_s:,.0f} | {run.share_of_adjacent_hot_path:.0%} | {share} | "
            f"{repeats} | {_peak_rss(run):.1f} | {run.requests:,} | {run.seconds:.1f} | "
            f"{run.task_cpu_us_per_event:.1f} | {run.emulator_cpu_us_per_event:.1f} |"
        )
    if result.sweep:
        lines += [
            "",
            "max_in_flight sweep, one run each, for information ("
            + f"{result.sweep[0].database}, {result.sweep[0].orders:,} orders): "
            + ", ".join(f"{r.max_in_flight}: {r.events_per_s:,.0f} events/s" for r in result.sweep),
        ]
    for database, why in result.skipped.items():
        lines += ["", f"- {database}: skipped ({why})"]
    lines.append("")
    for database in dict.fromkeys(r.database for r in result.runs):
        runs = sorted((r for r in result.runs if r.database == database), key=lambda r: r.orders)
        worst = min(runs, key=lambda r: r.share_of_adjacent_hot_path)
        lines.append(
            f"- {database}: lowest share {worst.share_of_adjacent_hot_path:.0%} of the hot-path rate around "
            f"the run ({worst.orders:,} orders; target >= {END_TO_END_SHARE_TARGET:.0%}): "
            f"**{_mark(worst.share_of_adjacent_hot_path >= END_TO_END_SHARE_TARGET)}**"
            + (
                f"; of section 1's rate: {min(r.events_per_s for r in runs) / hot_rate:.0%}"
                if hot_rate
                else ""
            )
        )
        if len(runs) > 1:
            growth = _peak_rss(runs[-1]) / _peak_rss(runs[0])
            lines.append(
                f"- {database}: peak RSS at {runs[-1].orders:,} orders = {growth:.2f}x the peak at "
                f"{runs[0].orders:,} (target <= {RSS_GROWTH_TARGET:g}x): **{_mark(growth <= RSS_GROWTH_TARGET)}**"
            )
        delivered = all(r.events_sent == r.orders and not r.outcome.get("rejected") for r in runs)
        lines.append(f"- {database}: every order delivered, nothing rejected or failed: {delivered}")
    return lines


def _peak_rss(run: EndToEndRun) -> float:
    """A run's peak RSS; of a repeated run, the highest of its repeats."""
    return run.repeat_peak_rss_mb or run.peak_rss_mb


def failure_cost_section(result: FailureCostResult) -> list[str]:
    lines = [
        "## 3. Failure cost (1,000-event batches, one server-side-invalid event each)",
        "",
        "| error | batches | bad events | requests | requests / bad event | max per batch | target | "
        "good events delivered |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for run in result.runs:
        lines.append(
            f"| {run.mode} | {run.batches} | {run.bad_events} | {run.requests} | {run.requests_per_bad_event:.2f} | "
            f"{run.max_requests_per_batch} | <= {run.target:.1f} | {run.rejected_ids_ok} |"
        )
    lines.append("")
    for run in result.runs:
        lines.append(
            f"- {run.mode}: at most {run.max_requests_per_batch} requests per bad event "
            f"(target <= {run.target:.1f}): **{_mark(run.ok)}**"
        )
    return lines


def document(
    command: str,
    hot: HotPathResult | None,
    pure: HotPathResult | None,
    end_to_end: EndToEndResult | None,
    failure: FailureCostResult | None,
    seconds: float,
) -> str:
    lines = [
        "# airflow-provider-openai-ads benchmarks",
        "",
        f"`{command}` — {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}, {seconds:.0f} s",
        "",
        *machine_facts(),
        "",
    ]
    if hot is not None:
        lines += [*hot_path_section(hot, pure), ""]
    if end_to_end is not None:
        lines += [*end_to_end_section(end_to_end, hot.events_per_s("ours") if hot else None), ""]
    if failure is not None:
        lines += [*failure_cost_section(failure), ""]
    return "\n".join(lines)
