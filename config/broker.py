"""broker.yaml: what ``python -m broker init`` writes for Mosquitto."""
from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, model_validator

from .common import ConfigPath, Port, Secret, Strict, _check_prefix
from .contract_types import DEFAULT_PREFIX, MAX_CONFIG_PAYLOAD_BYTES


class TlsListener(Strict):
    port: Port = 8883
    bind: str = "0.0.0.0"
    require_client_cert: bool = Field(False, description="also demand a client certificate from each device")


class LocalListener(Strict):
    port: Port = 1883
    bind: Literal["127.0.0.1", "::1", "localhost"] = Field("127.0.0.1", description="loopback only")


class Listeners(Strict):
    tls: Optional[TlsListener] = Field(default_factory=TlsListener)
    local: Optional[LocalListener] = None

    @model_validator(mode="after")
    def _one(self) -> "Listeners":
        if self.tls is None and self.local is None:
            raise ValueError("at least one listener (tls or local) is needed")
        return self


def _takes_configs(value: int) -> int:
    # A pushed config is the biggest message of the contract; a broker that refuses it makes every push of a
    # big ward (dozens of officers with PIN hashes) fail, and over MQTT 3.1.1 it even says PUBACK and drops it.
    if value < MAX_CONFIG_PAYLOAD_BYTES:
        raise ValueError(f"{value} nhỏ hơn cấu hình đẩy lớn nhất / is below the largest pushed config the wire "
                         f"contract allows ({MAX_CONFIG_PAYLOAD_BYTES} bytes); use at least {MAX_CONFIG_PAYLOAD_BYTES}")
    return value


class Limits(Strict):
    # The largest payload the broker takes (Mosquitto's message_size_limit): ratings, statuses and events are
    # at most 4 KiB, a pushed config (a whole kiosk.yaml, signed) at most 64 KiB.
    message_size_limit: Annotated[int, Field(le=268435455), AfterValidator(_takes_configs)] = MAX_CONFIG_PAYLOAD_BYTES
    max_queued_messages: Annotated[int, Field(ge=0, description="0 means unlimited (bounded by max_queued_bytes)")] = 0
    max_queued_bytes: Annotated[int, Field(ge=0)] = 1024 * 1024 * 1024
    max_inflight_messages: Annotated[int, Field(ge=0, le=65535)] = 100
    persistent_client_expiration: str = Field("30d", pattern=r"^\d+[hdwmy]$")


class Bridge(Strict):
    """A commune broker forwarding its kiosks' topics to the provincial broker."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    remote_host: str
    remote_port: Port = 8883
    ca: Optional[ConfigPath] = None
    username: Optional[str] = None
    password: Optional[Secret] = None
    qos: Literal[1, 2] = 1
    sites: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]] = Field(
        default_factory=list, description="only these sites' kiosks (as the remote account's --sites); empty: all")


class BrokerConfig(Strict):
    kind: Literal["broker"] = "broker"
    topic_prefix: Annotated[str, AfterValidator(_check_prefix)] = DEFAULT_PREFIX
    hostnames: list[str] = Field(default_factory=lambda: ["localhost", "127.0.0.1"], min_length=1,
                                 description="names and addresses kiosks use to reach the broker (in the certificate)")
    listeners: Listeners = Field(default_factory=Listeners)
    limits: Limits = Field(default_factory=Limits)
    persistence: bool = True
    cert_days: Annotated[int, Field(ge=1, le=3650)] = 825
    bridges: list[Bridge] = Field(default_factory=list)
