"""Building blocks shared by every YAML file: strict models, paths, secrets, the broker connection."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from .contract_types import DEFAULT_PREFIX, SLUG_PATTERN, check_prefix, ContractError

Slug = Annotated[str, Field(pattern=SLUG_PATTERN, description="lower-case letters, digits and '-'")]
Key = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="lower-case key")]
# The five elements of the national satisfaction index SIPAS (Decision 1001/QĐ-BNV): access to the service,
# administrative procedures, the civil servants, the results, the handling of feedback.
SipasElement = Annotated[Literal["access", "procedure", "staff", "result", "feedback"], Field(
    description="SIPAS element: access, procedure, staff, result or feedback")]
LangCode = Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", description="language code like vi, en")]
Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    """Unknown keys are errors: a typo must not pass silently."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    value = Path(os.path.expanduser(str(value)))
    if not value.is_absolute() and base is not None:
        value = Path(base) / value
    return value


# A path in a YAML file is relative to the folder of that file.
ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]


def _check_tz(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use e.g. Asia/Ho_Chi_Minh") from None
    return name


TimeZone = Annotated[str, AfterValidator(_check_tz)]


class ReadFile:
    """Marks a path the program reads (a CA, a password file, a sound): ``python -m config check`` and the
    kiosk's start-up check that it exists and is readable. ``required=False``: the program runs without it."""

    def __init__(self, required: bool = True):
        self.required = required

    def __repr__(self) -> str:
        return f"ReadFile(required={self.required})"


InputFile = Annotated[Path, AfterValidator(_resolve_path), ReadFile()]
OptionalInputFile = Annotated[Path, AfterValidator(_resolve_path), ReadFile(required=False)]


class Secret(Strict):
    """A password kept out of the YAML: ``{file: PATH}`` or ``{env: NAME}``."""

    file: Optional[InputFile] = None
    env: Optional[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]] = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline(cls, data):
        if isinstance(data, (str, int, float)):
            raise ValueError("inline secrets are not allowed; write {file: PATH} or {env: VARIABLE}")
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> "Secret":
        if (self.file is None) == (self.env is None):
            raise ValueError("give exactly one of file: or env:")
        return self

    def resolve(self) -> str:
        """Read the secret now; raises ConfigError-friendly ValueError when absent."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise ValueError(f"environment variable {self.env} is not set")
            return value
        try:
            return Path(self.file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {self.file}: {exc.strerror}") from None


class Tls(Strict):
    ca: InputFile = Field(description="CA certificate that signed the broker's certificate")
    cert: Optional[InputFile] = Field(None, description="client certificate, when the broker asks for one")
    key: Optional[InputFile] = None
    insecure: bool = Field(False, description="skip host name check (never in production)")

    @model_validator(mode="after")
    def _cert_with_key(self) -> "Tls":
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together")
        return self


def _check_prefix(value: str) -> str:
    try:
        return check_prefix(value)
    except ContractError as exc:
        raise ValueError(exc.detail) from None


class BrokerConnection(Strict):
    """How a kiosk or collector reaches the MQTT broker."""

    host: str = "127.0.0.1"
    port: Port = 1883
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT version; 3.1.1 for brokers without MQTT 5")
    tls: Optional[Tls] = None
    username: Optional[str] = None
    password: Optional[Secret] = None
    client_id: Optional[Annotated[str, Field(min_length=1, max_length=64)]] = None
    keepalive_s: Annotated[int, Field(ge=5, le=3600)] = 30
    topic_prefix: Annotated[str, AfterValidator(_check_prefix)] = DEFAULT_PREFIX

    @model_validator(mode="before")
    @classmethod
    def _protocol_as_text(cls, data):
        # YAML reads `protocol: 5` as an int and `3.1.1` as a string; accept both spellings.
        if isinstance(data, dict) and isinstance(data.get("protocol"), (int, float)) and not isinstance(data.get("protocol"), bool):
            data = {**data, "protocol": {5: "5", 3.1: "3.1.1", 311: "3.1.1"}.get(data["protocol"], str(data["protocol"]))}
        return data

    @model_validator(mode="after")
    def _password_needs_user(self) -> "BrokerConnection":
        if self.password is not None and not self.username:
            raise ValueError("password given without username")
        return self
