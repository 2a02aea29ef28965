"""Render mosquitto.conf for one broker folder."""
from __future__ import annotations

from pathlib import Path

from config.broker import Limits

from .control import SOCKET
from .dynsec import DYNSEC_FILE
from .errors import SetupError
from .state import Settings

# Every listener: the client id is the account's user name, so no account can take over another
# account's session (a kiosk connecting with the collector's client id would destroy its queue).
BIND_CLIENT_ID = "use_username_as_clientid true"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux


def render(folder: Path, s: Settings, limits: Limits, persistence: bool, plugin: Path) -> str:
    d = Path(folder).resolve()
    sock = d / SOCKET
    if len(str(sock)) > MAX_SOCKET_PATH:
        raise SetupError(f"the broker folder's path is too long for its control socket {sock}; "
                         f"use a shorter folder such as /etc/hailong-broker")
    lines = ["# Written by `python -m broker init`; run init again rather than editing by hand.", ""]
    if s.run_as:
        # Started as root, Mosquitto 2.0 switches to this user before serving.
        lines += [f"user {s.run_as}", ""]
    lines += [
        "# Every client logs in. Accounts and their rights (publish, receive AND subscribe) live in the",
        "# dynamic-security plugin's file, written from state.json; add-device/remove-device also change",
        "# a running broker through the control socket below.",
        "per_listener_settings false",
        "allow_anonymous false",
        f"plugin {plugin}",
        f"plugin_opt_config_file {d / DYNSEC_FILE}",
        "",
        "# Queued QoS 1 messages and persistent sessions survive a restart.",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {d / 'data'}/",
        "autosave_interval 60",
        f"persistent_client_expiration {limits.persistent_client_expiration}",
        "",
        "# max_queued_messages 0 = never drop what an offline collector has not received yet;",
        "# max_queued_bytes is the guard instead. message_size_limit: the largest payload, a pushed config",
        "# (a whole kiosk.yaml, at most 64 KiB by the wire contract); ratings and statuses are at most 4 KiB.",
        f"message_size_limit {limits.message_size_limit}",
        f"max_queued_messages {limits.max_queued_messages}",
        f"max_queued_bytes {limits.max_queued_bytes}",
        f"max_inflight_messages {limits.max_inflight_messages}",
        "",
        "log_dest stdout",
        "log_type error", "log_type warning", "log_type notice", "log_type information",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "",
    ]
    if s.tls_port:
        lines += [
            f"listener {s.tls_port} {s.tls_bind}",
            f"cafile {d / 'certs' / 'ca.crt'}",
            f"certfile {d / 'certs' / 'server.crt'}",
            f"keyfile {d / 'certs' / 'server.key'}",
            f"require_certificate {'true' if s.require_client_cert else 'false'}",
        ]
        if s.require_client_cert:
            # The certificate IS the account: its common name is the user name, whatever user name
            # and password the client sends, so one device's certificate cannot open another's account.
            lines.append("use_identity_as_username true")
            # Replaced and removed devices' certificates; re-read on SIGHUP (`run` records the pid).
            lines.append(f"crlfile {d / 'certs' / 'crl.pem'}")
        lines += [BIND_CLIENT_ID, ""]
    if s.local_port:
        lines += ["# plain MQTT for tools on this machine only", f"listener {s.local_port} {s.local_bind}",
                  BIND_CLIENT_ID, ""]
    # No use_username_as_clientid here: the admin account is pinned to its own client id, which the
    # network listeners (they force client id = user name) can never present.
    lines += ["# the set-up tooling's control socket (admin account only; data/ is private to the broker)",
              f"listener 0 {sock}", ""]
    lines += ["# bridges to other brokers (python -m broker bridge)", f"include_dir {d / 'conf.d'}", ""]
    return "\n".join(lines)
