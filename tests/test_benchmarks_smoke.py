"""A tiny run of every benchmark: they work and report sane structure (no timing assertions)."""

from __future__ import annotations

import pytest

from airflow_provider_openai_ads.conversions import compiled_modules
from airflow_provider_openai_ads.conversions.client import DEFAULT_MAX_IN_FLIGHT
from benchmarks import __main__ as bench_main
from benchmarks import data, end_to_end, failure_cost, hot_path, instructions, results

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def bench_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "BENCH_DIR", tmp_path)
    return tmp_path


def test_rows_are_typical_orders():
    rows = data.order_rows(30)
    groups = data.group_rows(rows)
    assert len(groups) == 30
    assert {len(g) for g in groups} == {1, 2, 3}
    assert all(row["email"] and row["phone"] and row["value"] is not None for row in rows)


def test_fetched_rows_are_equal_values_in_new_objects():
    rows = data.order_rows(30)
    fetched = data.as_fetched(rows)
    assert fetched == rows
    for row, again in zip(rows, fetched, strict=True):
        for column in ("email", "city", "value", "event_time"):
            assert again[column] is not row[column], column
    assert hot_path.ours(fetched) == hot_path.ours(rows)


@pytest.mark.parametrize("contender", instructions.CONTENDERS)
def test_instruction_count_workload_runs(contender):
    """What callgrind measures (valgrind itself is too slow for the suite)."""
    instructions._workload(contender, 20, True)


def test_hot_path_contenders_build_the_same_bodies():
    rows = data.order_rows(1500)
    hot_path.check_equivalent(rows)
    ours, peer, floor = hot_path.ours(rows), hot_path.peer(rows), hot_path.floor(rows)
    assert len(ours) == len(peer) == len(floor) == 2  # 1,000 + 500 events
    assert hot_path.check_valid(rows) == 1500


def test_hot_path_run_reports_all_contenders():
    result = hot_path.run(300, rounds=1)
    assert set(result.median_s) == {"ours", "peer", "floor"}
    assert all(result.events_per_s(name) > 0 for name in result.median_s)
    summary = result.to_dict()
    assert summary["events"] == 300
    assert summary["ours_over_peer"] > 0
    assert summary["ours_over_floor"] > 0


@pytest.fixture(scope="module")
def sqlite_run(tmp_path_factory):
    """One tiny SQLite end-to-end run (with a max_in_flight sweep) shared by the tests below."""
    with pytest.MonkeyPatch.context() as patch:
        bench_dir = tmp_path_factory.mktemp("bench")
        patch.setattr(data, "BENCH_DIR", bench_dir)
        result = end_to_end.run(
            (100, 300),
            databases=("sqlite",),
            sweep=(1, 2),
            hot_path_rate=hot_path.calibrator(100, rounds=1),
            log=lambda _: None,
        )
    return result, bench_dir


def test_end_to_end_sqlite(sqlite_run):
    result, bench_dir = sqlite_run
    assert [(r.database, r.orders) for r in result.runs] == [("sqlite", 100), ("sqlite", 300)]
    for run in result.runs:
        assert run.max_in_flight == result.max_in_flight
        assert run.events_sent == run.orders
        assert run.rows > run.orders
        assert run.peak_rss_mb > 0
        assert run.events_per_s > 0
        assert run.task_cpu_us_per_event > 0
        assert run.adjacent_hot_path_events_per_s > 0
        assert run.share_of_adjacent_hot_path == run.events_per_s / run.adjacent_hot_path_events_per_s
        assert not run.outcome["rejected"]
    assert (bench_dir / "warehouse-300.sqlite").exists()


def test_end_to_end_runs_the_operators_max_in_flight_and_sweeps_for_information(sqlite_run):
    result, _ = sqlite_run
    assert [r.max_in_flight for r in result.sweep] == [1, 2]
    assert all(r.events_sent == r.orders for r in result.sweep)
    assert result.max_in_flight == DEFAULT_MAX_IN_FLIGHT == 4  # not whichever sweep value was fastest


def test_end_to_end_table(sqlite_run):
    result, _ = sqlite_run
    text = "\n".join(results.end_to_end_section(result, hot_rate=10_000.0))
    assert text.count("| sqlite |") == 2
    assert "max_in_flight sweep" in text
    assert "peak RSS at 300 orders" in text
    assert "of the hot-path rate around the run" in text


def test_a_repeated_run_keeps_the_median_share_and_the_highest_peak():
    def repeat(events_per_s: float, rss: float) -> end_to_end.EndToEndRun:
        return end_to_end.EndToEndRun(
            "sqlite", 100, 4, 200, 100, 1, 1.0, events_per_s, rss, {}, adjacent_hot_path_events_per_s=1000.0
        )

    kept = end_to_end._median_of([repeat(300, 150.0), repeat(500, 170.0), repeat(400, 160.0)])
    assert kept.events_per_s == 400
    assert kept.repeat_shares == [0.3, 0.5, 0.4]
    assert kept.repeat_peak_rss_mb == 170.0
    text = "\n".join(results.end_to_end_section(end_to_end.EndToEndResult([kept], 4, [], {}), None))
    assert "| 30%, 50%, 40% | 170.0 |" in text
    assert "lowest share 40%" in text
    single = repeat(300, 150.0)
    assert end_to_end._median_of([single]) is single


@pytest.mark.postgres
def test_end_to_end_postgres(bench_dir):
    if not data.postgres_available():
        pytest.skip("PostgreSQL is not reachable")
    result = end_to_end.run(
        (100, 300),
        databases=("postgres",),
        max_in_flight=1,
        hot_path_rate=hot_path.calibrator(100, rounds=1),
        log=lambda _: None,
    )
    assert [r.events_sent for r in result.runs] == [100, 300]


def test_failure_cost_isolates_each_bad_event():
    result = failure_cost.run(batches=1)
    indexed, indexless = result.runs
    for run in result.runs:
        assert run.bad_events == 1
        assert run.sent == 999
        assert run.rejected == 1
        assert run.rejected_ids_ok
    assert indexed.requests >= 2
    assert indexless.requests > indexed.requests


def test_main_writes_the_results_table(bench_dir, capsys):
    out = bench_dir / "results.md"
    text = bench_main.main(
        ["--only", "hot,failure", "--hot-orders", "200", "--rounds", "1", "--batches", "1", "--out", str(out)]
    )
    assert out.read_text() == text
    for heading in (
        "## 1. Hot path",
        "## 3. Failure cost",
        "nproc",
        "Python",
        "ours / peer",
        "requests / bad event",
    ):
        assert heading in text
    assert "## 2. End to end" not in text
    assert "python -m benchmarks --only hot,failure" in text
    assert "hot path compiled with Cython" in text
    # a compiled build is also measured as pure Python, in a separate process
    assert ("on the pure-Python build" in text) == bool(compiled_modules())
    assert "## 1. Hot path" in capsys.readouterr().out


def test_only_selects_benchmarks(bench_dir):
    text = bench_main.main(
        ["--only", "hot", "--hot-orders", "100", "--rounds", "1", "--out", str(bench_dir / "r.md")]
    )
    assert "## 1. Hot path" in text
    assert "## 2. End to end" not in text
    assert "## 3. Failure cost" not in text
