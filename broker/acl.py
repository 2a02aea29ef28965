"""The Mosquitto ACL: one explicit ``user`` block per account, so a reader sees who may do what."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Account:
    username: str
    kind: str  # "device", "collector" or "bridge"
    site: str | None = None
    device: str | None = None


def rules(account: Account, prefix: str) -> list[str]:
    if account.kind == "device":
        # A kiosk writes only its own two topics: it cannot speak for another counter.
        base = f"{prefix}/{account.site}/{account.device}"
        return [f"topic write {base}/rating", f"topic write {base}/status"]
    if account.kind == "collector":
        # Read everything under the prefix; Mosquitto checks a $share/<group>/<filter>
        # subscription against <filter>, so this also covers shared subscriptions.
        return [f"topic read {prefix}/#"]
    if account.kind == "bridge":
        # A commune broker forwarding its kiosks: write everything under the prefix, read nothing.
        return [f"topic write {prefix}/#"]
    raise ValueError(f"unknown account kind {account.kind!r}")


def render(accounts: list[Account], prefix: str) -> str:
    out = ["# Written by `python -m broker`; edit the accounts with add-device/remove-device, not here.",
           "# No rules before the first `user` line: anonymous clients get nothing (and are refused anyway).", ""]
    for acc in sorted(accounts, key=lambda a: a.username):
        label = f"{acc.kind} {acc.site}/{acc.device}" if acc.kind == "device" else acc.kind
        out += [f"# {label}", f"user {acc.username}", *rules(acc, prefix), ""]
    return "\n".join(out)
