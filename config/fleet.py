"""A fleet folder: many kiosks' configs kept in one place, in layers, merged per device.

    FLEET/defaults.yaml                  every kiosk of the province (optional)
    FLEET/sites/<site>.yaml              one commune's centre: overrides the defaults (optional)
    FLEET/devices/<site>/<device>.yaml   one counter: overrides both (required, may be tiny)

Mappings merge key by key, deeper layers win; a list or a value replaces what a lower layer said.
Every merged key remembers the file and line it came from, so a mistake found in the merged
config is reported where the technician has to fix it.
"""
from __future__ import annotations

import copy

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError

from .contract_types import is_slug

from .common import BrokerConnection, InputFile, Strict
from .loader import ConfigError, _describe, _format_loc, _node_lines, read_yaml

DEFAULTS = "defaults.yaml"
SITES_DIR = "sites"
DEVICES_DIR = "devices"


@dataclass
class Layer:
    path: Path
    data: dict
    lines: dict[tuple, int]


# libyaml's emitter writes the same bytes as PyYAML's own (so the same hash), three times faster: a
# push to thousands of kiosks spends most of its time writing their YAML.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass
class Merged:
    site: str
    device: str
    data: dict
    origin: dict[tuple, tuple[str, int]]  # key path -> (file, line) of the layer that set it
    layers: list[Path] = field(default_factory=list)
    _text: str | None = field(default=None, repr=False, compare=False)

    def yaml_text(self) -> str:
        """The device's whole kiosk.yaml as pushed: the same for the same merge, byte for byte (written once:
        checking its size, hashing and signing it read the same text)."""
        if self._text is None:
            head = "# Merged from: " + ", ".join(str(p) for p in self.layers) + "\n"
            self._text = head + yaml.dump(self.data, Dumper=_DUMPER, allow_unicode=True, sort_keys=False, width=120)
        return self._text

    def sha256(self) -> str:
        return hashlib.sha256(self.yaml_text().encode("utf-8")).hexdigest()

    def where(self, loc: tuple) -> tuple[str, int]:
        """The layer file and line behind a validation error at ``loc`` (the nearest key that exists)."""
        loc = tuple(str(p) for p in loc)
        while loc:
            if loc in self.origin:
                return self.origin[loc]
            loc = loc[:-1]
        return (str(self.layers[-1]), 1) if self.layers else ("?", 1)


def read_layer(path: Path, rel_to: Path) -> Layer:
    name = str(path.relative_to(rel_to)) if path.is_relative_to(rel_to) else str(path)
    data, node = read_yaml(path, shown_as=name)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, [f"{name}:1: expected a mapping of keys (key: value) at the top level"])
    return Layer(Path(name), data, _node_lines(node) if node is not None else {})


def _merge(base: dict, over: dict, origin: dict, layer: Layer, prefix: tuple = ()) -> dict:
    out = dict(base)
    for key, value in over.items():
        path = prefix + (str(key),)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, origin, layer, path)
        else:
            out[key] = value
            # everything under a replaced key now comes from this layer
            for old in [k for k in origin if k[:len(path)] == path]:
                del origin[old]
            for p, line in layer.lines.items():
                if p[:len(path)] == path:
                    origin[p] = (str(layer.path), line)
        origin.setdefault(path, (str(layer.path), layer.lines.get(path, 1)))
    return out


def device_files_of(folder: Path) -> list[tuple[str, str, Path]]:
    """(site, device, file) of every device in the fleet, sorted."""
    root = Path(folder) / DEVICES_DIR
    if not root.is_dir():
        raise ConfigError(folder, [f"{folder}: no {DEVICES_DIR}/ folder; put one file per kiosk in "
                                   f"{DEVICES_DIR}/<site>/<device>.yaml"])
    out = []
    for f in sorted(root.glob("*/*.yaml")):
        out.append((f.parent.name, f.stem, f))
    return out


def merge_device(folder: Path, site: str, device: str, cache: dict | None = None) -> Merged:
    """``cache`` (one dict per fleet check) keeps the layers shared by many devices parsed once: the
    defaults and a site's file are read for each of its devices otherwise, most of a big push's time."""
    folder = Path(folder)
    dev_file = folder / DEVICES_DIR / site / f"{device}.yaml"
    problems = []
    for what, value in (("site", site), ("device", device)):
        if not is_slug(value):
            problems.append(f"{dev_file.relative_to(folder)}: {what} {value!r} (from the file's path) is not a "
                            f"slug: use lower-case letters, digits and '-'")
    if not dev_file.is_file():
        problems.append(f"{DEVICES_DIR}/{site}/{device}.yaml: no such device file in {folder}")
    if problems:
        raise ConfigError(dev_file, problems)
    paths = [p for p in (folder / DEFAULTS, folder / SITES_DIR / f"{site}.yaml") if p.is_file()] + [dev_file]
    layers = [_cached_layer(p, folder, cache) for p in paths]
    origin: dict[tuple, tuple[str, int]] = {}
    data: dict[str, Any] = {}
    for layer in layers:
        for key in ("site", "device"):
            said = layer.data.get(key)
            expected = site if key == "site" else device
            if said is not None and said != expected:
                line = layer.lines.get((key,), 1)
                raise ConfigError(layer.path, [f"{layer.path}:{line}: {key}: {said!r} disagrees with the device "
                                               f"file's place {DEVICES_DIR}/{site}/{device}.yaml; remove it or make "
                                               f"it {expected!r}"])
        data = _merge(data, layer.data, origin, layer)
    data = {"kind": "kiosk", "site": site, "device": device,
            **{k: v for k, v in data.items() if k not in ("kind", "site", "device")}}
    return Merged(site, device, data, origin, [layer.path for layer in layers])


def _cached_layer(path: Path, folder: Path, cache: dict | None) -> Layer:
    if cache is None:
        return read_layer(path, folder)
    if path not in cache:
        cache[path] = read_layer(path, folder)
    layer = cache[path]
    return Layer(layer.path, copy.deepcopy(layer.data), layer.lines)  # each device merges its own copy


# Paths in a pushed config are the device's own, relative to its kiosk.yaml: validated against this stand-in
# folder, a relative name (ca.crt) can be told from an absolute path (/etc/hailong/ca.crt) afterwards.
DEVICE_DIR = Path("/<kiosk-folder>")
MAX_YAML_CHARS = 60_000  # ConfigPush.yaml's limit


def validate(merged: Merged):
    """The merged config as a KioskConfig, or ConfigError naming each problem's layer file and line."""
    from .kiosk import KioskConfig

    try:
        # Paths in a pushed config are the device's own: checked against what a kiosk has (files_problems).
        return KioskConfig.model_validate(merged.data, context={"base_dir": DEVICE_DIR, "device_side": True})
    except ValidationError as exc:
        found = []
        for err in exc.errors(include_url=False):
            loc = tuple(err.get("loc", ()))
            file, line = merged.where(loc)
            found.append((file, line, f"{file}:{line}: {_format_loc(loc)}: {_describe(err, KioskConfig)} "
                                      f"(device {merged.site}/{merged.device})"))
        raise ConfigError(merged.layers[-1], [text for *_, text in sorted(found)]) from None


def pushed_files(cfg) -> list[tuple[tuple, str, bool]]:
    """Every file a validated merged config names, as written (a name relative to the kiosk.yaml, or an
    absolute path): (key path, name, required)."""
    from .loader import referenced_files

    return [(loc, str(p.relative_to(DEVICE_DIR)) if p.is_relative_to(DEVICE_DIR) else str(p), required)
            for loc, p, required in referenced_files(cfg)]


def _device_files_in(folder: Path) -> tuple[list[str], list[str]]:
    """push.yaml's device_files, when the folder has a push.yaml: (files, problems of push.yaml)."""
    path = Path(folder) / PUSH_FILE
    if not path.is_file():
        return [], []
    try:
        return list(load_push_settings(path).device_files), []
    except ConfigError as exc:
        return [], exc.problems


PUSH_FILE = "push.yaml"


class FleetPush(Strict):
    """push.yaml beside the fleet: how the fleet account reaches the broker, and the signing key."""

    kind: Literal["fleet"] = "fleet"
    broker: BrokerConnection = Field(default_factory=BrokerConnection)
    key: InputFile = Field(description="the province's private Ed25519 key (fleet.key)")
    timeout_s: float = Field(30.0, ge=1, le=3600, description="how long to wait for the broker's PUBACKs")
    device_files: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(
        default_factory=list, description="files every kiosk has besides what enrolment delivers (kiosk.yaml, ca.crt, "
                                          "fleet.pub, its account's .pass/.crt/.key), named as the configs name them, "
                                          "e.g. pin.key or /etc/hailong/sounds/start.wav")


def _push_model():
    return FleetPush


def load_push_settings(path: Path):
    from .loader import load

    return load(path, model=_push_model())
