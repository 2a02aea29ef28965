"""The whole chain on one machine: broker, collector on SQLite, dashboard, and kiosks.

    make demo                      # or: .venv/bin/python scripts/demo.py
    scripts/demo.py --headless --duration 30

Uses Mosquitto when it is installed, else the embedded broker (for trying things out only). Opens a
kiosk window when a display exists, otherwise a few simulated kiosks tap. Ctrl-C stops everything.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.servers import Mosquitto, free_port, wait_port  # noqa: E402

PY = sys.executable
DEMO_PASSWORD = "demo-hailong"
DEMO_PIN = "1234"
SITES = [("ubnd-xa-tan-lap", "quay-01"), ("ubnd-xa-tan-lap", "quay-02"), ("ubnd-phuong-dong-kinh", "quay-01")]


def write_configs(work: Path, broker_port: int, protocol: str, dash_port: int) -> tuple[Path, list[Path]]:
    collector = work / "collector.yaml"
    collector.write_text(f"""kind: collector
broker: {{host: 127.0.0.1, port: {broker_port}, protocol: "{protocol}", client_id: demo-collector, username: demo-collector}}
database: {{url: "sqlite:///{work / 'ratings.db'}"}}
batch: {{max_size: 500, max_wait_ms: 100}}
sites:
  - slug: lang-son
    name: "Tỉnh Lạng Sơn"
    communes:
      - slug: xa-tan-lap
        name: "Xã Tân Lập"
        centres:
          - site: ubnd-xa-tan-lap
            name: "Bộ phận một cửa xã Tân Lập"
            counters:
              - {{device: quay-01, name: "Quầy 1 - Hộ tịch"}}
              - {{device: quay-02, name: "Quầy 2 - Đất đai"}}
      - slug: phuong-dong-kinh
        name: "Phường Đông Kinh"
        centres:
          - site: ubnd-phuong-dong-kinh
            name: "Bộ phận một cửa phường Đông Kinh"
            counters:
              - {{device: quay-01, name: "Quầy 1"}}
labels:
  reasons:
    waiting: {{vi: "Chờ đợi lâu", en: "Long waiting time"}}
    attitude: {{vi: "Thái độ chưa tốt", en: "Unfriendly staff"}}
    guidance: {{vi: "Hướng dẫn khó hiểu", en: "Unclear guidance"}}
  officers: {{nguyen-van-an: "Nguyễn Văn An"}}
  services: {{ho-tich: {{vi: "Hộ tịch", en: "Civil status"}}}}
dashboard: {{host: 127.0.0.1, port: {dash_port}, username: admin, password: {{env: HAILONG_DASHBOARD_PASSWORD}}, min_ratings: 5}}
log_interval_s: 5
""", encoding="utf-8")
    kiosks = []
    for site, device in SITES:
        k = work / f"kiosk-{site}-{device}.yaml"
        k.write_text(f"""kind: kiosk
site: {site}
device: {device}
broker: {{host: 127.0.0.1, port: {broker_port}, protocol: "{protocol}", username: {device}-{site}}}
followup:
  reasons:
    - {{key: waiting, texts: {{vi: "Chờ đợi lâu", en: "Long waiting time"}}}}
    - {{key: attitude, texts: {{vi: "Thái độ chưa tốt", en: "Unfriendly staff"}}}}
    - {{key: guidance, texts: {{vi: "Hướng dẫn khó hiểu", en: "Unclear guidance"}}}}
officer: nguyen-van-an
service: ho-tich
technician: {{pin: {{env: HAILONG_TECH_PIN}}}}
outbox: {{path: outbox-{site}-{device}.db}}
status_interval_s: 10
""", encoding="utf-8")
        kiosks.append(k)
    return collector, kiosks


def start_broker(work: Path, port: int, use_embedded: bool) -> tuple[subprocess.Popen, str, str]:
    mosquitto = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if mosquitto and not use_embedded:
        # the same loopback broker the tests use: persistence on, no limit on queued QoS 1 messages
        return Mosquitto(work / "broker", port=port).start().proc, "Mosquitto", "5"
    proc = subprocess.Popen([PY, "-m", "broker", "embedded", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=open(work / "broker.log", "ab"), stderr=subprocess.STDOUT, cwd=ROOT)
    return proc, "embedded broker (amqtt, for trying things out only)", "3.1.1"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the whole chain locally: broker, collector, dashboard, kiosks.")
    ap.add_argument("--dir", type=Path, default=ROOT / "var" / "demo", help="working folder (default var/demo)")
    ap.add_argument("--headless", action="store_true", help="simulated kiosks even when a display exists")
    ap.add_argument("--embedded", action="store_true", help="use the embedded broker even if Mosquitto is installed")
    ap.add_argument("--duration", type=float, default=0, help="stop after this many seconds (default: until Ctrl-C)")
    ap.add_argument("--rate", type=float, default=2.0, help="taps per second per simulated kiosk (default 2)")
    ap.add_argument("--count", type=int, default=100000, help="taps per simulated kiosk (default 100000)")
    ap.add_argument("--port", type=int, default=0, help="dashboard port (default 8080, or a free one if taken)")
    args = ap.parse_args(argv)

    work = args.dir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    broker_port = free_port()
    dash_port = args.port or (8080 if _port_free(8080) else free_port())
    env = {**os.environ, "HAILONG_DASHBOARD_PASSWORD": DEMO_PASSWORD, "HAILONG_TECH_PIN": DEMO_PIN,
           "PYTHONUNBUFFERED": "1"}
    procs: list[tuple[str, subprocess.Popen]] = []

    def stop_all(*_):
        for name, p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in reversed(procs):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        print("demo: stopped")

    def wait_log(path: Path, text: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if path.exists() and text in path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        print(f"demo: {path.name} does not say {text!r} yet; starting the kiosks anyway", flush=True)

    try:
        broker, broker_name, protocol = start_broker(work, broker_port, args.embedded)
        procs.append(("broker", broker))
        wait_port(broker_port, 20)
        collector_yaml, kiosk_yamls = write_configs(work, broker_port, protocol, dash_port)

        def spawn(name: str, *cmd: str) -> subprocess.Popen:
            log = open(work / f"{name}.log", "ab")
            p = subprocess.Popen([PY, *cmd], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
            procs.append((name, p))
            return p

        spawn("collector", "-m", "collector", "run", "--config", str(collector_yaml))
        spawn("dashboard", "-m", "collector", "serve", "--config", str(collector_yaml))
        # Kiosks come after the collector's subscription, as in the field: then the broker queues their
        # ratings for it, and the collector sees each kiosk's first status live, which places its
        # ratings on real time (a status it only finds retained says nothing about when it was sent).
        wait_log(work / "collector.log", "subscribed:", 30)
        window = bool(os.environ.get("DISPLAY")) and not args.headless
        if window:
            spawn("kiosk-window", "-m", "kiosk", "--config", str(kiosk_yamls[0]), "--windowed", "1280x800")
            sims = kiosk_yamls[1:]
        else:
            sims = kiosk_yamls
        for k in sims:
            spawn(f"sim-{k.stem}", "-m", "kiosk", "simulate", "--config", str(k), "--count", str(args.count),
                  "--rate", str(args.rate))
        wait_port(dash_port, 30)
        print(f"""
demo: running ({broker_name} on 127.0.0.1:{broker_port}; logs in {work})
  dashboard:  http://127.0.0.1:{dash_port}/   login admin / {DEMO_PASSWORD}
  kiosk:      {"a window (technician corner: hold top-left 3 s, PIN " + DEMO_PIN + ")" if window else "none on screen"}; {len(sims)} simulated kiosk(s) tapping
  report:     .venv/bin/python -m collector report --config {collector_yaml} --by site
  stop:       Ctrl-C
""", flush=True)
        deadline = time.monotonic() + args.duration if args.duration else None
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while deadline is None or time.monotonic() < deadline:
            for name, p in procs:
                if p.poll() is not None and not name.startswith(("sim-", "kiosk-window")):
                    print(f"demo: {name} exited with code {p.returncode}; see {work / (name + '.log')}",
                          file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop_all()
    return 0


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


if __name__ == "__main__":
    sys.exit(main())
