"""What the wire contract (broker/contract.py) shares with the YAML checks of config/: the topic prefix, the
site and device slug, the largest config message and ContractError. Defined here, at the lowest layer, and
imported from here by broker.contract, so config/ needs nothing of broker/.
"""
from __future__ import annotations

import re

DEFAULT_PREFIX = "hailong/v1"
MAX_CONFIG_PAYLOAD_BYTES = 65536  # a config carries a whole kiosk.yaml
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
_SLUG_RE = re.compile(SLUG_PATTERN)
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")


class ContractError(ValueError):
    """A message that does not follow the contract. ``reason`` is short and machine-readable
    (``bad_json``, ``too_large``, ``bad_field:rating``, ``topic_mismatch``, ...)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def is_slug(value: object) -> bool:
    return isinstance(value, str) and _SLUG_RE.fullmatch(value) is not None


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
        raise ContractError("bad_prefix", f"{prefix!r} is not a topic prefix like 'hailong/v1'")
    return prefix
