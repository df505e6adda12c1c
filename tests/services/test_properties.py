"""Property-based tests: every wire model, the SSE decoder and every realtime message handler, fed anything.

The contract under test: any bytes give either a normal event or a clear error event (recorded in the Store),
a wire model either validates or raises pydantic.ValidationError (a client: its ApiError), and no exception
escapes a channel. Every string that reaches the Store is free of C0/C1 controls and escape sequences.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import types
import typing
from datetime import datetime
from typing import Any, Union, get_args, get_origin

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import tui.vendors.capout.client as capout_service
import tui.vendors.captain.client as captain_service
import tui.vendors.capx.client as capx_service
import tui.vendors.casmo.client as casmo_service
from tui.config import Config
from tui.vendors.capout.live import CapOutCredits, CapOutRealtime, document_event
from tui.vendors.captain.live import CaptainDatabases, CaptainJobs, job_row
from tui.vendors.capx.live import CapxActivity, CapxCompanies, SeenActivity, activity_event
from tui.vendors.casmo.live import casmo_webhook_event
from tui.live.events import MAX_JSON_DEPTH, ChannelState, Event, _parse_iso, load_json, parse_timestamp
from tui.live.hub import LiveHub
from tui.live.sse import MAX_RETRY_MS, SSEMessage, SSEProtocolError, SSEReader
from tui.live.store import Store
from tui.live.webhooks import WebhookReceiver, json_object
from tui.api import ApiError, retry_after_seconds
from tui.text import json_text_is_clean, sanitize, sanitize_data
from tui.vendors import VENDORS

FAST = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(deadline=None, max_examples=15, suppress_health_check=[HealthCheck.too_slow])

# What may survive sanitizing: newline and tab in multi-line text, nothing in single-line text.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # bidi overrides too
SINGLE_LINE_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# ----------------------------------------------------------------------------------------------- strategies

# Hostile fragments: terminal escapes (7- and 8-bit), clipboard writes, Rich/Textual markup, bidi overrides.
NASTY = (
    "\x1b[31m", "\x1b[2J", "\x1b]0;pwned\x07", "\x1b]52;c;ZXZpbA==\x1b\\", "\x9b6n", "\x9d8;;http://x\x9c",
    "\x1bP+q\x1b\\", "\x1b", "\x1b[", "\x1b]", "\x90", "\x9c", "\x07", "\x00", "\x7f", "\r", "\n", "\r\n", "\t",
    "\x08", "[bold red]", "[/]", "[link=http://x]", "[@click=quit]", "\\[", "$", "\u202e", "\ufeff", "\u2028",
    "é", "😀", "",
)
nasty_text = st.lists(st.one_of(st.text(max_size=6), st.sampled_from(NASTY)), max_size=6).map("".join)
odd_numbers = st.one_of(
    st.integers(), st.floats(), st.sampled_from([10**400, -(10**400), 2**63, -1, 0, 1e308, 1e-320, -0.0]),
)
json_scalars = st.one_of(st.none(), st.booleans(), odd_numbers, nasty_text)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(nasty_text, children, max_size=4)),
    max_leaves=16,
)
finite_json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**60), 2**60), st.floats(allow_nan=False, allow_infinity=False), nasty_text),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(nasty_text, children, max_size=3)),
    max_leaves=8,
)
json_objects = st.dictionaries(nasty_text, json_values, max_size=6)


def deep(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for index in range(depth):
        value = [value] if index % 2 else {"k": value}
    return value


def deep_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_json(depth: int) -> str:
    """JSON text of `deep(depth)`, built as text (json.dumps itself gives up past ~1000 levels)."""
    opens = ["[" if index % 2 else '{"k":' for index in range(depth)]
    return "".join(reversed(opens)) + "1" + "".join("]" if index % 2 else "}" for index in range(depth))


# ----------------------------------------------------------------------------------------------- helpers


def strings_in(value: Any):
    """Every string inside a JSON-like value, keys included."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    yield key
                stack.append(child)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


def assert_clean(value: Any, *, single_line: bool = False) -> None:
    pattern = SINGLE_LINE_CONTROL if single_line else CONTROL
    for text in strings_in(value):
        assert not pattern.search(text), f"control character survived: {text!r}"


def assert_clean_event(event: Event) -> None:
    assert isinstance(event, Event)
    assert isinstance(event.time, float) and math.isfinite(event.time)
    assert isinstance(event.type, str) and event.type and not CONTROL.search(event.type)
    assert isinstance(event.id, str) and not CONTROL.search(event.id)
    assert isinstance(event.data, dict)
    assert_clean(event.data)
    assert_clean(event.patch)
    json.dumps(event.to_json_dict(), default=str)  # `tail --json` prints every event


def assert_clean_store(store: Store) -> None:
    for event in store.timeline:
        assert_clean_event(event)
    assert_clean(store.entities)
    for health in store.health.values():
        if health.last_error is not None:
            assert not SINGLE_LINE_CONTROL.search(health.last_error)
    json.dumps(store.snapshot(), default=str)


# ----------------------------------------------------------------------------------------------- sanitizing


@FAST
@given(text=nasty_text)
def test_sanitize_leaves_no_controls_and_is_idempotent(text):
    clean = sanitize(text)
    line = sanitize(text, single_line=True)
    assert not CONTROL.search(clean) and "\x1b" not in clean
    assert not SINGLE_LINE_CONTROL.search(line)
    assert sanitize(clean) == clean and sanitize(line, single_line=True) == line


@FAST
@given(text=st.text(st.characters(blacklist_categories=("Cc", "Cs"))))
def test_sanitize_keeps_text_without_controls_unchanged(text):
    assert sanitize(text) == text == sanitize(text, single_line=True)


@FAST
@given(text=st.text(st.characters(blacklist_categories=("Cc", "Cs"))), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_sanitize_keeps_line_breaks_as_newlines_and_single_line_as_spaces(text, newline):
    assert sanitize(text + newline + text) == text + "\n" + text
    assert "\n" not in sanitize(text + newline + text, single_line=True)


@FAST
@given(value=st.one_of(json_values, st.tuples(json_values, nasty_text), odd_numbers, st.builds(object)))
def test_sanitize_data_cleans_every_string_and_keeps_other_leaves(value):
    clean = sanitize_data(value)
    assert_clean(clean)
    for key in (clean if isinstance(clean, dict) else {}):
        assert not SINGLE_LINE_CONTROL.search(key)  # keys are single-line
    if not isinstance(value, (str, dict, list, tuple)):
        assert clean is value  # numbers, None, booleans pass through untouched
    assert isinstance(sanitize(value), str)


def test_sanitize_removes_what_would_disguise_a_name_and_json_fast_path_agrees():
    # "invoice_\u202egnp.exe" shows as invoice_exe.png on a terminal that honours the override.
    assert sanitize("invoice_\u202egnp.exe") == "invoice_gnp.exe"
    assert sanitize("a\u2066b\u2069c\u202ad", single_line=True) == "abcd"
    assert not json_text_is_clean('{"file_name": "invoice_\u202egnp.exe"}')
    assert json_text_is_clean('{"file_name": "facture_été.pdf"}')


def test_sanitize_data_survives_deep_nesting():
    clean = sanitize_data(deep(5000, "\x1b]0;x\x07"))
    assert_clean(clean)


# JSON texts as servers send them: compact or indented, escaped or raw (DEL, C1, NBSP, emoji stay raw with
# ensure_ascii=False; C0 controls are always escaped), and arbitrary text that may or may not be JSON.
json_texts = st.one_of(
    st.builds(lambda value, ascii, indent: json.dumps(value, ensure_ascii=ascii, indent=indent),
              json_values, st.booleans(), st.sampled_from([None, 0, 2])),
    st.builds(lambda key, value: '{"%s": "%s"}' % (key, value),  # raw characters JSON allows in strings
              st.text(st.characters(min_codepoint=0x20, blacklist_characters='"\\'), max_size=8),
              st.text(st.characters(min_codepoint=0x20, max_codepoint=0x3000, blacklist_characters='"\\'), max_size=8)),
    st.text(max_size=30),
)


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON, key order included (NaN equal to NaN)."""
    return json.dumps(a, ensure_ascii=False) == json.dumps(b, ensure_ascii=False)


@settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(text=json_texts)
def test_json_text_is_clean_only_when_sanitize_data_would_change_nothing(text):
    """The ingest fast path: handlers skip sanitize_data for a text `json_text_is_clean` passes; the data
    must be exactly what the slow path (sanitize_data) gives."""
    try:
        value = load_json(text)
    except ValueError:
        return
    assert same_json(value, json.loads(text))  # load_json's own fast paths decode as json.loads does
    if json_text_is_clean(text):
        assert same_json(sanitize_data(value), value)
        assert_clean(value)
        for string in strings_in(value):
            assert not _ESCAPES.search(string)
    if isinstance(value, dict) and isinstance(value.get("document_id"), str) and value["document_id"]:
        fast = document_event(value, received=1.0, sanitized=json_text_is_clean(text))
        slow = document_event(value, received=1.0)
        assert same_json(fast.data, slow.data) and same_json(fast.patch, slow.patch)
    if isinstance(value, dict):
        fast = activity_event(value, company_id="co_1", received=1.0, sanitized=json_text_is_clean(text))
        slow = activity_event(value, company_id="co_1", received=1.0)
        assert same_json(fast.data, slow.data) and same_json(fast.patch, slow.patch)
        assert (fast.type, fast.id, fast.kind) == (slow.type, slow.id, slow.kind)


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(json_texts, st.builds(lambda key, code: '{"%s": "\\u%04x"}' % (key, code),
                                            st.text("abc", max_size=3), st.integers(0xD800, 0xDFFF))))
def test_load_json_decodes_every_text_as_json_loads_does(text):
    """load_json parses with pydantic_core first (fast) and falls back to json.loads: the two must agree on
    every text, values (key order, NaN, big numbers, lone surrogate escapes) and refusals alike."""
    try:
        expected = json.loads(text)
    except ValueError:
        with pytest.raises(ValueError):
            load_json(text)
        return
    assert same_json(load_json(text), expected)


@pytest.mark.parametrize("text", ['{"a": NaN, "b": -Infinity}', '{"n": 123456789012345678901234567890}',
                                  '{"a": 1, "a": 2}', '{"s": "\\ud800"}', '{"f": 1.0000000000000002, "z": -0.0}',
                                  ' {"a": [1, {"b": null}]}\n', '{"e": "\\u001b[2J"}'])
def test_load_json_examples_json_loads_agrees_with(text):
    assert same_json(load_json(text), json.loads(text))


@pytest.mark.parametrize("text", ['{"a": 1} x', '{"a": 1,}', "{'a': 1}", '{"a": 01}', '{"a": "\x01"}', "", "{"])
def test_load_json_refuses_what_json_loads_refuses(text):
    with pytest.raises(ValueError):
        json.loads(text)
    with pytest.raises(ValueError):
        load_json(text)


_ESCAPES = re.compile(r"[\x1b\x9b\x90\x98\x9d\x9e\x9f]")


@pytest.mark.parametrize("text,clean", [
    ('{"type":"x","name":"plain"}', True),
    ('{"name": "caf\u00e9 \u00a0 \U0001f600"}', True),  # raw NBSP and emoji: nothing sanitize changes
    ('{"name":"\\u001b[31mred"}', False),  # an escape can decode to ESC
    ('{"name":"\\u00e9"}', False),  # any escape: decided by sanitize_data
    ('{"name":"\x9b6n"}', False),  # raw C1 (CSI)
    ('{"name":"\x7f"}', False),  # raw DEL
    ('{"name":"\u00e9\x85"}', False),  # raw C1 in a non-ASCII text
    (b'{"name":"x"}', False),  # bytes are not checked
])
def test_json_text_is_clean_examples(text, clean):
    assert json_text_is_clean(text) is clean
    if clean:
        value = load_json(text)
        assert same_json(sanitize_data(value), value)


def test_json_text_is_clean_at_the_deepest_nesting_load_json_accepts():
    accepted = deep_text(MAX_JSON_DEPTH)
    value = load_json(accepted)
    assert json_text_is_clean(accepted) and same_json(sanitize_data(value), value)  # no TOO_DEEP cut
    with pytest.raises(ValueError):
        load_json(deep_text(MAX_JSON_DEPTH + 1))
    # Many brackets, shallow: the counting fast path steps aside and the walk decides.
    assert load_json("[" + ",".join(["[]"] * 200) + "]") == [[]] * 200


@FAST
@given(moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_parse_timestamp_fast_path_matches_the_general_path(moment):
    text = moment.isoformat(timespec="milliseconds") + "Z"  # 'YYYY-MM-DDTHH:MM:SS.fffZ', what servers send
    expected = _parse_iso(text)
    assert parse_timestamp(text) == expected
    assert parse_timestamp(text) == expected  # from the cache


# ----------------------------------------------------------------------------------------------- wire models

SERVICE_MODULES = (capout_service, casmo_service, capx_service, captain_service)
MODELS = sorted(
    {
        obj
        for module in SERVICE_MODULES
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == module.__name__
        and obj.model_fields  # the empty per-vendor base classes
    },
    key=lambda model: (model.__module__, model.__name__),
)
MODEL_IDS = [f"{model.__module__.split('.')[2]}.{model.__name__}" for model in MODELS]  # tui.vendors.<vendor>.client


def test_every_wire_model_is_covered():
    names = set(MODEL_IDS)
    for expected in ("capout.RealtimeMessage", "capout.Credits", "casmo.WebhookPayload", "casmo.JobResult",
                     "capx.ActivityEvent", "capx.Costs", "captain.IndexingStatus", "captain.FileChunk"):
        assert expected in names
    assert len(MODELS) >= 30


def well_typed(annotation: Any) -> st.SearchStrategy:
    """Values of the declared type, as odd as that type allows (hostile strings, huge ints, extremes)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is str:
        return nasty_text
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(-(2**70), 2**70)
    if annotation is float:
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**53), 2**53))
    if annotation is Any:
        return finite_json_values
    if annotation is type(None):
        return st.none()
    if origin in (Union, types.UnionType):
        return st.one_of(*(well_typed(arg) for arg in args))
    if origin is list:
        return st.lists(well_typed(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(nasty_text, finite_json_values, max_size=3)
    if origin is typing.Literal:
        return st.sampled_from(args)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return payload_for(annotation)
    raise AssertionError(f"no strategy for {annotation!r}: teach well_typed() the new field type")


def payload_for(model: type[BaseModel], values=well_typed) -> st.SearchStrategy:
    required = {name: values(field.annotation) for name, field in model.model_fields.items() if field.is_required()}
    optional = {name: values(field.annotation) for name, field in model.model_fields.items()
                if not field.is_required()}
    extras = st.dictionaries(nasty_text.filter(lambda key: key not in model.model_fields), finite_json_values,
                             max_size=2)
    return st.builds(lambda fields, extra: {**extra, **fields},
                     st.fixed_dictionaries(required, optional=optional), extras)


def conforms(value: Any, annotation: Any) -> bool:
    """Whether a validated attribute really has its declared type."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is Any:
        return True
    if annotation is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(conforms(value, arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(conforms(item, args[0]) for item in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(key, str) for key in value)
    if origin is typing.Literal:
        return value in args
    if annotation is float:
        return isinstance(value, float)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


@pytest.mark.parametrize("model", MODELS, ids=MODEL_IDS)
@settings(deadline=None, max_examples=20, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_wire_model_accepts_every_well_typed_payload_and_round_trips(model, data):
    payload = data.draw(payload_for(model))
    parsed = model.model_validate(payload)
    for name, field in model.model_fields.items():
        assert conforms(getattr(parsed, name), field.annotation), name
        if field.annotation is str or field.annotation == (str | None):
            assert getattr(parsed, name) == payload.get(name, field.default)  # strings are kept as sent
    dumped = parsed.model_dump(mode="json")
    assert model.model_validate(dumped) == parsed
    assert json.loads(json.dumps(dumped)) == dumped


def odd_value(annotation: Any) -> st.SearchStrategy:
    return st.one_of(well_typed(annotation), json_values, st.sampled_from(["", "1.5", "true", "nan", "1e999"]))


@pytest.mark.parametrize("model", MODELS, ids=MODEL_IDS)
@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_wire_model_gives_a_model_or_a_validation_error(model, data):
    payload = data.draw(st.one_of(payload_for(model, odd_value), json_values, json_objects))
    try:
        parsed = model.model_validate(payload)
    except ValidationError as error:
        assert error.error_count() >= 1
        return
    assert isinstance(payload, (dict, model))
    for name, field in model.model_fields.items():
        assert conforms(getattr(parsed, name), field.annotation), (name, getattr(parsed, name))
    assert_clean(sanitize_data(parsed.model_dump(mode="json")))


@FAST
@given(body=st.one_of(json_values, st.lists(json_objects, max_size=3)))
def test_client_parsers_give_models_or_api_errors(body):
    captain = captain_service.CaptainClient("http://captain.test", api_key="cap_dev_k", organization_id="o")
    for model in (captain_service.Database, captain_service.IndexingStatus, captain_service.QueryResponse):
        try:
            assert isinstance(captain._parse(model, body), model)
        except ApiError as error:
            assert error.service == "captain" and not SINGLE_LINE_CONTROL.search(str(error))
        try:
            rows = captain._parse_rows(model, body, "databases", "data")
            assert all(isinstance(row, model) for row in rows)
        except ApiError as error:
            assert error.service == "captain"
    capx = capx_service.CapxClient("http://capx.test", api_key="k")
    for model in (capx_service.Company, capx_service.Costs, capx_service.Task):
        try:
            assert isinstance(capx._one(model, body), model)
        except ApiError as error:
            assert error.service == "capx"
        try:
            assert all(isinstance(row, model) for row in capx._many(model, body))
        except ApiError as error:
            assert error.service == "capx"


CLIENTS = {
    "capout": lambda: capout_service.CapOutClient("http://capout.test", api_key="k"),
    "casmo": lambda: casmo_service.CasmoClient("http://casmo.test", api_key="k"),
    "capx": lambda: capx_service.CapxClient("http://capx.test", api_key="k"),
    "captain": lambda: captain_service.CaptainClient("http://captain.test", api_key="cap_dev_secretkey",
                                                     organization_id="o"),
}
error_bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.builds(lambda code, message, docs: json.dumps({"error": {"code": code, "message": message, "docs": docs}}),
              json_values, json_values, json_values).map(str.encode),
    st.builds(lambda error: json.dumps({"error": error}), json_values).map(str.encode),
    st.builds(lambda status, message, details: json.dumps({"status": status, "message": message,
                                                           "details": details, "detail": message}),
              json_values, json_values, json_values).map(str.encode),
    st.just(deep_text(3000).encode()),
)


@pytest.mark.parametrize("service", sorted(CLIENTS))
@FAST
@given(status=st.integers(400, 599), body=error_bodies)
def test_error_replies_always_become_a_clean_api_error(service, status, body):
    client = CLIENTS[service]()
    error = client.error_from(httpx.Response(status, content=body))
    assert isinstance(error, ApiError) and error.status == status and error.service == service
    assert not SINGLE_LINE_CONTROL.search(str(error))
    assert "secretkey" not in str(error)


@FAST
@given(value=st.one_of(json_values, nasty_text, st.datetimes().map(lambda moment: moment.isoformat())))
def test_parse_timestamp_gives_a_finite_epoch_or_none(value):
    moment = parse_timestamp(value)
    assert moment is None or (isinstance(moment, float) and math.isfinite(moment))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1e11:
        assert moment == float(value)  # plain epoch seconds are taken as they are


@FAST
@given(headers=st.dictionaries(st.sampled_from(["retry-after", "x-ratelimit-reset"]),
                               st.one_of(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
                                         st.sampled_from(["nan", "inf", "-5", "1e400", "Wed, 21 Oct 2015 07:28:00 GMT",
                                                          "Wed, 99 Oct 2015 07:28:00 GMT", "0"]))))
def test_retry_after_of_any_headers_is_a_wait_never_an_exception(headers):
    wait = retry_after_seconds(httpx.Response(429, headers=headers), default=1.5)
    assert isinstance(wait, float) and not math.isnan(wait) and wait >= 0
    if not headers:
        assert wait == 1.5


# ----------------------------------------------------------------------------------------------- SSE

sse_values = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12)
sse_fields = st.one_of(
    st.builds(lambda value: f"data:{value}", sse_values),
    st.builds(lambda value: f"data: {value}", sse_values),
    st.just("data"),
    st.builds(lambda value: f"event: {value}", sse_values),
    st.builds(lambda value: f"id: {value}", sse_values),
    st.just("id"),
    st.builds(lambda value: f"retry: {value}", st.one_of(st.integers(0, 10**12).map(str), sse_values)),
    st.builds(lambda value: f":{value}", sse_values),  # comments, keepalives
    st.builds(lambda name, value: f"{name}:{value}", sse_values.filter(lambda name: ":" not in name), sse_values),
)
sse_line_ends = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def sse_streams(draw) -> bytes:
    """A well-formed event stream with every line-end style, comments, id-only and retry blocks, a BOM."""
    parts = ["\ufeff"] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 5))):
        for line in draw(st.lists(sse_fields, max_size=5)):
            parts += [line, draw(sse_line_ends)]
        parts.append(draw(sse_line_ends))  # the blank line that ends the block
    if draw(st.booleans()):
        parts.append(draw(sse_fields))  # an unfinished event, dropped at EOF
    return "".join(parts).encode()


def reference_events(stream: bytes, last_event_id: str | None = None):
    """The WHATWG event-stream algorithm, written plainly over the whole stream: the oracle."""
    text = stream.decode("utf-8", "replace")
    text = text.removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)[:-1]  # the last piece has no line end: never processed
    messages, event, data, event_id, retry = [], "", [], last_event_id, None
    for line in lines:
        if not line:
            last_event_id = event_id
            if data:  # `data:` alone is an event with data "": the buffer was "\n"
                messages.append(SSEMessage(event or "message", "\n".join(data), event_id))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id" and "\0" not in value:
            event_id = value or None
        elif name == "retry" and value.isascii() and value.isdigit():
            digits = value.lstrip("0")  # any number of digits is a time; past ~11 days it is read as the cap
            retry = MAX_RETRY_MS if len(digits) > 9 else int(digits or "0")
    return messages, last_event_id, retry


def decode_in_pieces(stream: bytes, cuts: list[int], **reader_options):
    reader = SSEReader(**reader_options)
    decoder = reader.decoder()
    messages, start = [], 0
    for cut in sorted(cuts) + [len(stream)]:
        messages += decoder.feed(stream[start:cut])
        start = max(start, cut)
    return messages, reader, decoder


def cuts_for(stream_strategy):
    return stream_strategy.flatmap(
        lambda stream: st.tuples(st.just(stream), st.lists(st.integers(0, len(stream)), max_size=12)))


@FAST
@given(case=cuts_for(sse_streams()))
def test_sse_any_chunking_of_a_valid_stream_gives_the_reference_events(case):
    stream, cuts = case
    expected, expected_id, expected_retry = reference_events(stream)
    messages, reader, decoder = decode_in_pieces(stream, cuts)
    assert decoder.error is None
    assert messages == expected
    assert reader.last_event_id == expected_id and reader.retry_ms == expected_retry


@st.composite
def usual_sse_streams(draw) -> bytes:
    """Mostly blocks of the usual shape ([event:] [id:] data:, blank line: the decoder's fast path), with
    odd lines, comments, several data lines, NULs in ids and other line ends mixed in."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.integers(0, 3)) == 0:
            parts += [draw(sse_fields), draw(sse_line_ends)]
        if draw(st.booleans()):
            parts.append(f"event:{draw(st.sampled_from(['', ' ', '  ']))}{draw(sse_values)}\n")
        if draw(st.booleans()):
            event_id = draw(st.one_of(sse_values, st.just("a\0b")))  # an id with NUL is ignored
            parts.append(f"id:{draw(st.sampled_from(['', ' ']))}{event_id}\n")
        for _ in range(draw(st.sampled_from([1, 1, 1, 2]))):
            parts.append(f"data:{draw(st.sampled_from(['', ' ', '  ']))}{draw(sse_values)}\n")
        parts.append(draw(st.sampled_from(["\n", "\n", "\r\n"])))
    return "".join(parts).encode()


@FAST
@given(case=cuts_for(usual_sse_streams()), max_event_size=st.sampled_from([8, 64, 1 << 20]))
def test_sse_usual_blocks_in_any_chunking_give_the_reference_events(case, max_event_size):
    stream, cuts = case
    messages, reader, decoder = decode_in_pieces(stream, cuts, max_event_size=max_event_size)
    whole, whole_reader, whole_decoder = decode_in_pieces(stream, [], max_event_size=max_event_size)
    assert messages == whole[:len(messages)] and (decoder.error is None) == (whole_decoder.error is None)
    if max_event_size == 1 << 20:
        expected, expected_id, _ = reference_events(stream)
        assert decoder.error is None and messages == expected and reader.last_event_id == expected_id


@FAST
@given(stream=sse_streams())
def test_sse_one_byte_at_a_time_and_as_text_chunks_match_the_whole(stream):
    whole, whole_reader, _ = decode_in_pieces(stream, [])
    by_byte, byte_reader, _ = decode_in_pieces(stream, list(range(len(stream))))
    assert by_byte == whole and byte_reader.last_event_id == whole_reader.last_event_id
    text = stream.decode()
    decoder = SSEReader().decoder()
    by_char = [message for char in text for message in decoder.feed(char)]
    assert by_char == whole


random_streams = st.one_of(
    st.binary(max_size=200),
    st.lists(st.one_of(st.binary(max_size=8), st.sampled_from(
        [b"data: x", b"data:", b"\r", b"\n", b"\r\n", b":", b"id: 7", b"id", b"retry: 9", b"event: e", b"\xef\xbb\xbf",
         b"\xe2\x82", b"\xac", b"\xff", b"\x00", b"id: a\x00b"])), max_size=30).map(b"".join),
)


@FAST
@given(case=cuts_for(random_streams))
def test_sse_arbitrary_bytes_give_events_and_chunking_never_matters(case):
    stream, cuts = case
    expected, expected_id, expected_retry = reference_events(stream)
    messages, reader, decoder = decode_in_pieces(stream, cuts)
    assert decoder.error is None  # nothing here breaks the (default, 1 MiB) limits
    assert messages == expected
    assert reader.last_event_id == expected_id and reader.retry_ms == expected_retry
    for message in messages:
        # data may be "": WHATWG dispatches an event whose data field is empty (`data` then a blank line)
        assert isinstance(message, SSEMessage) and isinstance(message.data, str) and message.event


@FAST
@given(case=cuts_for(random_streams), limit=st.integers(1, 16))
def test_sse_small_limits_raise_only_protocol_errors_and_never_yield_oversize_data(case, limit):
    stream, cuts = case
    chunks = [stream[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(stream)])]

    async def source():
        for chunk in chunks:
            yield chunk

    async def consume():
        reader = SSEReader(max_event_size=limit)
        received = []
        try:
            async for message in reader.events(source()):
                received.append(message)
        except SSEProtocolError as error:
            assert str(error)
            return received, error
        return received, None

    received, error = asyncio.run(consume())
    for message in received:
        assert len(message.data) <= limit
    unlimited, _, _ = decode_in_pieces(stream, cuts)
    if error is None:
        assert received == unlimited  # when no limit broke, the limit changed nothing
    else:
        assert received == unlimited[: len(received)]  # events before the broken limit are the true ones


@FAST
@given(ends=st.lists(sse_line_ends, min_size=3, max_size=3).filter(lambda e: not (e[1] == "\r" and e[2] == "\n")),
       cut=st.integers(0, 40))
def test_sse_cr_and_lf_split_across_chunks_is_one_line_end(ends, cut):
    stream = f"data: a{ends[0]}data: b{ends[1]}{ends[2]}".encode()
    messages, _, _ = decode_in_pieces(stream, [min(cut, len(stream))])
    assert [message.data for message in messages] == ["a\nb"]
    torn, _, _ = decode_in_pieces(b"data: a\r\ndata: b\r\n\r\n", [8])  # CR | LF at the cut
    assert [message.data for message in torn] == ["a\nb"]


# ----------------------------------------------------------------------------------------------- realtime messages

raw_messages = st.one_of(
    st.binary(max_size=80),
    nasty_text,
    json_values.map(json.dumps),
    json_objects.map(json.dumps),
    st.builds(lambda payload, doc: json.dumps({**payload, "document_id": doc}), json_objects, json_values),
    st.builds(lambda payload, kind, stamp: json.dumps({**payload, "type": kind, "updated_at": stamp,
                                                       "timestamp": stamp, "agent_id": "a1", "task_id": "t1",
                                                       "run_id": "r1", "company_id": "c\x1b[2J"}),
              json_objects, st.sampled_from(capx_service.EVENT_TYPES) | json_values, json_values),
    st.integers(1, 4000).map(deep_text),
    st.integers(1, 4000).map(lambda depth: '{"document_id": "d1", "type": "agent.error", "agent_id": "a", '
                                           f'"nested": {deep_json(depth)}}}'),
    st.integers(1, 4000).map(lambda depth: f'{{"type": {deep_json(depth)}, "task_id": {deep_json(depth)}}}'),
)


def parsed_object(raw: str | bytes) -> dict | None:
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None


def json_depth(value: Any) -> int:
    """How many containers deep a JSON value nests (0 for a scalar)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in children)
    return deepest


def acceptable_object(raw: str | bytes) -> dict | None:
    """The message as a JSON object when capwatch must take it: an object within the nesting limit."""
    payload = parsed_object(raw)
    return payload if payload is not None and json_depth(payload) <= MAX_JSON_DEPTH else None


def check_one_message(store: Store, name: str, before: int, health_before: int, raw: str | bytes) -> None:
    """The handler recorded exactly one event: the message as an event, or a `message.invalid` error."""
    assert len(store.timeline) == before + 1
    event = store.timeline[-1]
    assert_clean_store(store)
    if event.type == "message.invalid" and event.data.keys() == {"error", "sample"}:
        assert event.id == name and event.data["error"]
        assert store.health[name].events == health_before  # an invalid message is not a live event
    else:
        assert acceptable_object(raw) is not None  # only JSON objects within the nesting limit become events
        assert store.health[name].events == health_before + 1


@FAST
@given(raw=raw_messages, as_bytes=st.booleans(), transport=st.sampled_from(["ws", "sse"]))
def test_capout_realtime_message_gives_an_event_or_an_error_event(raw, as_bytes, transport):
    store = Store()
    channel = CapOutRealtime(capout_service.CapOutClient("http://capout.test", api_key="k"), store,
                             transport=transport)
    if as_bytes and isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    before, health_before = len(store.timeline), store.health[channel.name].events
    channel.handle(raw)
    check_one_message(store, channel.name, before, health_before, raw)
    event = store.timeline[-1]
    payload = acceptable_object(raw)
    if payload is not None and payload.get("type"):  # a JSON object with a type is a normal event
        assert event.type != "message.invalid" or event.data.keys() != {"error", "sample"}
    if event.kind == "documents":
        assert store.get("documents", event.id)["document_id"] == event.id


@FAST
@given(raw=raw_messages.map(lambda raw: raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw))
def test_capx_activity_message_gives_an_event_or_an_error_event(raw):
    store = Store()
    channel = CapxActivity(capx_service.CapxClient("http://capx.test", api_key="k"), store, "co1")
    channel.seen_webhooks = SeenActivity()
    before, health_before = len(store.timeline), store.health[channel.name].events
    channel.handle(raw)
    check_one_message(store, channel.name, before, health_before, raw)
    event = store.timeline[-1]
    payload = acceptable_object(raw)
    if payload is not None and payload.get("type"):
        assert event.service == "capx" and event.type == str(sanitize_data(payload)["type"] or "activity")
    if event.kind is not None:
        assert store.get(event.kind, event.id) is not None


@FEW
@given(case=cuts_for(st.one_of(random_streams, sse_streams(),
                               st.lists(raw_messages.filter(lambda raw: isinstance(raw, str) and "\n" not in raw
                                                            and "\r" not in raw), max_size=4)
                               .map(lambda datas: "".join(f"id: {i}\ndata: {d}\n\n" for i, d in enumerate(datas))
                                    .encode("utf-8", "surrogatepass")))))
def test_sse_stream_into_the_capx_channel_gives_one_store_event_per_message(case):
    """The whole SSE path of a channel's session: bytes -> SSEReader -> handle -> Store; only the documented
    SSEProtocolError may leave (Channel.run turns it into a reconnect)."""
    stream, cuts = case
    store = Store()
    channel = CapxActivity(capx_service.CapxClient("http://capx.test", api_key="k"), store, "co1")
    chunks = [stream[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(stream)])]

    async def source():
        for chunk in chunks:
            yield chunk

    async def session():
        count = 0
        async for message in channel.sse.events(source()):
            channel.handle(message.data)
            count += 1
        return count

    count = asyncio.run(session())
    assert count == len(reference_events(stream)[0])  # every message of the stream reached the handler
    assert len(store.timeline) == count  # ... and became exactly one event, normal or `message.invalid`
    assert_clean_store(store)


@FAST
@given(payload=st.one_of(json_objects, payload_for(capx_service.ActivityEvent, odd_value)),
       company=nasty_text)
def test_activity_and_document_events_from_any_object(payload, company):
    store = Store()
    for event in (activity_event(payload, company_id=company), document_event(payload)):
        if event is not None:
            assert_clean_event(event)
            store.apply(event)
    assert_clean_store(store)


webhook_bodies = st.one_of(
    st.binary(max_size=80),
    json_values.map(lambda value: json.dumps(value).encode()),
    payload_for(casmo_service.WebhookPayload, odd_value).map(lambda payload: json.dumps(payload).encode()),
    payload_for(capx_service.WebhookPayload, odd_value).map(lambda payload: json.dumps(payload).encode()),
    st.builds(lambda event, data: json.dumps({"event": event, "timestamp": "2024-01-15T10:30:00Z",
                                              "data": data}).encode(),
              st.sampled_from([*casmo_service.WEBHOOK_EVENTS, *capx_service.EVENT_TYPES]) | json_values,
              st.one_of(json_objects, st.just({"job_id": "j\x1b]0;t\x07", "result": {"error": "\x9b2J"}}))),
    st.integers(1, 4000).map(lambda depth: deep_text(depth).encode()),
    st.integers(1, 4000).map(lambda depth: f'{{"event": "x", "data": {{"job_id": {deep_json(depth)}}}}}'.encode()),
)


@FAST
@given(body=webhook_bodies)
def test_webhook_body_is_a_json_object_or_a_value_error(body):
    try:
        payload = json_object(body)
    except ValueError:
        assert acceptable_object(body) is None
        return
    assert isinstance(payload, dict) and payload == json.loads(body) and json_depth(payload) <= MAX_JSON_DEPTH


def signed(body: bytes, secret: str) -> str:
    import hashlib
    import hmac

    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@FEW
@given(bodies=st.lists(st.tuples(st.sampled_from(["casmo", "capx"]), webhook_bodies), min_size=1, max_size=4))
def test_signed_webhooks_of_any_body_are_applied_or_refused_never_a_server_error(bodies):
    secrets = {"casmo": "casmo_secret", "capx": "capx_secret"}
    hub = LiveHub(Config(casmo={"api_key": "cai_test"}, capx={"api_key": "capx_sk_test"}), VENDORS)
    spawned: list[str] = []

    def spawn(coroutine, name):  # a company.created webhook would open a stream: record it instead
        coroutine.close()
        spawned.append(name)

    hub.spawn = spawn
    receiver = WebhookReceiver(secrets=secrets, on_delivery=hub._on_webhook)

    async def deliver():
        await receiver.start()  # over a real socket, as a vendor delivers
        try:
            return await post_all()
        finally:
            await receiver.stop()

    async def post_all():
        async with httpx.AsyncClient(base_url=receiver.url) as http:
            replies = []
            for service, body in bodies:
                counted = hub.store.channel("webhooks", "webhooks").events
                before = len(hub.store.timeline)
                reply = await http.post(f"/webhooks/{service}", content=body,
                                        headers={"X-Webhook-Signature": signed(body, secrets[service])})
                replies.append((service, body, reply, before, len(hub.store.timeline),
                                hub.store.channel("webhooks", "webhooks").events - counted))
        await hub.stop()  # the integrations' clients (nothing was started)
        return replies

    expected_capx = SeenActivity()  # Capx activity already seen (same type, time and ids) is not applied again
    for service, body, reply, before, after, counted in asyncio.run(deliver()):
        assert reply.status_code in (200, 400), reply.status_code
        if reply.status_code == 400:
            assert acceptable_object(body) is None and reply.json() == {"error": "invalid payload"}
            assert after == before and counted == 0
        elif not reply.json().get("duplicate"):
            payload = acceptable_object(body)
            assert payload is not None and counted == 1  # every accepted delivery is counted
            if service == "casmo":
                assert after > before
            else:
                data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
                # Known by the activity's own time (data's), never the envelope's delivery time (issue 15): an
                # activity with no time of its own is always new.
                new = expected_capx.remember({"type": payload.get("event"), **data})
                assert (after > before) == new
    assert receiver.counts["accepted"] + receiver.counts["duplicates"] + receiver.counts["invalid"] == len(bodies)
    assert_clean_store(hub.store)


@FAST
@given(payload=st.one_of(json_objects, payload_for(casmo_service.WebhookPayload, odd_value)))
def test_casmo_webhook_event_from_any_object(payload):
    store = Store()
    event = casmo_webhook_event(payload)
    assert_clean_event(event)
    store.apply(event)
    if event.id:
        assert store.get("jobs", event.id)["signature_verified"] is True
    assert_clean_store(store)


# ----------------------------------------------------------------------------------------------- pollers

reply_bodies = st.one_of(
    st.binary(max_size=40),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.integers(1, 4000).map(lambda depth: deep_text(depth).encode()),
)


def replies(*models: type[BaseModel]) -> st.SearchStrategy:
    """(status, body) pairs: mostly 200s with lists of almost-right rows, sometimes anything at all."""
    rows = st.one_of(*(payload_for(model, odd_value) for model in models))
    good = st.lists(rows, max_size=3).map(lambda items: json.dumps(items).encode())
    one = rows.map(lambda item: json.dumps(item).encode())
    envelope = st.builds(lambda data, meta: json.dumps({"success": True, "data": data, "meta": meta}).encode(),
                         st.one_of(st.lists(rows, max_size=3), rows, json_values), st.one_of(json_objects, json_values))
    return st.tuples(st.sampled_from([200, 200, 200, 200, 400, 401, 404, 500]),
                     st.one_of(good, one, envelope, reply_bodies))


def mock_transport(answers: dict[str, tuple[int, bytes]], default: tuple[int, bytes]):
    def handle(request: httpx.Request) -> httpx.Response:
        status, body = next((answer for prefix, answer in answers.items() if request.url.path.startswith(prefix)),
                            default)
        return httpx.Response(status, content=body, headers={"content-type": "application/json"})

    return httpx.MockTransport(handle)


async def poll_safely(poller) -> bool:
    """The poller's own `poll()` may raise only ApiError; `poll_once()` (what `run()` loops on) raises nothing."""
    try:
        await poller.poll()
    except ApiError:
        pass
    return await poller.poll_once()


def check_poller(store: Store, name: str, keep_going: bool) -> None:
    health = store.health[name]
    assert isinstance(keep_going, bool)
    assert keep_going or health.state is ChannelState.FAILED
    assert health.state is not ChannelState.OFF or health.last_error
    assert_clean_store(store)


@FEW
@given(databases=replies(captain_service.Database), files=replies(captain_service.FileChunk),
       status=replies(captain_service.IndexingStatus))
def test_captain_pollers_record_events_or_errors(databases, files, status):
    transport = mock_transport({"/v1/list-databases": databases, "/v1/list-files": files,
                                "/v1/indexing-status": status}, (404, b""))
    client = captain_service.CaptainClient("http://captain.test", api_key="cap_dev_secretkey", organization_id="o",
                                           transport=transport)
    client.max_retries = 0
    store = Store()

    async def run():
        database_poller = CaptainDatabases(client, store)
        jobs = CaptainJobs(client, store, database_poller)
        jobs.track_job("job1", "db1", "s3://b")
        return await poll_safely(database_poller), await poll_safely(jobs)

    keep_databases, keep_jobs = asyncio.run(run())
    check_poller(store, "captain.databases", keep_databases)
    check_poller(store, "captain.jobs", keep_jobs)
    health = store.health["captain.databases"]
    if health.state is ChannelState.LIVE:
        assert "databases" in store.entities  # LIVE only after a listing was applied
    else:  # a failed listing shows as FAILING (retried on a short backoff) or FAILED with its reason, not as LIVE
        assert health.state in (ChannelState.FAILING, ChannelState.FAILED) and health.last_error
    assert "secretkey" not in json.dumps(store.snapshot(), default=str)


@FEW
@given(status=replies(captain_service.IndexingStatus))
def test_captain_job_row_from_any_status(status):
    _, body = status
    try:
        model = captain_service.IndexingStatus.model_validate(json.loads(body))
    except (ValueError, RecursionError):
        return
    row = job_row(model, {"job_id": "j", "started_at": "2024-01-01T00:00:00Z"})
    assert_clean(row)
    assert row.get("progress") is None or 0.0 <= row["progress"] <= 1.0
    assert row["done"] is model.done and row["job_id"] == sanitize(model.job_id)


@FEW
@given(credits=replies(capout_service.Credits))
def test_capout_credits_poller_records_a_figure_or_an_error(credits):
    client = capout_service.CapOutClient("http://capout.test", api_key="k", transport=mock_transport({}, credits))
    client.max_retries = 0
    store = Store()
    poller = CapOutCredits(client, store)
    keep_going = asyncio.run(poller.poll_once())
    check_poller(store, "capout.credits", keep_going)
    assert "capout.credits" in store.figures or store.health["capout.credits"].last_error


@FEW
@given(companies=replies(capx_service.Company), costs=replies(capx_service.Costs),
       headers=st.dictionaries(st.sampled_from(["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"]),
                               st.one_of(st.sampled_from(["10", "0", "-5", "1e3", "nan", "inf"]),
                                         st.text("0123456789.e-", max_size=5))))
def test_capx_companies_poller_records_companies_or_an_error(companies, costs, headers):
    def handle(request: httpx.Request) -> httpx.Response:
        status, body = costs if request.url.path.endswith("/costs") else companies
        return httpx.Response(status, content=body, headers={"content-type": "application/json", **headers})

    client = capx_service.CapxClient("http://capx.test", api_key="k", transport=httpx.MockTransport(handle))
    client.max_retries = 0
    client.budget.window = client.budget.margin = 0.0  # hostile rate-limit headers must not make the test sleep
    store = Store()
    watched: list[list[str]] = []

    async def on_companies(ids):
        watched.append(ids)

    poller = CapxCompanies(client, store, on_companies)
    poller.first = False

    async def run():
        return await poll_safely(poller)

    keep_going = asyncio.run(run())
    check_poller(store, "capx.companies", keep_going)
    for ids in watched:
        assert all(isinstance(company_id, str) and company_id for company_id in ids)
