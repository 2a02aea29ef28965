"""Wire contract v1 and v2: what is accepted, what is rejected and why, and that nothing else escapes decode."""
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import Phase, event, given, settings, strategies as st

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
    ({"v": 3}, "unknown_version"),
    ({"v": "1"}, "unknown_version"),
    ({"v": True}, "unknown_version"),
    ({"v": 1.0}, "unknown_version"),
    ({"v": 2}, "missing_field:epoch"),  # a v2 rating must carry the v2 fields
    ({"officer": "Nguy\u1ec5n \u202eA"}, "bad_field:officer"),  # right-to-left override
    ({"service": "x\u001b[31m"}, "bad_field:service"),  # terminal escape sequence
    ({"officer": "A\u200bB"}, "bad_field:officer"),  # zero-width space
    ({"ts": "1969-12-31T23:59:59Z"}, "bad_field:ts"),
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


def test_vietnamese_names_with_combining_marks_are_accepted():
    # NFD Vietnamese uses combining marks (category Mn), which are not format characters.
    msg = decode(TOPIC, raw(rating_dict(officer="Nguye\u0302\u0303n Va\u0306n A", service="C\u1ea5p gi\u1ea5y")))
    assert msg.officer.startswith("Nguy")


def test_a_kiosk_clock_at_1970_is_still_a_rating():
    # A Raspberry Pi without a real-time clock boots at 1970 after a power cut: its ratings are real.
    assert decode(TOPIC, raw(rating_dict(ts="1970-01-01T00:05:00Z"))).ts.year == 1970


def test_the_fast_path_refuses_what_the_full_check_refuses_for_v():
    for v in ("true", "1.0", "1e0"):
        payload = raw(rating_dict()).replace(b'"v": 1', b'"v": ' + v.encode())
        with pytest.raises(ContractError) as e:
            decode(TOPIC, payload)
        assert e.value.reason == "unknown_version"


@pytest.mark.parametrize("field,value", [("outbox_depth", 2**63), ("outbox_depth", 2**31), ("outbox_depth", -1)])
def test_status_integers_are_bounded_by_what_the_databases_store(field, value):
    st_ = {"v": 1, "site": "ubnd-xa-a", "device": "quay-1", "state": "online", "ts": "2026-11-23T08:15:00Z",
           "app_version": "0.1.0", "outbox_depth": 3, "last_rating_ts": None, "config_hash": "abc", field: value}
    with pytest.raises(ContractError) as e:
        decode("hailong/v1/ubnd-xa-a/quay-1/status", raw(st_))
    assert e.value.reason == f"bad_field:{field}"


# ---------------------------------------------------------------- v2
EPOCH = "5d2b7c1e-0000-4c8e-9a51-0f1e2d3c4b5a"


def rating_v2(**over):
    d = rating_dict(v=2, epoch=EPOCH, seq=7, boot="b0a1", mono_ms=123_456, clock="unsynced",
                    request=None, dossier="000.00.12.H56-261123-0001", ticket="A012")
    d.update(over)
    return d


def status_v2(**over):
    d = {"v": 2, "site": "ubnd-xa-a", "device": "quay-1", "state": "online", "ts": "2026-11-23T08:15:00Z",
         "app_version": "0.2.0", "outbox_depth": 0, "last_rating_ts": None, "config_hash": "abc",
         "boot": "b0a1", "mono_ms": 200_000, "clock": "synced", "epoch": EPOCH, "seq_last": 7,
         "officer": "Nguy\u1ec5n V\u0103n A", "config_error": None, "fault": None}
    d.update(over)
    return d


def test_v1_and_v2_ratings_are_accepted_on_the_same_topic():
    one = decode(TOPIC, raw(rating_dict()))
    two = decode(TOPIC, raw(rating_v2()))
    assert (one.v, two.v) == (1, 2)
    assert isinstance(two, contract.RatingV2) and isinstance(two, Rating)
    assert two.seq == 7 and two.epoch == EPOCH.lower() and two.clock == "unsynced"
    assert decode(TOPIC, encode(two)) == two
    # third parties may format v2 JSON their own way (spaces, another key order)
    reordered = dict(reversed(list(rating_v2().items())))
    assert decode(TOPIC, json.dumps(reordered, indent=2).encode()) == two


@pytest.mark.parametrize("over,reason", [
    ({"seq": 0}, "bad_field:seq"),
    ({"seq": 2**31}, "bad_field:seq"),
    ({"mono_ms": -1}, "bad_field:mono_ms"),
    ({"mono_ms": 2**53}, "bad_field:mono_ms"),
    ({"clock": "ntp"}, "bad_field:clock"),
    ({"epoch": "x"}, "bad_field:epoch"),
    ({"boot": "has space"}, "bad_field:boot"),
    ({"dossier": "a\nb"}, "bad_field:dossier"),
    ({"request": "nope"}, "bad_field:request"),
])
def test_v2_rating_fields_are_checked(over, reason):
    with pytest.raises(ContractError) as e:
        decode(TOPIC, raw(rating_v2(**over)))
    assert e.value.reason == reason


def test_v2_status_event_request_config_decode():
    st2 = decode("hailong/v1/ubnd-xa-a/quay-1/status", raw(status_v2()))
    assert isinstance(st2, contract.StatusV2) and st2.seq_last == 7 and isinstance(st2, Status)
    ev = {"v": 2, "id": "0b3f6c1e-9d2a-4c8e-9a51-0f1e2d3c4b5b", "site": "ubnd-xa-a", "device": "quay-1",
          "ts": "2026-11-23T08:00:00Z", "epoch": EPOCH, "seq": 6, "boot": "b0a1", "mono_ms": 1000,
          "clock": "synced", "type": "sign_in", "officer": "can-bo-a", "service": "ho-tich"}
    e = decode("hailong/v1/ubnd-xa-a/quay-1/event", raw(ev))
    assert isinstance(e, contract.Event) and e.type == "sign_in" and e.seq == 6
    with pytest.raises(ContractError) as bad:
        decode("hailong/v1/ubnd-xa-a/quay-1/event", raw({**ev, "type": "party"}))
    assert bad.value.reason == "bad_field:type"
    with pytest.raises(ContractError) as v1event:
        decode("hailong/v1/ubnd-xa-a/quay-1/event", raw({**ev, "v": 1}))
    assert v1event.value.reason == "unknown_version"
    rq = {"v": 2, "id": "0b3f6c1e-9d2a-4c8e-9a51-0f1e2d3c4b5c", "site": "ubnd-xa-a", "device": "quay-1",
          "ts": "2026-11-23T08:00:00Z", "dossier": "H56-0001", "ticket": "A012", "expires_s": 300}
    r = decode("hailong/v1/ubnd-xa-a/quay-1/request", raw(rq))
    assert isinstance(r, contract.Request) and r.expires_s == 300
    assert contract.request_topic("ubnd-xa-a", "quay-1") == "hailong/v1/ubnd-xa-a/quay-1/request"
    big_yaml = "site: ubnd-xa-a\n" + "# comment line\n" * 2000
    cfg = {"v": 2, "site": "ubnd-xa-a", "device": "quay-1", "ts": "2026-11-23T08:00:00Z", "yaml": big_yaml,
           "sha256": "0" * 64, "key_id": "province", "sig": "AAAA"}
    c = decode("hailong/v1/ubnd-xa-a/quay-1/config", raw(cfg))  # larger than 4 KiB: configs may be
    assert isinstance(c, contract.ConfigPush) and b"quay-1" in c.signed_bytes()
    with pytest.raises(ContractError) as big:
        decode(TOPIC, raw(rating_v2(officer="x")) + b" " * 5000)
    assert big.value.reason == "too_large"


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=5000), st.sampled_from(contract.KINDS))
def test_arbitrary_bytes_on_any_kind_only_ever_raise_contract_error(payload, kind):
    try:
        decode(f"hailong/v1/a/b/{kind}", payload)
    except ContractError as e:
        assert e.reason


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                       max_size=6))
def test_arbitrary_v2_objects_only_ever_raise_contract_error(obj):
    base = rating_v2()
    base.update(obj)
    try:
        msg = decode(TOPIC, json.dumps(base).encode())
    except ContractError as e:
        assert e.reason
    else:
        assert isinstance(msg, Rating) and 1 <= msg.rating <= msg.scale


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


# The fast-path properties below compare two validators on what the fast one accepts, so they say something only
# about the examples that reach the comparison. Arbitrary JSON values almost never make a valid rating (about 1 in
# 150 examples did), so each example varies several fields within what is valid and gives up to two fields a
# near-valid value: a look-alike in another type (4.0, true, "4"), a bound and one past it, another time zone or
# year, a control character; or any JSON value at all. Each property counts the examples it compared and fails
# when too few got there.
_UTC7 = timezone(timedelta(hours=7))
_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs")), min_size=1, max_size=20)
_VALID_TS = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31),
                         timezones=st.just(timezone.utc)).flatmap(
    lambda dt: st.sampled_from([dt.isoformat(), dt.isoformat().replace("+00:00", "Z"),
                                dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")]))
_VALID_V1 = {
    "id": st.uuids().map(str) | st.uuids().map(lambda u: str(u).upper()),
    "site": st.sampled_from(["ubnd-xa-a", "ubnd-xa-b"]),  # the second disagrees with the topic
    "device": st.sampled_from(["quay-1", "quay-2"]),
    "ts": _VALID_TS,
    "rating": st.integers(1, 5),
    "scale": st.integers(2, 5),
    "reason": st.none() | st.from_regex(r"\A[a-z0-9][a-z0-9_-]{0,8}\Z"),
    "lang": st.sampled_from(["vi", "en", "vi-VN", "vie"]),
    "officer": st.none() | _TEXT,
    "service": st.none() | _TEXT,
    "flags": st.lists(st.from_regex(r"\A[a-z0-9_]{1,32}\Z"), max_size=8),
}
_VALID_V2 = _VALID_V1 | {
    "epoch": st.uuids().map(str),
    "seq": st.integers(1, 2**31 - 1),
    "boot": st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z"),
    "mono_ms": st.integers(0, 2**53 - 1),
    "clock": st.sampled_from(["synced", "unsynced"]),
    "request": st.none() | st.uuids().map(str),
    "dossier": st.none() | st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._/:-]{0,20}\Z"),
    "ticket": st.none() | st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._/:-]{0,5}\Z"),
}
_UUID_LIKE = st.sampled_from(["", "0b3f6c1e9d2a4c8e9a510f1e2d3c4b5a", "0b3f6c1e-9d2a-4c8e-9a51-0f1e2d3c4b5"]) \
    | st.uuids().map(lambda u: u.hex) | st.text(max_size=40)
_INT_LIKE = st.sampled_from([4.0, True, False, "4", None, 1e0, -0.0])
_TS_LIKE = st.datetimes(min_value=datetime(1960, 1, 1), max_value=datetime(2300, 1, 1),
                        timezones=st.sampled_from([timezone.utc, _UTC7]) | st.none()).flatmap(
    lambda dt: st.sampled_from([dt.isoformat(), dt.isoformat().replace("+00:00", "z"), dt.strftime("%Y-%m-%d %H:%M:%S"),
                                dt.date().isoformat(), dt.timestamp() if dt.tzinfo else 0]))
_NAME_LIKE = st.sampled_from(["", "x" * 128, "x" * 129, "a\x1bb", "a\u202eb", "a\u200bb"]) | st.text(max_size=12)
_NEAR_V1 = {
    "v": st.sampled_from([0, 2, True, 1.0, "1"]),
    "id": _UUID_LIKE,
    "site": st.sampled_from(["UBND-xa-a", "-a", "", "a" * 65]) | st.text(max_size=6),
    "device": st.sampled_from(["Quay-1", "q" * 65, "quay_1"]) | st.text(max_size=6),
    "ts": _TS_LIKE,
    "rating": st.integers(-1, 7) | _INT_LIKE,
    "scale": st.integers(0, 7) | _INT_LIKE,
    "reason": st.text(max_size=8) | st.sampled_from(["A", "_a", "a" * 65]),
    "lang": st.sampled_from(["VI", "v", "en-", "vi-VNVNVNVN"]) | st.text(max_size=6),
    "officer": _NAME_LIKE,
    "service": _NAME_LIKE,
    "flags": st.lists(st.sampled_from(["RAPID", "", "a" * 33, "rapid_repeat"]) | st.text(max_size=6), max_size=9),
    "x": st.none(),
}
_NEAR_V2 = _NEAR_V1 | {
    "v": st.sampled_from([1, 3, True, 2.0, "2"]),
    "epoch": _UUID_LIKE,
    "seq": st.sampled_from([0, 2**31, -1]) | _INT_LIKE,
    "boot": st.sampled_from(["", "b" * 65, "b 1"]) | st.text(max_size=6),
    "mono_ms": st.sampled_from([-1, 2**53]) | _INT_LIKE,
    "clock": st.sampled_from(["Synced", "", 1]),
    "request": _UUID_LIKE,
    "dossier": st.sampled_from(["", ".a", "a" * 65, "a b"]) | st.text(max_size=8),
    "ticket": st.sampled_from(["A 12", "-A"]) | st.text(max_size=6),
}


def _changes(valid: dict, near: dict) -> st.SearchStrategy:
    """Fields varied within what is valid, then up to two of them given a near-valid value or any JSON at all."""
    anything = json_values | st.floats()
    bad = st.lists(st.sampled_from(sorted(near)), max_size=2, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: st.one_of(near[k], anything) for k in keys}))
    return st.tuples(st.fixed_dictionaries({}, optional=valid), bad).map(lambda t: t[0] | t[1])


def _v1_property(fast_parse, seen: dict, **hypothesis_settings):
    @settings(deadline=None, **hypothesis_settings)
    @given(_changes(_VALID_V1, _NEAR_V1), st.booleans())
    def prop(obj, raw_text):
        seen["tried"] += 1
        base = rating_dict()
        base.update(obj)
        payload = json.dumps(base).encode()
        if raw_text:  # also numbers written as 4.0, 1e0, and duplicate keys, which json.dumps never makes
            payload = payload.replace(b'"rating": 4', b'"rating": 4.0').replace(b'"v": 1', b'"v": 1e0, "v": 1')
        try:
            fast = fast_parse(payload)
        except ValueError:
            event("fast path refused it: nothing to compare")
            return
        event("fast path accepted it: compared with the full check")
        seen["compared"] += 1
        topic = contract.parse_topic(TOPIC)
        try:
            full = contract._decode_checked(topic, payload)
        except ContractError as e:
            assert e.reason == "topic_mismatch" and (fast.site, fast.device) != (topic.site, topic.device)
        else:
            assert full == fast
    return prop


def _v2_property(fast_parse, seen: dict, **hypothesis_settings):
    @settings(deadline=None, **hypothesis_settings)
    @given(_changes(_VALID_V2, _NEAR_V2))
    def prop(obj):
        seen["tried"] += 1
        base = rating_v2()
        base.update(obj)
        payload = json.dumps(base, separators=(",", ":")).encode()
        try:
            fast = fast_parse(payload)
        except ValueError:
            event("fast path refused it: nothing to compare")
            return
        event("fast path accepted it: compared with the full check")
        seen["compared"] += 1
        topic = contract.parse_topic(TOPIC)
        try:
            full = contract._decode_checked(topic, payload)
        except ContractError as e:
            assert e.reason == "topic_mismatch" and (fast.site, fast.device) != (topic.site, topic.device)
        else:
            assert full == fast
    return prop


def _accept_anything(model):
    """A fast path that checks nothing: what the property must catch."""
    def parse(payload: bytes):
        obj = json.loads(payload)
        if not isinstance(obj, dict):
            raise ValueError("not an object")
        return model.model_construct(**obj)
    return parse


def test_the_fast_path_accepts_nothing_the_full_check_rejects():
    seen = {"tried": 0, "compared": 0}
    _v1_property(Rating.model_validate_json, seen, max_examples=600)()
    assert seen["compared"] >= 0.2 * seen["tried"] and seen["compared"] >= 100, \
        f"only {seen['compared']} of {seen['tried']} examples reached the comparison"


def test_the_v2_fast_path_accepts_nothing_the_full_check_rejects():
    seen = {"tried": 0, "compared": 0}
    _v2_property(contract.RatingV2.model_validate_json, seen, max_examples=400)()
    assert seen["compared"] >= 0.2 * seen["tried"] and seen["compared"] >= 70, \
        f"only {seen['compared']} of {seen['tried']} examples reached the comparison"


@pytest.mark.parametrize("prop,model", [(_v1_property, Rating), (_v2_property, contract.RatingV2)])
def test_the_fast_path_properties_catch_a_fast_path_that_checks_nothing(prop, model):
    seen = {"tried": 0, "compared": 0}
    with pytest.raises(AssertionError):
        prop(_accept_anything(model), seen, max_examples=200, database=None,
             phases=[Phase.explicit, Phase.generate])()
