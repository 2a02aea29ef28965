"""The small state file in the broker folder: settings from init and every account.

The password file and the ACL are always regenerated from it, so add/remove are idempotent
and a hand edit of either file cannot drift from what the tooling believes.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import SetupError
from .files import write_file

STATE_FILE = "state.json"


@dataclass
class Settings:
    topic_prefix: str
    hostnames: list[str]
    tls_port: int | None
    local_port: int | None
    tls_bind: str
    local_bind: str
    require_client_cert: bool
    cert_days: int
    run_as: str | None  # the `user` line of mosquitto.conf when started as root


@dataclass
class AccountRecord:
    kind: str  # device | collector | bridge | desk | fleet | admin (see broker/acl.py)
    hash: str
    site: str | None = None
    device: str | None = None
    client_cert: bool = False


@dataclass
class State:
    settings: Settings
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    # Topics whose retained messages must still be cleared on the broker (a device removed while
    # Mosquitto was down); cleared by the next change made while it runs, or by `run`.
    retained_to_clear: list[str] = field(default_factory=list)
    # Serial numbers (hex) of client certificates replaced or revoked: written to certs/crl.pem.
    revoked_serials: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"version": 1, "settings": asdict(self.settings),
                           "accounts": {k: asdict(v) for k, v in sorted(self.accounts.items())},
                           "retained_to_clear": self.retained_to_clear,
                           "revoked_serials": self.revoked_serials}, indent=2) + "\n"


def load_state(folder: Path) -> State:
    path = Path(folder) / STATE_FILE
    if not path.exists():
        raise SetupError(f"{folder} is not a broker folder (no {STATE_FILE}); run `python -m broker init --dir {folder}` first")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return State(Settings(**raw["settings"]),
                     {k: AccountRecord(**v) for k, v in raw.get("accounts", {}).items()},
                     list(raw.get("retained_to_clear", [])), list(raw.get("revoked_serials", [])))
    except (ValueError, KeyError, TypeError) as exc:
        raise SetupError(f"{path} is damaged ({exc}); restore it from a backup or run init in a new folder") from None


def save_state(folder: Path, state: State) -> None:
    write_file(Path(folder) / STATE_FILE, state.to_json(), 0o600)  # holds password hashes
