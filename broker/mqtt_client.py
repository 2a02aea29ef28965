"""Applying a configured broker connection (credentials, TLS) to a paho client: kiosk and collector alike."""
from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt

from config.common import BrokerConnection


def protocol_of(conn: BrokerConnection) -> int:
    return mqtt.MQTTv5 if conn.protocol == "5" else mqtt.MQTTv311


def apply_connection(client: mqtt.Client, conn: BrokerConnection) -> mqtt.Client:
    """Username, password (read from its file or variable now) and TLS from the YAML block."""
    if conn.username:
        client.username_pw_set(conn.username, conn.password.resolve() if conn.password else None)
    if conn.tls is not None:
        client.tls_set(ca_certs=str(conn.tls.ca), certfile=str(conn.tls.cert) if conn.tls.cert else None,
                       keyfile=str(conn.tls.key) if conn.tls.key else None, cert_reqs=ssl.CERT_REQUIRED)
        client.tls_insecure_set(conn.tls.insecure)
    return client
