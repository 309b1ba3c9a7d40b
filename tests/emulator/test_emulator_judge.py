"""The judge's lean, lists-shaped first pass gives exactly the verdicts of the full schema alone."""

from __future__ import annotations

import copy

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_openai_ads.conversions.schema import EventsRequest, UserLists
from airflow_provider_openai_ads.emulator import judge as judge_module
from airflow_provider_openai_ads.emulator.config import EmulatorConfig
from airflow_provider_openai_ads.emulator.judge import ListsUserRequest, Rejected, judge
from airflow_provider_openai_ads.emulator.lean_schema import LeanModel
from tests.core.test_schema import (
    EMAIL_HASH,
    NOW,
    RULE_CASES,
    SINGULAR_USER,
    VALID_EVENTS,
    _event,
    _valid_event,
)

CONFIGS = [
    EmulatorConfig(),
    EmulatorConfig(user_schema="lists"),
    EmulatorConfig(user_schema="singular"),
    EmulatorConfig(errors_without_index=True),
]


def _full_schema_only(body: bytes, config: EmulatorConfig, monkeypatch: pytest.MonkeyPatch):
    """The verdict when the first pass is the full schema too (the judge before the fast pass)."""
    with monkeypatch.context() as patch:
        patch.setattr(judge_module, "_LISTS_USER_REQUEST", EventsRequest.__pydantic_validator__)
        return judge(body, config, NOW)


def _assert_same_verdict(body: bytes, config: EmulatorConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, full = judge(body, config, NOW), _full_schema_only(body, config, monkeypatch)
    if isinstance(full, Rejected):
        assert fast == full
    else:
        assert not isinstance(fast, Rejected), fast
        assert _dump(fast) == _dump(full)
        assert [_model_of(e.user) for e in fast.events] == [_model_of(e.user) for e in full.events]


def _dump(request) -> dict:
    return request.as_dict() if isinstance(request, LeanModel) else request.model_dump(exclude_unset=True)


def _model_of(value) -> type | None:
    return type(value).__model__ if isinstance(value, LeanModel) else type(value)


def _corpus() -> list[dict]:
    events = [case[0] for case in RULE_CASES.values()]
    events += [_valid_event(event_type)[1] for event_type in VALID_EVENTS]
    events += [
        _event(user=SINGULAR_USER),
        _event(user={"email_sha256": EMAIL_HASH, "emails_sha256": [EMAIL_HASH], "countries": ["US"]}),
        _event(user={"ip_address": "203.0.113.1", "user_agent": "UA", "obref": "o"}),
        _event(user={}),
        _event(user=None),
        _event(user="not an object"),
        _event(user=[{"emails_sha256": [EMAIL_HASH]}]),
    ]
    return events


CORPUS = _corpus()


@pytest.mark.parametrize("config", CONFIGS, ids=["both", "lists", "singular", "no-index"])
@pytest.mark.parametrize("index", range(len(CORPUS)))
def test_verdict_equals_the_full_schema_on_the_rule_corpus(index, config, monkeypatch):
    event = CORPUS[index]
    valid = _valid_event("order_created")[1]
    for events in ([event], [valid, event], [event, copy.deepcopy(valid)]):
        _assert_same_verdict(orjson.dumps({"events": events}), config, monkeypatch)


_HASH = st.sampled_from([EMAIL_HASH, "A" * 64, "x", ""])
_TEXT = st.sampled_from(["US", "us", "San Francisco", " ", "", "94107", "a" * 200, "203.0.113.1", "::1"])
_USER_VALUES = {
    # lists shape
    "emails_sha256": st.lists(_HASH, max_size=2),
    "phone_numbers_sha256": st.lists(_HASH, max_size=2),
    "external_ids_sha256": st.lists(_HASH, max_size=2),
    "first_names_sha256": st.lists(_HASH, max_size=1),
    "last_names_sha256": st.lists(_HASH, max_size=1),
    "regions": st.lists(_TEXT, max_size=2),
    "cities": st.lists(_TEXT, max_size=2),
    "postal_codes": st.lists(_TEXT, max_size=2),
    "countries": st.lists(_TEXT, max_size=2),
    "android_advertising_id": st.sampled_from(["38400000-8cf0-11bd-b23e-10b96e40000d", "nope"]),
    # singular shape
    "email_sha256": _HASH,
    "external_id_sha256": _HASH,
    "country": _TEXT,
    "city": _TEXT,
    "zip_code": _TEXT,
    # both, and neither
    "ip_address": _TEXT,
    "user_agent": _TEXT,
    "obref": _TEXT,
    "unknown_key": _TEXT,
}
USERS = st.dictionaries(st.sampled_from(sorted(_USER_VALUES)), st.none(), max_size=6).flatmap(
    lambda keys: st.fixed_dictionaries({key: _USER_VALUES[key] for key in keys})
)


@settings(max_examples=300, deadline=None)
@given(users=st.lists(USERS, min_size=1, max_size=3), config=st.sampled_from(CONFIGS))
def test_verdict_equals_the_full_schema_for_any_user_objects(users, config):
    events = [_event(id=f"order_{n}", user=user) for n, user in enumerate(users)]
    with pytest.MonkeyPatch.context() as monkeypatch:
        _assert_same_verdict(orjson.dumps({"events": events}), config, monkeypatch)


def test_lists_users_take_the_first_pass():
    body = orjson.dumps({"events": [_valid_event(t)[1] for t in VALID_EVENTS]})
    verdict = judge(body, EmulatorConfig(), NOW)
    assert isinstance(verdict, LeanModel)
    assert verdict.__model__ is ListsUserRequest
    assert all(_model_of(event.user) is UserLists for event in verdict.events)


def test_singular_users_are_judged_by_the_full_schema():
    body = orjson.dumps({"events": [_event(user=SINGULAR_USER)]})
    verdict = judge(body, EmulatorConfig(), NOW)
    assert type(verdict) is EventsRequest
