"""``python -m kiosk request``: the officer's PC or the queue system asks a counter's kiosk to rate now.

It publishes one wire contract v2 ``request`` on ``<prefix>/<site>/<device>/request`` (QoS 1, not
retained) with the centre's desk account, and waits for the broker's PUBACK. The same payload can be
sent by any queue system (see the README's integration section); the kiosk attaches its dossier and
ticket to the next rating, or records ``request_expired`` when nobody answers in ``expires_s``.
"""
from __future__ import annotations

import time
from typing import Literal, Optional

from pydantic import Field

from broker.contract import Request, encode, new_event_id, request_topic, utcnow
from config.common import BrokerConnection, Strict


class DeskSettings(Strict):
    """desk.yaml on the officer's PC: how the centre's desk account reaches the broker."""

    kind: Literal["desk"] = "desk"
    broker: BrokerConnection = Field(default_factory=BrokerConnection)


def build_request(site: str, device: str, *, dossier: Optional[str] = None, ticket: Optional[str] = None,
                  service: Optional[str] = None, officer: Optional[str] = None, expires_s: int = 600) -> Request:
    return Request(id=new_event_id(), site=site, device=device, ts=utcnow(), dossier=dossier, ticket=ticket,
                   service=service, officer=officer, expires_s=expires_s)


def send_request(request: Request, conn: BrokerConnection, timeout_s: float = 10.0) -> None:
    """Publish at QoS 1 and wait for the PUBACK; raises ConnectionError with the broker's answer."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from broker.mqtt_client import apply_connection, protocol_of

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=conn.client_id or "", protocol=protocol_of(conn))
    apply_connection(client, conn)
    state: dict = {"connected": None, "acked": None}

    def on_connect(_c, _u, _f, reason_code, _p):
        state["connected"] = not reason_code.is_failure
        state["why"] = str(reason_code)

    def on_publish(_c, _u, _mid, reason_code, _p):
        state["acked"] = not reason_code.is_failure
        state["why"] = str(reason_code)

    client.on_connect, client.on_publish = on_connect, on_publish
    client.connect(conn.host, conn.port, keepalive=conn.keepalive_s)
    deadline = time.monotonic() + timeout_s
    while state["connected"] is None and time.monotonic() < deadline:
        client.loop(0.1)
    if not state["connected"]:
        raise ConnectionError(f"broker {conn.host}:{conn.port} refused the desk account: {state.get('why', 'no answer')}")
    client.publish(request_topic(request.site, request.device, conn.topic_prefix), encode(request), qos=1)
    while state["acked"] is None and time.monotonic() < deadline:
        if client.loop(0.1) != mqtt.MQTT_ERR_SUCCESS:
            break
    client.disconnect()
    if not state["acked"]:
        raise ConnectionError(f"the broker did not accept the request ({state.get('why', 'no PUBACK')}); "
                              f"may this desk account send to {request.site}?")
