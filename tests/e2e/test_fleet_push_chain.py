"""A changed reason list pushed to 20 kiosks through the production broker set-up (TLS, one account
per kiosk, dynamic-security rights): every kiosk applies it and reports the new config hash, one that
was offline during the push applies it when it returns; a config signed with another key, one meant
for another device and one that fails the schema are refused and the refusal is visible centrally; a
config that points to an unreachable broker rolls back by itself. Ratings keep arriving throughout."""
from __future__ import annotations

from pathlib import Path

import pytest

from broker import fleet
from tests.e2e import chain
from tests.e2e.chain import query as q
from tests.e2e.test_secure_chain import broker_cli, init_tls_broker, yaml_block
from tests.servers import Mosquitto, free_port

SITE = "xa-a"
N = 20


def hashes(db_url: str) -> dict[str, str]:
    return {d: h for d, h in q(db_url, "SELECT device, config_hash FROM devices WHERE site = ?", (SITE,))}


def events(db_url: str, kind: str) -> list[tuple]:
    return q(db_url, "SELECT device, config_hash, detail FROM events WHERE type = ? ORDER BY device", (kind,))


def merged_hash(root: Path, device: str) -> str:
    from config import fleet as layers

    return layers.merge_device(root, SITE, device).sha256()[:12]


@pytest.mark.slow
def test_a_push_reaches_every_kiosk_and_bad_configs_are_refused(tmp_path):
    bdir, tls_port = init_tls_broker(tmp_path)
    broker_cli("fleet", "keygen", "--dir", str(tmp_path / "keys"))
    fleet_block = yaml_block(broker_cli("add-fleet", "tinh", "--dir", str(bdir)))
    collector_block = yaml_block(broker_cli("add-collector", "main", "--dir", str(bdir)))
    root = tmp_path / "fleet"
    (root / "devices" / SITE).mkdir(parents=True)
    (root / "defaults.yaml").write_text(
        f"broker: {{host: 127.0.0.1, port: {tls_port}, tls: {{ca: ca.crt}}, keepalive_s: 5}}\n"
        "fleet: {public_key: fleet.pub, rollback_after_s: 8}\nrepeat_window_s: 0\nstatus_interval_s: 5\n"
        "outbox: {path: outbox-k.db}\n"
        "followup:\n  reasons:\n    - {key: waiting, texts: {vi: 'Chờ lâu', en: 'Long wait'}}\n", encoding="utf-8")
    kiosks = []
    for i in range(1, N + 1):
        device = f"quay-{i:02d}"
        user = f"{SITE}--{device}"
        broker_cli("add-device", SITE, device, "--dir", str(bdir))
        (root / "devices" / SITE / f"{device}.yaml").write_text(
            f"broker: {{username: {user}, password: {{file: {user}.pass}}}}\n", encoding="utf-8")
        home = tmp_path / device
        home.mkdir()
        for src in (bdir / "certs" / "ca.crt", bdir / "secrets" / f"{user}.pass", tmp_path / "keys" / "fleet.pub"):
            (home / src.name).write_bytes(src.read_bytes())
        (home / "kiosk.yaml").write_text(chain.fleet_show(root, SITE, device), encoding="utf-8")  # as enrolment would leave it
        kiosks.append((device, home))
    for f in ("certs/ca.crt", "secrets/collector-main.pass", "secrets/fleet-tinh.pass"):
        (tmp_path / Path(f).name).write_bytes((bdir / f).read_bytes())
    (root / "push.yaml").write_text(f"kind: fleet\nkey: {tmp_path / 'keys' / 'fleet.key'}\n"
                                    + fleet_block.replace("ca.crt", str(tmp_path / "ca.crt"))
                                    .replace("fleet-tinh.pass", str(tmp_path / "fleet-tinh.pass")), encoding="utf-8")
    broker = Mosquitto(bdir, port=tls_port, conf_file=bdir / "mosquitto.conf").start()
    collector, db_url = chain.start_tls_collector(tmp_path, collector_block)
    procs: dict[str, chain.Proc] = {}

    def start(device: str, home: Path) -> None:
        procs[device] = chain.Proc(f"kiosk-{device}", [chain.PY, "-m", "kiosk", "simulate", "--config",
                                                       str(home / "kiosk.yaml"), "--count", "5", "--rate", "2",
                                                       "--journal", "--stay"], home).start()

    try:
        assert chain.wait_for(lambda: "subscribed:" in collector.tail(), 30), collector.tail()
        offline = kiosks[-1]
        for device, home in kiosks[:-1]:
            start(device, home)
        old = {d: merged_hash(root, d) for d, _ in kiosks}
        assert chain.wait_for(lambda: all(hashes(db_url).get(d) == old[d] for d, _ in kiosks[:-1]), 60), hashes(db_url)

        # the province changes the reason list and pushes it
        defaults = root / "defaults.yaml"
        defaults.write_text(defaults.read_text(encoding="utf-8").replace("'Chờ lâu'", "'Phải chờ quá lâu'"),
                            encoding="utf-8")
        pushed = broker_cli("fleet", "push", str(root))
        assert f"{N} config(s) published" in pushed
        new = {d: merged_hash(root, d) for d, _ in kiosks}
        assert all(new[d] != old[d] for d in new)
        online = [d for d, _ in kiosks[:-1]]
        assert chain.wait_for(lambda: all(hashes(db_url).get(d) == new[d] for d in online), 60), \
            (hashes(db_url), new)
        assert sorted(d for d, _, _ in events(db_url, "config_applied")) == online
        assert "Phải chờ quá lâu" in (kiosks[0][1] / "kiosk.yaml").read_text(encoding="utf-8")
        assert (kiosks[0][1] / "kiosk.yaml.previous").read_text(encoding="utf-8").count("Chờ lâu") == 1

        # the kiosk that was offline finds the retained config when it returns
        start(*offline)
        assert chain.wait_for(lambda: hashes(db_url).get(offline[0]) == new[offline[0]], 60), hashes(db_url)

        # refused: another key, another device's config on this topic, a schema mistake
        key = fleet.load_private(tmp_path / "keys" / "fleet.key")
        fleet.keygen(tmp_path / "other")
        other = fleet.load_private(tmp_path / "other" / "fleet.key")
        yaml_of = lambda d: (Path(tmp_path / d / "kiosk.yaml")).read_text(encoding="utf-8")  # noqa: E731
        bad = {
            "quay-02": fleet.sign(yaml_of("quay-02").replace("quá lâu", "lâu lắm"), SITE, "quay-02", other),
            "quay-03": fleet.sign(yaml_of("quay-03").replace("device: quay-03", "device: quay-04"), SITE, "quay-03", key),
            "quay-04": fleet.sign(yaml_of("quay-04") + "faces: {scale: 9}\n", SITE, "quay-04", key),
        }
        publish_configs(root, list(bad.values()))
        assert chain.wait_for(lambda: {d for d, _, _ in events(db_url, "config_rejected")} >= set(bad), 60), \
            events(db_url, "config_rejected")
        errors = dict(q(db_url, "SELECT device, config_error FROM devices WHERE site = ?", (SITE,)))
        assert chain.wait_for(lambda: all(dict(q(db_url, "SELECT device, config_error FROM devices"))
                                          .get(d) for d in bad), 30), errors
        errors = dict(q(db_url, "SELECT device, config_error FROM devices"))
        assert "unknown_key" in errors["quay-02"] and "wrong_device" in errors["quay-03"]
        assert "faces.scale" in errors["quay-04"]
        for d in bad:  # still running on the config they had
            assert procs[d].running() and hashes(db_url)[d] == new[d]

        # a config that points to a broker nobody answers on rolls back by itself
        unreachable = yaml_of("quay-05").replace(f"port: {tls_port}", f"port: {free_port()}")
        publish_configs(root, [fleet.sign(unreachable, SITE, "quay-05", key)])
        assert chain.wait_for(lambda: any(d == "quay-05" and "rolled back" in (detail or "")
                                          for d, _, detail in events(db_url, "config_rejected")), 60), \
            procs["quay-05"].tail()
        assert chain.wait_for(lambda: hashes(db_url).get("quay-05") == new["quay-05"], 30)
        assert f"port: {tls_port}" in yaml_of("quay-05")

        # every tap made it, once. The id is the ratings table's key, so count what it cannot deduplicate:
        # each kiosk's journal (every rating and event it made) against what is stored for it, its v2
        # sequence numbers (a message stored twice under two ids repeats one), and the hourly rollup.
        def made_and_stored(device: str, home: Path) -> tuple[list[str], list[str]]:
            ids = q(db_url, "SELECT id FROM ratings WHERE device = ? UNION ALL SELECT id FROM events WHERE device = ?",
                    (device, device))
            return sorted(chain.journal_ids(home)), sorted(i for (i,) in ids)

        def differ() -> dict[str, tuple[int, int]]:  # device: (made, stored), where they differ
            return {d: (len(ms[0]), len(ms[1])) for d, h in kiosks if (ms := made_and_stored(d, h))[0] != ms[1]}

        assert chain.wait_for(lambda: not differ(), 30), differ()
        assert len(chain.stored_ids(db_url)) == 5 * N
        for device, home in kiosks:
            made = chain.journal_ids(home)
            assert chain.stored_seqs(db_url, SITE, device) == list(range(1, len(made) + 1)), device
        assert chain.rollup_total(db_url) == 5 * N
    finally:
        for p in procs.values():
            p.stop()
        collector.stop()
        broker.stop()


def publish_configs(root: Path, pushes: list) -> None:
    from config import fleet as layers

    settings = layers.load_push_settings(root / "push.yaml")
    assert fleet.publish_configs(pushes, settings.broker) == []
