"""Wrong officer PINs are counted per officer in the kiosk's data folder: a kiosk killed mid-way (a power
cut) or rebooted gives nobody fresh tries, and guesses at one officer lock out only that officer.
Each step is a separate real process, killed with SIGKILL as a power cut would, on the same files."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# One kiosk process: its duty as the app builds it (lockout file beside the outbox, this boot), tries each
# officer:PIN of argv, prints the answers and the lockouts left, then dies by SIGKILL.
STEP = """
import json, os, signal, sys, time
from kiosk.clock import read_boot_id
from kiosk.duty import Duty, Officer
from kiosk import pin_lockout
officers = {k: Officer(k, k, h) for k, h in json.loads(os.environ["HASHES"]).items()}
duty = Duty(officers, lockout_s=300, lockout=pin_lockout.beside_outbox(sys.argv[1], 300, read_boot_id()))
answers = [duty.try_pin(*pair.split(":"), now=time.monotonic()) for pair in sys.argv[2:]]
left = {k: round(duty.locked(time.monotonic(), k)) for k in officers}
print(json.dumps({"answers": answers, "left": left}), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def step(outbox: Path, boot_file: Path, hashes: dict, *tries: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HAILONG_BOOT_ID_FILE": str(boot_file), "HASHES": json.dumps(hashes)}
    out = subprocess.run([sys.executable, "-c", STEP, str(outbox), *tries], cwd=outbox.parent, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == -9, out.stderr  # killed, not closed: nothing was saved at exit
    return json.loads(out.stdout)


def test_wrong_pins_outlive_a_power_cut_and_lock_out_only_the_guessed_officer(tmp_path):
    from config.pins import hash_pin

    hashes = {"an": hash_pin("246810", log2_n=10), "binh": hash_pin("135790", log2_n=10)}
    outbox = tmp_path / "outbox.db"
    boot = tmp_path / "boot_id"
    boot.write_text("2f0c8c51-6d0e-4a55-9a63-4f1f4c2a0001\n", encoding="ascii")
    first = step(outbox, boot, hashes, *["an:000000"] * 4)
    assert first["answers"] == ["wrong"] * 4 and first["left"] == {"an": 0, "binh": 0}
    assert (tmp_path / "outbox.pin-lockout.json").is_file()
    # the kiosk comes back (same boot): the fifth wrong PIN locks "an", and only "an"
    second = step(outbox, boot, hashes, "an:000000", "an:246810", "binh:135790")
    assert second["answers"] == ["locked", "locked", "ok"]
    assert second["left"]["an"] > 290 and second["left"]["binh"] == 0
    # switched off and on (a new boot): still locked, for the lockout's whole length
    boot.write_text("2f0c8c51-6d0e-4a55-9a63-4f1f4c2a0002\n", encoding="ascii")
    third = step(outbox, boot, hashes, "an:246810", "binh:000000")
    assert third["answers"] == ["locked", "wrong"] and third["left"]["an"] == 300
