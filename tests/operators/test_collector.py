"""The long-lived heap is frozen during a delivery, and the collector restored after it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_openai_ads.emulator.server import EmulatorServer
from airflow_provider_openai_ads.operators import openai_ads
from airflow_provider_openai_ads.operators.collector import long_lived_heap_frozen

from .test_send_events import row_contract_events, send


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    if gc.get_freeze_count():
        pytest.fail("the test process should start with nothing frozen")
    yield
    gc.unfreeze()


def test_freezes_what_exists_and_unfreezes_after():
    existing = [object()]
    with long_lived_heap_frozen():
        assert gc.get_freeze_count() > 0
        new = [object()]
        assert gc.is_tracked(existing)
        visible = {id(o) for o in gc.get_objects()}
        assert id(existing) not in visible  # frozen objects leave the collector's view
        assert id(new) in visible
    assert gc.get_freeze_count() == 0
    assert id(existing) in {id(o) for o in gc.get_objects()}


def test_unfreezes_after_an_exception():
    with pytest.raises(RuntimeError), long_lived_heap_frozen():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_someone_else_stays_frozen():
    # The freeze count itself can drop while frozen objects are freed (other threads run), so
    # the test follows one object frozen by "someone else": it must stay out of the collector's
    # view during the delivery and after it.
    theirs = [object()]
    gc.freeze()
    with long_lived_heap_frozen():
        assert gc.get_freeze_count() > 0
        assert id(theirs) not in {id(o) for o in gc.get_objects()}
    assert gc.get_freeze_count() > 0
    assert id(theirs) not in {id(o) for o in gc.get_objects()}


def test_cyclic_garbage_made_during_the_run_is_still_collected():
    class Node:
        pass

    with long_lived_heap_frozen():
        node = Node()
        node.self = node
        del node
        assert gc.collect() >= 1


def test_a_delivery_runs_frozen_and_leaves_the_process_as_it_found_it(
    ads_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
):
    seen: list[bool] = []
    original_send = openai_ads.OpenAIAdsHook.send_events

    def spying_send(self, *args: Any, **kwargs: Any):
        seen.append(gc.get_freeze_count() > 0)
        return original_send(self, *args, **kwargs)

    monkeypatch.setattr(openai_ads.OpenAIAdsHook, "send_events", spying_send)
    report = send(row_contract_events())
    assert report["events"]["sent"] == 3
    assert seen == [True]
    assert gc.get_freeze_count() == 0
