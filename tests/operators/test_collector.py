"""During a delivery the heap is frozen and the young-generation threshold raised; both are restored after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_openai_ads.emulator.server import EmulatorServer
from airflow_provider_openai_ads.operators import openai_ads
from airflow_provider_openai_ads.operators.collector import YOUNG_THRESHOLD, collector_tuned_for_streaming

from .test_send_events import row_contract_events, send


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    if gc.get_freeze_count():
        pytest.fail("the test process should start with nothing frozen")
    yield
    gc.unfreeze()


def test_freezes_what_exists_and_unfreezes_after():
    existing = [object()]
    with collector_tuned_for_streaming():
        assert gc.get_freeze_count() > 0
        new = [object()]
        assert gc.is_tracked(existing)
        visible = {id(o) for o in gc.get_objects()}
        assert id(existing) not in visible  # frozen objects leave the collector's view
        assert id(new) in visible
    assert gc.get_freeze_count() == 0
    assert id(existing) in {id(o) for o in gc.get_objects()}


def test_unfreezes_after_an_exception():
    thresholds = gc.get_threshold()
    with pytest.raises(RuntimeError), collector_tuned_for_streaming():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds


def test_raises_the_young_threshold_during_the_run_and_restores_it():
    thresholds = gc.get_threshold()
    assert thresholds[0] < YOUNG_THRESHOLD
    with collector_tuned_for_streaming():
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *thresholds[1:])
    assert gc.get_threshold() == thresholds


def test_automatic_collection_switched_off_stays_off():
    thresholds = gc.get_threshold()
    gc.set_threshold(0, *thresholds[1:])
    try:
        with collector_tuned_for_streaming():
            assert gc.get_threshold()[0] == 0
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*thresholds)


def test_a_higher_young_threshold_is_kept():
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD * 2, *thresholds[1:])
    try:
        with collector_tuned_for_streaming():
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD * 2
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD * 2
    finally:
        gc.set_threshold(*thresholds)


def test_a_heap_frozen_by_someone_else_stays_frozen():
    # The freeze count itself can drop while frozen objects are freed (other threads run), so
    # the test follows one object frozen by "someone else": it must stay out of the collector's
    # view during the delivery and after it.
    theirs = [object()]
    gc.freeze()
    with collector_tuned_for_streaming():
        assert gc.get_freeze_count() > 0
        assert id(theirs) not in {id(o) for o in gc.get_objects()}
    assert gc.get_freeze_count() > 0
    assert id(theirs) not in {id(o) for o in gc.get_objects()}


def test_cyclic_garbage_made_during_the_run_is_still_collected():
    class Node:
        pass

    with collector_tuned_for_streaming():
        node = Node()
        node.self = node
        del node
        assert gc.collect() >= 1


def test_a_delivery_runs_frozen_and_leaves_the_process_as_it_found_it(
    ads_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
):
    seen: list[tuple[bool, int]] = []
    thresholds = gc.get_threshold()
    original_send = openai_ads.OpenAIAdsHook.send_events

    def spying_send(self, *args: Any, **kwargs: Any):
        seen.append((gc.get_freeze_count() > 0, gc.get_threshold()[0]))
        return original_send(self, *args, **kwargs)

    monkeypatch.setattr(openai_ads.OpenAIAdsHook, "send_events", spying_send)
    report = send(row_contract_events())
    assert report["events"]["sent"] == 3
    assert seen == [(True, YOUNG_THRESHOLD)]
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
