"""staff.yaml: the officers of one centre, shared by every kiosk of the centre.

A kiosk.yaml names its staff inline (``staff: [...]``) or includes the centre's file
(``staff: {file: staff.yaml}``, relative to the kiosk.yaml), so one edit serves every counter.
PINs are kept only as scrypt hashes (``python -m config hash-pin``): a plain PIN is refused.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, Field, field_validator

from .common import Key, OptionalInputFile, Slug, Strict
from .pins import is_pin_hash


def _check_pin_hash(value: str) -> str:
    if not is_pin_hash(value):
        raise ValueError("must be a PIN hash made by 'python -m config hash-pin' (scrypt$...), never the PIN itself")
    return value


PinHash = Annotated[str, AfterValidator(_check_pin_hash)]


class StaffMember(Strict):
    key: Key = Field(description="the officer's key, as reports name them")
    name: Annotated[str, Field(min_length=1, max_length=128, description="shown on the kiosk")]
    photo: Optional[OptionalInputFile] = Field(None, description="a PNG or JPEG shown beside the name")
    pin_hash: PinHash = Field(description="made by 'python -m config hash-pin'")
    services: list[Key] = Field(default_factory=list, max_length=32,
                                description="services this officer handles; several: picked at sign-in")


def unique_keys(staff: list[StaffMember]) -> list[StaffMember]:
    keys = [m.key for m in staff]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f"officer keys must be unique; repeated: {', '.join(dup)}")
    return staff


class StaffFile(Strict):
    kind: Literal["staff"] = "staff"
    site: Optional[Slug] = Field(None, description="the centre these officers work at (informative)")
    staff: list[StaffMember] = Field(default_factory=list, max_length=500)

    _unique = field_validator("staff")(classmethod(lambda cls, v: unique_keys(v)))


class StaffInclude(Strict):
    file: Path = Field(description="a staff.yaml, relative to this kiosk.yaml")


def load_staff(spec: StaffInclude | dict, base_dir: Path) -> list[StaffMember]:
    """The staff of an included file. Its problems come back as one ValueError whose lines name the
    staff file, its line and field (the loader's size and YAML limits apply to it too)."""
    from .loader import ConfigError, load

    path = Path(spec["file"] if isinstance(spec, dict) else spec.file)
    path = path if path.is_absolute() else base_dir / path
    try:
        return load(path, model=StaffFile).staff
    except ConfigError as exc:
        raise ValueError(f"in the staff file {path}: " + "; ".join(exc.problems)) from None
