"""prefetched_rows: chunks fetched ahead in a reader thread, in order, bounded, stoppable."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from airflow_provider_openai_ads.transfers.prefetch import SWITCH_INTERVAL_S, prefetched_rows


class Source:
    """``fetch()`` returning ``chunks`` chunks of ``size`` numbered rows, then an empty one."""

    def __init__(self, chunks: int, size: int = 3, fail_at: int | None = None) -> None:
        self.chunks, self.size, self.fail_at = chunks, size, fail_at
        self.calls = 0
        self.threads: set[str] = set()

    def fetch(self) -> list[int]:
        self.threads.add(threading.current_thread().name)
        n = self.calls
        self.calls += 1
        if n == self.fail_at:
            raise ConnectionError("server closed the connection")
        if n >= self.chunks:
            return []
        return list(range(n * self.size, (n + 1) * self.size))


def test_rows_come_in_order_from_a_reader_thread():
    source = Source(chunks=50)
    assert list(prefetched_rows(source.fetch)) == list(range(150))
    assert source.calls == 51  # the empty chunk ends it
    assert source.threads == {"openai-ads-fetch"}


def test_no_chunks():
    assert list(prefetched_rows(Source(chunks=0).fetch)) == []


def test_the_reader_stays_at_most_depth_chunks_ahead():
    source = Source(chunks=100)
    rows = prefetched_rows(source.fetch, depth=2)
    assert next(rows) == 0
    time.sleep(0.3)  # room for the reader to run ahead as far as it may
    # the chunk being read, two queued, and one more fetched and waiting to be queued
    assert source.calls <= 4
    rows.close()


def test_a_fetch_error_is_raised_in_the_consumer_after_the_rows_before_it():
    rows = prefetched_rows(Source(chunks=10, fail_at=2).fetch)
    assert [next(rows) for _ in range(6)] == list(range(6))
    with pytest.raises(ConnectionError, match="server closed"):
        next(rows)


def test_closing_early_stops_the_reader():
    source = Source(chunks=10**6)
    rows = prefetched_rows(source.fetch, depth=1)
    assert next(rows) == 0
    rows.close()
    calls = source.calls
    assert not any(t.name == "openai-ads-fetch" for t in threading.enumerate())
    time.sleep(0.2)
    assert source.calls == calls


def test_an_exception_in_the_consumer_stops_the_reader():
    source = Source(chunks=10**6)

    def consume() -> None:
        for row in prefetched_rows(source.fetch, depth=1):
            if row == 5:
                raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        consume()
    assert not any(t.name == "openai-ads-fetch" for t in threading.enumerate())


@pytest.fixture
def set_switch_interval():
    """``sys.setswitchinterval``, with the interval before the test restored after it."""
    previous = sys.getswitchinterval()
    yield sys.setswitchinterval
    sys.setswitchinterval(previous)


def test_the_switch_interval_is_short_while_prefetching_and_restored_after(set_switch_interval):
    set_switch_interval(0.005)
    seen = []
    for row in prefetched_rows(Source(chunks=3).fetch):
        seen.append((row, sys.getswitchinterval()))
    assert seen == [(row, SWITCH_INTERVAL_S) for row in range(9)]
    assert SWITCH_INTERVAL_S < 0.005  # shorter than the interval it replaced
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_the_switch_interval_is_restored_when_the_consumer_stops_early_or_fails(set_switch_interval):
    set_switch_interval(0.005)
    rows = prefetched_rows(Source(chunks=10).fetch)
    assert next(rows) == 0
    rows.close()
    assert sys.getswitchinterval() == pytest.approx(0.005)
    with pytest.raises(ConnectionError):
        list(prefetched_rows(Source(chunks=10, fail_at=2).fetch))
    assert sys.getswitchinterval() == pytest.approx(0.005)


def test_a_shorter_switch_interval_is_kept(set_switch_interval):
    set_switch_interval(0.0002)
    intervals = [sys.getswitchinterval() for _ in prefetched_rows(Source(chunks=2).fetch)]
    assert intervals == pytest.approx([0.0002] * 6, abs=2e-6)  # kept in whole microseconds
