"""What a collector receipts after a commit: every stored v2 message by (epoch, seq), nothing else."""
import json
from types import SimpleNamespace as Row

from broker.contract import RECEIPT_MAX_RANGES, MAX_PAYLOAD_BYTES, Receipt, decode
from collector.ingest.receipts import ranges, receipts_for

E1, E2 = "7d3c1f0e-2b4a-4e8f-9c1d-5a6b7c8d9e0f", "0b3f6c1e-9d2a-4c8e-9a51-0f1e2d3c4b5a"


def row(seq, epoch=E1, device="quay-01"):
    return Row(site="xa-a", device=device, epoch=epoch, seq=seq)


def test_seqs_become_sorted_merged_inclusive_ranges():
    assert ranges([3, 1, 2, 7, 5, 6, 6, 10]) == [[1, 3], [5, 7], [10, 10]]
    assert ranges([]) == []


def test_one_receipt_per_kiosk_and_epoch_and_none_for_v1_rows():
    rows = [row(1), row(2), row(4), row(1, E2), row(9, device="quay-02"), row(None, epoch=None)]
    out = receipts_for(rows, "hailong/v1")
    got = {(t, m.epoch): m.seqs for t, m in ((t, decode(t, p)) for t, p in out)}
    assert got == {("hailong/v1/xa-a/quay-01/receipt", E1): [(1, 2), (4, 4)],
                   ("hailong/v1/xa-a/quay-01/receipt", E2): [(1, 1)],
                   ("hailong/v1/xa-a/quay-02/receipt", E1): [(9, 9)]}
    assert receipts_for([row(None, epoch=None)], "hailong/v1") == []


def test_a_scattered_batch_is_split_into_receipts_within_the_payload_limit():
    seqs = list(range(1, 2_000_000_000, 1_000_000))[:RECEIPT_MAX_RANGES * 2 + 7]  # no two adjacent
    out = receipts_for([row(s) for s in seqs], "hailong/v1")
    assert len(out) == 3 and all(len(p) <= MAX_PAYLOAD_BYTES for _, p in out)
    back = [s for t, p in out for first, last in decode(t, p).seqs for s in range(first, last + 1)]
    assert back == seqs
    assert all(isinstance(decode(t, p), Receipt) and json.loads(p)["v"] == 2 for t, p in out)


def test_rows_of_several_batches_are_receipted_together_within_the_delay():
    from collector.ingest.receipts import ReceiptBuffer

    buf = ReceiptBuffer("hailong/v1", delay_s=0.5, max_rows=100)
    buf.add([row(1), row(2), row(None, epoch=None)], now=10.0)
    assert not buf.due(10.2)
    buf.add([row(3), row(1, device="quay-02")], now=10.3)
    assert buf.due(10.5)
    got = {t: decode(t, p).seqs for t, p in buf.take()}
    assert got == {"hailong/v1/xa-a/quay-01/receipt": [(1, 3)], "hailong/v1/xa-a/quay-02/receipt": [(1, 1)]}
    assert not buf.due(99.0) and buf.take() == []
    buf.add([row(s) for s in range(1, 101)], now=100.0)
    assert buf.due(100.0)  # enough waiting: at once


def test_receipts_go_to_the_configured_prefix():
    (topic, payload), = receipts_for([row(1)], "tinh-lang-son/v2")
    assert topic == "tinh-lang-son/v2/xa-a/quay-01/receipt"
    assert decode(topic, payload, "tinh-lang-son/v2").seqs == [(1, 1)]


def test_the_time_signal_waits_for_the_subscription():
    """Kiosks resend every unreceipted row on hearing a collector's time; said before the broker confirmed
    the subscription, those resends would be dropped again (no session yet) and wait out resend_after_s."""
    import queue
    import threading
    import time

    from broker.contract import time_topic
    from collector.ingest.mqtt_source import MqttSource
    from config.collector import BrokerConnection

    source = MqttSource(BrokerConnection(), queue.Queue(), "c", None, 3600, 100)
    said = []
    source.client.publish = lambda topic, payload, qos=0, **kw: said.append(topic)
    ok = type("RC", (), {"is_failure": False})()
    flags = type("Flags", (), {"session_present": False})()
    source.client.subscribe = lambda *a, **kw: None
    source._on_connect(source.client, None, flags, ok, None)
    worker = threading.Thread(target=source._say_time, daemon=True)
    worker.start()
    try:
        time.sleep(2.5)
        assert said == []  # connected, not yet subscribed: silent
        source._on_subscribe(source.client, None, 1, [ok] * len(source.filters), None)
        deadline = time.monotonic() + 3
        while not said and time.monotonic() < deadline:
            time.sleep(0.05)
        assert said == [time_topic(source.broker.topic_prefix)]
        source._on_disconnect(source.client, None, flags, ok, None)
        source._on_connect(source.client, None, flags, ok, None)
        source._time_now.set()  # a new connection wants the time soon, but only after its own SUBACK
        time.sleep(2.5)
        assert len(said) == 1
    finally:
        source._quit.set()
        worker.join(3)
