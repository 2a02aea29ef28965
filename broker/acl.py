"""Who may do what: the topic rules of each kind of account, checked by Mosquitto's dynamic-security plugin.

Every right is granted explicitly; the plugin refuses anything not listed (publishing, receiving,
SUBSCRIBING). Subscribing is checked on the filter the client sends, so a kiosk cannot join the
collectors' ``$share/<group>/...`` subscription and take its share of the ratings, as it could
with Mosquitto's ``acl_file``, which never checks SUBSCRIBE.
"""
from __future__ import annotations

from dataclasses import dataclass

# The plugin's ACL types.
PUBLISH = "publishClientSend"        # the client publishes to the broker
RECEIVE = "publishClientReceive"     # the broker delivers a message to the client
SUBSCRIBE = "subscribePattern"       # the filter a client subscribes with, wildcards matched level by level

KINDS = ("device", "collector", "bridge", "desk", "fleet", "admin")
COLLECTED = ("rating", "status", "event")  # what kiosks send and collectors read
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
# The admin account's client id. Network listeners force the client id to the user name
# (use_username_as_clientid), so there the plugin refuses the admin; only the control socket, which
# does not, lets it in with this id.
ADMIN_CLIENT_ID = "broker-admin.socket"


@dataclass(frozen=True)
class Account:
    username: str
    kind: str  # one of KINDS
    site: str | None = None
    device: str | None = None


@dataclass(frozen=True)
class Rule:
    acltype: str
    topic: str


def _read(flt: str) -> list[Rule]:
    return [Rule(SUBSCRIBE, flt), Rule(RECEIVE, flt)]


def rules(account: Account, prefix: str) -> list[Rule]:
    kind = account.kind
    if kind == "device":
        # A kiosk speaks only for its own counter, and listens only to what is addressed to it.
        # Its receipts come only from collector accounts: nobody else may say a rating is stored.
        base = f"{prefix}/{account.site}/{account.device}"
        return ([Rule(PUBLISH, f"{base}/{k}") for k in COLLECTED]
                + _read(f"{base}/request") + _read(f"{base}/config") + _read(f"{base}/receipt")
                + _read(f"{prefix}/time"))
    if kind == "collector":
        # Plain or shared subscriptions to what kiosks send; it publishes only the time (its clock is
        # kept by NTP at the centre), so kiosks without NTP can tell how far off theirs is. It reads the
        # retained configs (plainly, never shared) to show each kiosk's desired config beside the
        # applied one; it cannot publish one. After each commit it tells each kiosk what is stored
        # (receipts): the only account kind that may.
        out: list[Rule] = [Rule(PUBLISH, f"{prefix}/time"), Rule(PUBLISH, f"{prefix}/+/+/receipt")]
        for k in COLLECTED:
            flt = f"{prefix}/+/+/{k}"
            out += [Rule(SUBSCRIBE, flt), Rule(SUBSCRIBE, f"$share/+/{flt}"), Rule(RECEIVE, flt)]
        return out + _read(f"{prefix}/+/+/config")
    if kind == "bridge":
        # A commune broker's bridge carries what kiosks send up and the collectors' receipts and time
        # down: nothing else. It may not publish a config, a request or a receipt. Given its sites
        # (add-bridge-user --sites), only those communes' topics.
        out = []
        for site in bridge_sites(account):
            out += [Rule(PUBLISH, f"{prefix}/{site}/+/{k}") for k in COLLECTED] + _read(f"{prefix}/{site}/+/receipt")
        return out + _read(f"{prefix}/time")
    if kind == "desk":
        # A desk or queue system asks the kiosks of its own site to rate the citizen just served.
        return [Rule(PUBLISH, f"{prefix}/{account.site}/+/request")]
    if kind == "fleet":
        # The fleet tool sends (retained) signed configuration and watches the devices' status.
        return [Rule(PUBLISH, f"{prefix}/+/+/config"), *_read(f"{prefix}/+/+/status")]
    if kind == "admin":
        # The set-up tooling itself: changes accounts on a running broker and clears retained
        # messages of removed devices. It connects only through the broker folder's local socket.
        return [Rule(PUBLISH, CONTROL_TOPIC), *_read(f"{CONTROL_TOPIC}/response"),
                Rule(PUBLISH, f"{prefix}/#"), *_read(f"{prefix}/#")]
    raise ValueError(f"unknown account kind {kind!r}")


def bridge_sites(account: Account) -> list[str]:
    """The sites a bridge account speaks for (kept comma-separated in its site field); every site: ['+']."""
    return [s for s in (account.site or "").split(",") if s] or ["+"]


def describe(account: Account, prefix: str) -> str:
    """One readable line per rule, for `list --rules` and the docs."""
    words = {PUBLISH: "publish", RECEIVE: "receive", SUBSCRIBE: "subscribe"}
    return "\n".join(f"{words[r.acltype]:<9} {r.topic}" for r in rules(account, prefix))
