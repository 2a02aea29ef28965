"""Wire contract v1: what is accepted, what is rejected and why, and that nothing else escapes decode."""
import json
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from broker import contract
from broker.contract import ContractError, Rating, Status, decode, encode, parse_topic, rating_topic, status_topic

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "hailong/v1/ubnd-xa-a/quay-1/rating"


def rating_dict(**over):
    d = {"v": 1, "id": "0b3f6c1e-9d2a-4c8e-9a51-0f1e2d3c4b5a", "site": "ubnd-xa-a", "device": "quay-1",
         "ts": "2026-11-23T08:15:00Z", "rating": 4, "scale": 5, "reason": None, "lang": "vi",
         "officer": None, "service": None, "flags": []}
    d.update(over)
    return d


def raw(d) -> bytes:
    return json.dumps(d).encode()


def test_a_valid_rating_round_trips():
    msg = decode(TOPIC, raw(rating_dict()))
    assert isinstance(msg, Rating) and msg.rating == 4 and msg.ts.year == 2026
    again = decode(TOPIC, encode(msg))
    assert again == msg
    assert json.loads(encode(msg))["ts"] == "2026-11-23T08:15:00.000Z"


def test_a_valid_status_decodes():
    st_ = {"v": 1, "site": "ubnd-xa-a", "device": "quay-1", "state": "online", "ts": "2026-11-23T08:15:00Z",
           "app_version": "0.1.0", "outbox_depth": 3, "last_rating_ts": None, "config_hash": "abc"}
    msg = decode("hailong/v1/ubnd-xa-a/quay-1/status", raw(st_))
    assert isinstance(msg, Status) and msg.outbox_depth == 3


@pytest.mark.parametrize("over,reason", [
    ({"rating": 6}, "bad_field:rating"),
    ({"rating": 5, "scale": 4}, "bad_field:rating"),
    ({"rating": True}, "bad_field:rating"),
    ({"rating": "4"}, "bad_field:rating"),
    ({"scale": 1}, "bad_field:scale"),
    ({"id": "not-a-uuid"}, "bad_field:id"),
    ({"ts": "2026-11-23 08:15"}, "bad_field:ts"),
    ({"ts": "2026-11-23T08:15:00+07:00"}, "bad_field:ts"),
    ({"ts": 1700000000}, "bad_field:ts"),
    ({"lang": "Vietnamese"}, "bad_field:lang"),
    ({"flags": "rapid_repeat"}, "bad_field:flags"),
    ({"v": 2}, "unknown_version"),
    ({"v": "1"}, "unknown_version"),
    ({"site": "ubnd-xa-b"}, "topic_mismatch"),
    ({"extra": 1}, "unknown_field:extra"),
])
def test_bad_fields_are_named(over, reason):
    with pytest.raises(ContractError) as e:
        decode(TOPIC, raw(rating_dict(**over)))
    assert e.value.reason == reason


def test_missing_field_is_named():
    d = rating_dict()
    del d["lang"]
    with pytest.raises(ContractError) as e:
        decode(TOPIC, raw(d))
    assert e.value.reason == "missing_field:lang"


@pytest.mark.parametrize("payload,reason", [
    (b"", "empty"), (b"{", "bad_json"), (b"\xff\xfe", "bad_json"), (b"[1,2]", "bad_json"),
    (b"x" * 5000, "too_large"), (b"[" * 2000 + b"]" * 2000, "bad_json"),
])
def test_bad_payloads(payload, reason):
    with pytest.raises(ContractError) as e:
        decode(TOPIC, payload)
    assert e.value.reason == reason


@pytest.mark.parametrize("topic", ["hailong/v1/a/b", "other/v1/a/b/rating", "hailong/v1/A/b/rating",
                                   "hailong/v1/a/b/c/rating", "hailong/v1/a/b/other"])
def test_bad_topics(topic):
    with pytest.raises(ContractError) as e:
        decode(topic, raw(rating_dict()))
    assert e.value.reason == "bad_topic"


def test_topics_are_built_and_parsed():
    assert rating_topic("s-1", "d-2") == "hailong/v1/s-1/d-2/rating"
    assert status_topic("s-1", "d-2", prefix="x/y") == "x/y/s-1/d-2/status"
    assert parse_topic("x/y/s-1/d-2/status", prefix="x/y").kind == "status"
    assert contract.subscription("rating", share_group="g") == "$share/g/hailong/v1/+/+/rating"
    with pytest.raises(ContractError):
        rating_topic("Bad Site", "d")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=5000))
def test_arbitrary_bytes_only_ever_raise_contract_error(payload):
    try:
        decode(TOPIC, payload)
    except ContractError as e:
        assert e.reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(list(rating_dict()) + ["x"]), json_values, max_size=12))
def test_arbitrary_json_objects_only_ever_raise_contract_error(obj):
    base = rating_dict()
    base.update(obj)
    try:
        msg = decode(TOPIC, json.dumps(base).encode())
    except ContractError as e:
        assert e.reason
    else:
        assert isinstance(msg, Rating) and 1 <= msg.rating <= msg.scale


def test_committed_json_schema_matches_the_models():
    committed = json.loads((ROOT / "docs" / "contract.schema.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(contract.json_schema())), \
        "docs/contract.schema.json is stale: run `python -m broker schema > docs/contract.schema.json`"


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from(list(rating_dict()) + ["x"]), json_values | st.floats(), max_size=12),
       st.booleans())
def test_the_fast_path_accepts_nothing_the_full_check_rejects(obj, raw_text):
    base = rating_dict()
    base.update(obj)
    payload = json.dumps(base).encode()
    if raw_text:  # also numbers written as 4.0, 1e0, and duplicate keys, which json.dumps never makes
        payload = payload.replace(b'"rating": 4', b'"rating": 4.0').replace(b'"v": 1', b'"v": 1e0, "v": 1')
    try:
        fast = Rating.model_validate_json(payload)
    except ValueError:
        return
    topic = contract.parse_topic(TOPIC)
    try:
        full = contract._decode_checked(topic, payload)
    except ContractError as e:
        assert e.reason == "topic_mismatch" and (fast.site, fast.device) != (topic.site, topic.device)
    else:
        assert full == fast
