"""A commune broker bridged to the province, its link cut and the commune broker killed meanwhile.

Shared by tests/e2e/test_receipts.py (a 20 s cut) and tests/bench/bridge_outage.py (minutes). The
collector stores at the province; mid-stream the bridge link is cut, the commune broker (holding a
backlog it acknowledged) is killed with -9 and restarted, and after ``cut_s`` the link comes back:
receipts come back down the bridge, and what the commune broker lost is sent again by the kiosk.
"""
from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Optional

from tests.e2e import chain
from tests.servers import Mosquitto


def bridged_outage(workdir: Path, cut_s: float, count: int = 300, rate: float = 30,
                   stored_once: Optional[Callable] = None, timeout: float = 180,
                   health_every_s: Optional[float] = None) -> dict:
    """Run the scenario; returns created, stored, doubled and the seconds from the link's return to the
    last rating stored. ``stored_once`` (the receipts test's check) is called before the processes stop.
    ``health_every_s``: play docs/hailong-broker-health.timer on the commune broker (a broker that does
    not answer is killed and started again, as systemctl restart does to a hung one)."""
    from broker import setup
    from broker.__main__ import main
    from tests.e2e.proxy import CuttableProxy
    from tests.integration.test_broker_setup import init_dir

    province, commune = workdir / "p", workdir / "c"  # short: the control socket path is bounded
    p_tls, _ = init_dir(province)
    setup.add_bridge_user(province, "tan-lap", ["ubnd-a"])  # this commune's kiosks only
    issued = setup.add_collector(province, "main")
    _, c_local = init_dir(commune)
    setup.add_device(commune, "ubnd-a", "quay-01")
    link = CuttableProxy(p_tls)
    assert main(["bridge", "--dir", str(commune), "--name", "to-province", "--remote-host", "127.0.0.1",
                 "--remote-port", str(link.port), "--ca", str(province / "certs" / "ca.crt"),
                 "--username", "bridge-tan-lap",
                 "--password-file", str(province / "secrets" / "bridge-tan-lap.pass"), "--sites", "ubnd-a"]) == 0
    up = Mosquitto(province, port=p_tls, conf_file=province / "mosquitto.conf").start()
    down = Mosquitto(commune, port=c_local, conf_file=commune / "mosquitto.conf").start()
    work = workdir / "w"
    work.mkdir()
    shutil.copy(province / "certs" / "ca.crt", work / "ca.crt")
    shutil.copy(issued.password_file, work / issued.password_file.name)
    shutil.copy(commune / "secrets" / "ubnd-a--quay-01.pass", work / "kiosk.pass")
    collector, db_url = chain.start_tls_collector(work, "\n".join(
        line for line in issued.yaml_block.splitlines() if not line.startswith("#")) + "\n")
    cfg = chain.kiosk_config(work, "ubnd-a", "quay-01", c_local)
    cfg.write_text(cfg.read_text().replace(
        f"broker: {{host: 127.0.0.1, port: {c_local}, keepalive_s: 5}}",
        f"broker: {{host: 127.0.0.1, port: {c_local}, keepalive_s: 5, username: ubnd-a--quay-01, "
        f"password: {{file: kiosk.pass}}}}"))
    kiosk = chain.Proc("kiosk", [chain.PY, "-m", "kiosk", "simulate", "--config", str(cfg), "--count", str(count),
                                 "--rate", str(rate), "--journal", "--stay"], work).start()
    stop_health = threading.Event()
    restarts: list[float] = []

    def health_timer() -> None:
        from broker.health import check

        while not stop_health.wait(health_every_s):
            if check(commune, timeout_s=10).state == "not answering":
                restarts.append(time.monotonic())
                down.stop(signal.SIGKILL)
                down.start()
    if health_every_s:
        threading.Thread(target=health_timer, daemon=True).start()
    try:
        assert chain.wait_for(lambda: len(chain.stored_ids(db_url)) >= count // 5, 60), collector.tail() + kiosk.tail()
        link.cut()
        time.sleep(min(5.0, cut_s / 2))  # the commune broker takes (and acknowledges) what the kiosk taps meanwhile
        down.stop(signal.SIGKILL)
        time.sleep(0.5)
        down.start()
        time.sleep(max(0.0, cut_s - min(5.0, cut_s / 2) - 0.5))
        link.restore()
        back = time.monotonic()
        # the bridge comes back within its backoff (30 s at most), then the kiosk's resends go through
        assert chain.wait_for(lambda: len(chain.journal_ids(work)) == count, 120), kiosk.tail()
        created = chain.journal_ids(work)
        chain.wait_for(lambda: set(created) <= set(chain.stored_ids(db_url)), timeout, interval=0.25)
        drained_s = time.monotonic() - back
        if stored_once is not None:
            stored_once(work, db_url, count, collector, timeout=timeout)
        stored = chain.stored_ids(db_url)
        return {"created": len(created), "stored": len(set(stored) & set(created)),
                "doubled": chain.rollup_total(db_url) - len(set(stored)), "cut_s": cut_s,
                "drained_after_link_s": round(drained_s, 1), "hung_broker_restarts": len(restarts)}
    finally:
        stop_health.set()
        for p in (kiosk, collector):
            p.stop()
        down.stop()
        up.stop()
        link.close()
