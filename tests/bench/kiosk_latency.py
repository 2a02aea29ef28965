"""Kiosk numbers: touch to thank-you frame, cold start, memory, outbox commit. A script, not a test.

    python tests/bench/kiosk_latency.py [--taps 200] [--followup-qr] [--speaking]

``--followup-qr`` turns the thank-you QR on (followup_qr in kiosk.yaml): each tap then also makes a token
and draws its QR before the thank-you frame. ``--speaking`` turns speech and the speaking mode on (voice and
voice.speaking in kiosk.yaml, clips built with espeak-ng first): the app rates once in the speaking mode
(intro, faces and thank-you spoken), then each tap also plays the spoken thank-you (SDL's dummy audio
driver when the machine has no sound card).

Runs the real app in a real window (under xvfb-run when no display is set), taps faces with real
touch events and times each from touch_down to the first frame drawn after the switch to thank-you,
which includes the durable outbox commit. Cold start (process start to the first frame with the
faces) is the median of three starts after a warm-up start.

Memory is also measured for a bare Kivy window of the same size showing one label, under the same
renderer, so the figure can be split into what any Kivy window costs here (under Xvfb that is Mesa's
software renderer, llvmpipe, which a device with a GPU does not load) and what the kiosk adds.
The last line is
RESULT tap_p50_ms=.. tap_p95_ms=.. cold_start_s=.. rss_mb=.. outbox_commit_p99_ms=..
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """kind: kiosk
site: bench-site
device: quay-01
broker: {host: 127.0.0.1, port: 9}   # nothing listens: an offline kiosk, the uplink keeps retrying
followup: {enabled: false}
repeat_window_s: 0
timeouts: {thank_you_s: 1}
outbox: {path: outbox.db}
"""
SPEAKING_CONFIG = "voice: {enabled: true, speaking: {enabled: true}}\n"
QR_CONFIG = 'followup_qr: {enabled: true, base_url: "https://gopy.example.gov.vn", seconds: 3}\n'


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def rss_parts_mb() -> dict:
    """VmRSS split into anonymous memory (the app's own) and file-backed pages (shared libraries,
    e.g. Mesa's LLVM software renderer under Xvfb, which a Pi's GPU driver does not load)."""
    with open("/proc/self/status") as f:
        fields = {ln.split(":")[0]: int(ln.split()[1]) / 1024 for ln in f if ln.startswith(("RssAnon", "RssFile", "RssShmem"))}
    return fields


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1]) / 1024


def child_result(stdout: str) -> dict | None:
    """The JSON a child process printed on its ``CHILD`` line, or None if it printed none."""
    line = next((x for x in stdout.splitlines() if x.startswith("CHILD ")), None)
    return json.loads(line[6:]) if line else None


def parts_text(parts: dict) -> str:
    return ", ".join(f"{k} {v:.0f} MB" for k, v in parts.items())


def bare_child() -> None:
    """A bare Kivy window (one label, the kiosk's window settings): the renderer's share of memory."""
    sys.path.insert(0, str(ROOT))
    from kiosk.display import configure

    configure((1280, 800))
    from kivy.app import App
    from kivy.clock import Clock
    from kivy.uix.label import Label

    class Bare(App):
        def build(self):
            def done(_dt):
                print("CHILD " + json.dumps({"rss_mb": rss_mb(), "rss_parts": rss_parts_mb()}), flush=True)
                self.stop()
            Clock.schedule_once(done, 1.5)
            return Label(text="Cảm ơn quý khách", font_size=80)

    Bare().run()


def child(taps: int, start_wall: float) -> None:
    sys.path.insert(0, str(ROOT))
    from kiosk.display import configure

    configure((1280, 800))
    from kivy.clock import Clock
    from kivy.core.window import Window
    from kivy.tests.common import UnitTestTouch

    from config import load
    from kiosk.app import KioskApp

    cfg = load("kiosk.yaml")
    app = KioskApp(cfg, "kiosk.yaml", "outbox.db")
    commits: list[float] = []
    add = app.outbox.add

    def timed_add(*a, **kw):
        t = time.perf_counter()
        try:
            return add(*a, **kw)
        finally:
            commits.append((time.perf_counter() - t) * 1000)

    app.outbox.add = timed_add
    out: dict = {"lat": []}
    faces: list = []

    def first_frame(*_):
        Window.unbind(on_flip=first_frame)
        out["cold_start_s"] = time.time() - start_wall
        out["rss_start_mb"] = rss_mb()
        faces.extend(sorted(app.sm.get_screen("rating").ids.faces.children, key=lambda b: b.rating))
        if app.flow.speaking_on:  # one rating in the speaking mode: its code and clips are loaded
            now = time.monotonic()
            app.flow.speak_on(now)
            app.flow.move(1, now)
            app.flow.move(1, now)
            assert app.flow.choose(now) is not None and app.played, "the speaking mode did not rate or speak"
            Clock.schedule_once(lambda _dt: app.flow.tick(time.monotonic() + app.flow.thanks_s), 0.1)
        Clock.schedule_once(tap, 0.2)

    def tap(_dt):
        if len(out["lat"]) >= taps:
            out["rss_mb"] = rss_mb()
            out["rss_parts"] = rss_parts_mb()
            out["commit_p99_ms"] = pct(commits, 99)
            out["outbox_rows"] = app.outbox.depth()
            app.stop()
            return
        if app.sm.transition.is_active:  # the screen manager ignores touches until the switch is done
            Clock.schedule_once(tap, 0.01)
            return
        face = faces[len(out["lat"]) % len(faces)]
        x, y = face.to_window(*face.center)
        t0 = time.perf_counter()

        def drawn(*_):
            Window.unbind(on_flip=drawn)
            out["lat"].append((time.perf_counter() - t0) * 1000)
            assert app.sm.current == "thanks", app.sm.current
            if len(out["lat"]) % 50 == 0:
                print(f"bench: {len(out['lat'])}/{taps} taps, last {out['lat'][-1]:.1f} ms", flush=True)
            # the thank-you timeout, driven by an explicit time instead of waiting a second per tap
            Clock.schedule_once(lambda _dt: app.flow.tick(time.monotonic() + app.flow.thanks_s), 0.02)
            Clock.schedule_once(tap, 0.06)

        t = UnitTestTouch(x, y)
        t.touch_down()
        Window.bind(on_flip=drawn)  # bound after the switch: the next frame is the thank-you screen
        t.touch_up()

    Window.bind(on_flip=first_frame)
    app.run()
    print("CHILD " + json.dumps(out), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--taps", type=int, default=200)
    ap.add_argument("--followup-qr", action="store_true", help="with the thank-you QR on")
    ap.add_argument("--speaking", action="store_true", help="with speech and the speaking mode on")
    ap.add_argument("--child", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--bare-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare_child:
        bare_child()
        return 0
    if args.child is not None:
        child(args.taps, args.child)
        return 0
    if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
        return subprocess.call(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, __file__,
                                "--taps", str(args.taps), *(["--followup-qr"] if args.followup_qr else []),
                                *(["--speaking"] if args.speaking else [])])
    work = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    (work / "kiosk.yaml").write_text(CONFIG + (QR_CONFIG if args.followup_qr else "")
                                     + (SPEAKING_CONFIG if args.speaking else ""), encoding="utf-8")
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KCFG_KIVY_LOG_LEVEL": "warning", "KIVY_HOME": str(work / "kivy"),
           "PYTHONPATH": str(ROOT)}
    if args.speaking:
        subprocess.run([sys.executable, "-m", "kiosk", "voice", "build", "--config", "kiosk.yaml"], cwd=work,
                       env=env, check=True, timeout=300)
        if not Path("/dev/snd").exists():
            env["SDL_AUDIODRIVER"] = "dummy"
    if not env.get("DISPLAY"):
        env["SDL_VIDEODRIVER"] = "offscreen"
    # one warm-up start so Kivy's first-run config and the OS file cache do not count as cold start
    subprocess.run([sys.executable, __file__, "--taps", "1", "--child", str(time.time())], cwd=work, env=env,
                   capture_output=True, timeout=120)
    colds = []
    for i in range(2):  # extra cold starts: one start is a noisy figure on a shared machine
        (work / "outbox.db").unlink(missing_ok=True)
        out = subprocess.run([sys.executable, __file__, "--taps", "1", "--child", str(time.time())], cwd=work,
                             env=env, capture_output=True, text=True, timeout=120)
        started = child_result(out.stdout)
        if started:
            colds.append(started["cold_start_s"])
            print(f"bench: cold start {colds[-1]:.2f} s", flush=True)
    out = subprocess.run([sys.executable, __file__, "--bare-child"], cwd=work, env=env, capture_output=True,
                         text=True, timeout=120)
    bare = child_result(out.stdout)
    (work / "outbox.db").unlink(missing_ok=True)
    print(f"bench: starting the kiosk app in {work}, {args.taps} taps", flush=True)
    p = subprocess.Popen([sys.executable, __file__, "--taps", str(args.taps), "--child", str(time.time())],
                         cwd=work, env=env, stdout=subprocess.PIPE, text=True)
    result = None
    for line in p.stdout:
        if line.startswith("CHILD "):
            result = json.loads(line[6:])
        else:
            print(line, end="", flush=True)
    p.wait()
    if p.returncode != 0 or result is None or len(result["lat"]) < args.taps:
        print(f"bench: the app failed (exit {p.returncode})", file=sys.stderr)
        return 1
    lat = result["lat"]
    colds.append(result["cold_start_s"])
    print(f"bench: cold start {colds[-1]:.2f} s")
    print(f"bench: outbox holds {result['outbox_rows']} rows (offline kiosk), max tap {max(lat):.1f} ms, "
          f"RSS at first frame {result['rss_start_mb']:.0f} MB")
    parts = result.get("rss_parts", {})
    print("bench: RSS at the end: " + parts_text(parts))
    if bare:
        print(f"bench: a bare Kivy window with one label, same size and renderer: {bare['rss_mb']:.0f} MB ("
              f"{parts_text(bare['rss_parts'])}); the kiosk adds {result['rss_mb'] - bare['rss_mb']:.0f} MB")
    else:
        print(f"bench: the bare Kivy window did not start (exit {out.returncode}): {out.stderr[-500:]}")
    shutil.rmtree(work, ignore_errors=True)
    print(f"RESULT tap_p50_ms={pct(lat, 50):.1f} tap_p95_ms={pct(lat, 95):.1f} "
          f"cold_start_s={pct(colds, 50):.2f} rss_mb={result['rss_mb']:.0f} "
          f"outbox_commit_p99_ms={result['commit_p99_ms']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
