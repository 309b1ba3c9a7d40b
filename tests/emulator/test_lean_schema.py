"""lean_validator: a model's own rules, validating into LeanModel objects (verdicts: test_emulator_judge)."""

from __future__ import annotations

import orjson
import pytest
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_core import core_schema as cs

from airflow_provider_openai_ads.conversions.schema import EventsRequest
from airflow_provider_openai_ads.emulator.lean_schema import LeanModel, lean_validator
from tests.core.test_schema import NOW, SINGULAR_USER, VALID_EVENTS, _event, _valid_event

CONTEXT = {"now_ms": NOW, "user_schema": None}
LEAN_REQUEST = lean_validator(EventsRequest)


def _both(request: dict) -> tuple[LeanModel, EventsRequest]:
    body = orjson.dumps(request)
    return LEAN_REQUEST.validate_json(body, context=CONTEXT), EventsRequest.model_validate_json(
        body, context=CONTEXT
    )


def test_every_valid_event_type_gives_the_models_values():
    events = [_valid_event(t)[1] for t in VALID_EVENTS] + [_event(user=SINGULAR_USER)]
    lean, model = _both({"events": events, "validate_only": True})
    assert lean.as_dict() == model.model_dump(exclude_unset=True)
    assert [e.__model__ for e in lean.events] == [type(e) for e in model.events]
    assert [type(e.data).__model__ for e in lean.events] == [type(e.data) for e in model.events]
    assert lean.validate_only is True


def test_absent_fields_read_as_their_default_and_are_not_in_the_fields_set():
    lean, model = _both({"events": [_event()]})
    event = lean.events[0]
    assert lean.integration_source is None
    assert lean.validate_only is None
    assert event.custom_event_name is None
    assert event.opt_out is None
    assert event.model_fields_set == model.events[0].model_fields_set
    assert "opt_out" not in event.__dict__


def test_the_model_rules_refuse_what_the_model_refuses():
    stale = _event(timestamp_ms=NOW - 8 * 24 * 3600 * 1000)
    for request in ({"events": [stale]}, {"events": []}, {"events": [_event(unknown=1)]}):
        with pytest.raises(ValidationError):
            EventsRequest.model_validate_json(orjson.dumps(request), context=CONTEXT)
        with pytest.raises(ValidationError):
            LEAN_REQUEST.validate_json(orjson.dumps(request), context=CONTEXT)


def test_field_and_model_validators_run_on_the_lean_values():
    class Item(BaseModel):
        size: int = Field(ge=0)
        unit: str | None = None

        @field_validator("unit")
        @classmethod
        def _unit(cls, value: str | None) -> str | None:
            if value is not None and value not in ("kg", "g"):
                raise ValueError("unknown unit")
            return value

        @model_validator(mode="after")
        def _heavy_needs_unit(self):
            if self.size > 10 and self.unit is None:
                raise ValueError("a heavy item needs a unit")
            return self

    lean = lean_validator(Item)
    assert lean.validate_python({"size": 3}).as_dict() == {"size": 3}
    assert lean.validate_python({"size": 30, "unit": "kg"}).unit == "kg"
    for bad in ({"size": -1}, {"size": 3, "unit": "lb"}, {"size": 30}, {"size": 3, "extra": 1}):
        model_refuses = _refuses(Item.model_validate, bad)
        assert _refuses(lean.validate_python, bad) == model_refuses, bad


def test_a_precheck_spares_the_python_validator_the_values_it_accepts():
    calls = []

    class Item(BaseModel):
        unit: str | None = None

        @field_validator("unit")
        @classmethod
        def _unit(cls, value: str | None) -> str | None:
            calls.append(value)
            if value is not None and value.strip() not in ("kg", "g"):
                raise ValueError("unknown unit")
            return value

    precheck = cs.nullable_schema(cs.literal_schema(["kg", "g"]))
    lean = lean_validator(Item, {Item._unit.__func__: precheck})
    assert lean.validate_python({"unit": "kg"}).unit == "kg"
    assert lean.validate_python({"unit": None}).unit is None
    assert calls == []
    # refused by the pre-check: the validator decides
    assert lean.validate_python({"unit": " g"}).unit == " g"
    assert calls == [" g"]
    with pytest.raises(ValidationError):
        lean.validate_python({"unit": "lb"})
    assert calls == [" g", "lb"]


def _refuses(validate, value) -> bool:
    try:
        validate(value)
    except ValidationError:
        return True
    return False


def test_unsupported_model_features_are_refused_when_built():
    class WithFactory(BaseModel):
        tags: list[str] = Field(default_factory=list)

    class WrappedModel(BaseModel):
        size: int

        @model_validator(mode="wrap")
        @classmethod
        def _around(cls, value, handler):
            return handler(value)

    with pytest.raises(TypeError, match="default factories"):
        lean_validator(WithFactory)
    with pytest.raises(TypeError, match="only before and after model validators"):
        lean_validator(WrappedModel)
