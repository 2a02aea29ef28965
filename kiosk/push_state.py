"""What a kiosk remembers about pushed configs, kept on disk beside kiosk.yaml (``kiosk.yaml.push-state.json``)
so that a restart, a power cut or a roll-back forgets none of it:

- ``mark``: the newest signing time of a config this kiosk ran, applied or refused after its signature
  was checked (with that config's hash). A config signed at or before it is refused: a replayed older
  config can never bring the kiosk back to old settings. Only a config signed by the fleet key moves it.
- ``refused``: hashes of fleet-signed configs refused or rolled back; they are never taken again.
- ``noise``: fingerprints of messages refused before any signature was checked (garbage, a wrong key),
  only so a retained one is reported once. Kept apart from ``refused``, so a flood of garbage cannot push
  a rolled-back config out of that list.
- ``pending``: a config applied but not yet confirmed by a connection made with it; ``error``: the last
  refusal, which the status message carries.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

REFUSED_KEEP = 200  # fleet-signed configs only: a province pushes a device a few a month
NOISE_KEEP = 20


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class PushState:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        refused = [x for x in data.get("refused", []) if isinstance(x, str)]
        # Files written before the two lists were kept apart hold fingerprints ("p:...") among the hashes.
        self.refused: list[str] = [x for x in refused if not x.startswith("p:")]
        self.noise: list[str] = [x for x in data.get("noise", []) if isinstance(x, str)] + \
            [x for x in refused if x.startswith("p:")]
        mark = data.get("mark")
        self.mark: Optional[dict] = mark if isinstance(mark, dict) and isinstance(mark.get("ts"), str) else None
        self.pending: Optional[dict] = data.get("pending")
        self.error: Optional[str] = data.get("error")

    def save(self) -> None:
        data = {"mark": self.mark, "refused": self.refused[-REFUSED_KEEP:], "noise": self.noise[-NOISE_KEEP:],
                "pending": self.pending, "error": self.error}
        write_atomic(self.path, json.dumps(data).encode("utf-8"))

    # ------------------------------------------------------------ the replay mark
    def stale(self, signed_ts: str) -> bool:
        """Signed at or before the newest config this kiosk ran or refused (RFC 3339 UTC strings with
        the same format compare as times)."""
        return self.mark is not None and signed_ts <= self.mark["ts"]

    def raise_mark(self, signed_ts: str, config_hash: str) -> bool:
        """Move the mark forward to a fleet-signed config; True when it moved."""
        if self.mark is None or signed_ts > self.mark["ts"]:
            self.mark = {"ts": signed_ts, "hash": config_hash}
            return True
        return False

    # ------------------------------------------------------------ refusals
    def refuse(self, config_hash: str) -> None:
        if config_hash not in self.refused:
            self.refused = (self.refused + [config_hash])[-REFUSED_KEEP:]

    def note_noise(self, fingerprint: str) -> None:
        if fingerprint not in self.noise:
            self.noise = (self.noise + [fingerprint])[-NOISE_KEEP:]
