"""Whether a fleet folder's configs can be pushed: each device's merge (config/fleet.py) valid, naming only
files the kiosk has (what enrolment gives it, or push.yaml's device_files), and small enough as the signed
message the broker carries. Used by ``python -m config fleet check`` and before ``python -m broker fleet
push``; it lives with the broker because it measures a push in the wire contract's own encoding and knows
what an enrolment hands a kiosk."""
from __future__ import annotations

from pathlib import Path

from config.contract_types import MAX_CONFIG_PAYLOAD_BYTES
from config.fleet import MAX_YAML_CHARS, Merged, _device_files_in, device_files_of, merge_device, pushed_files, validate
from config.loader import ConfigError, _format_loc

from .contract import ConfigPush, encode, utcnow
from .enrol import delivered_names


def enrolled_files(site: str, device: str) -> list[str]:
    """The files enrolment gives a kiosk beside its kiosk.yaml (broker/enrol.py; the account is named
    SITE--DEVICE, as add-device names it)."""
    return list(delivered_names(f"{site}--{device}"))


def files_problems(merged: Merged, cfg, device_files: list[str] = ()) -> list[str]:
    """A file the config names that the kiosk does not have (neither from enrolment nor in push.yaml's
    ``device_files``, which the province installs itself): the kiosk would refuse the config (or, before it
    checked, run on its last good copy). One line each, naming the layer file and line that set it."""
    given = enrolled_files(merged.site, merged.device)
    have = set(given) | set(device_files)
    out = []
    for loc, name, required in pushed_files(cfg):
        if name in have:
            continue
        file, line = merged.where(loc)
        out.append(f"{file}:{line}: {_format_loc(loc)}: {name}: thiết bị không có tệp này / the kiosk has no such "
                   f"file{'' if required else ' (optional)'}: enrolment gives it {', '.join(given)}; name one of "
                   f"them, or list the files you install on every kiosk yourself under device_files: in push.yaml "
                   f"(device {merged.site}/{merged.device})")
    return out


def push_size(merged: Merged) -> int:
    """Bytes of the signed config message this merge makes (a signature and key id have a fixed size)."""
    fake = ConfigPush.model_construct(v=2, site=merged.site, device=merged.device, ts=utcnow(), yaml=merged.yaml_text(),
                                      sha256="0" * 64, key_id="0" * 16, sig="A" * 86 + "==")
    return len(encode(fake))


def size_problem(merged: Merged) -> str | None:
    """A config the wire contract (and so the broker, and the kiosk) would refuse for its size, or None."""
    size, chars = push_size(merged), len(merged.yaml_text())
    if size <= MAX_CONFIG_PAYLOAD_BYTES and chars <= MAX_YAML_CHARS:
        return None
    return (f"{merged.layers[-1]}: cấu hình quá lớn / too large: the merged config is {chars:,} characters, a "
            f"{size:,}-byte message; a pushed config may be at most {MAX_YAML_CHARS:,} characters and "
            f"{MAX_CONFIG_PAYLOAD_BYTES:,} bytes (the wire contract's limit, which the broker takes): make it shorter "
            f"(a staff list, long texts) (device {merged.site}/{merged.device})")


def broker_size_limit(broker_dir: Path) -> int | None:
    """The largest message the broker folder's mosquitto.conf lets through (message_size_limit), or None when
    it sets none (Mosquitto then takes any size) or has no mosquitto.conf."""
    try:
        text = (Path(broker_dir) / "mosquitto.conf").read_text(encoding="utf-8")
    except OSError:
        return None
    limits = [int(line.split()[1]) for line in text.splitlines()
              if line.startswith("message_size_limit ") and line.split()[1].isdigit()]
    return limits[-1] if limits and limits[-1] > 0 else None


def too_large_for(merged: list, limit: int | None, broker_dir: Path) -> dict[tuple[str, str], str]:
    """Each config the broker folder's Mosquitto would refuse for its size (one written before 64 KiB configs):
    (site, device) -> the problem line."""
    if limit is None:
        return {}
    out = {}
    for m in merged:
        size = push_size(m)
        if size > limit:
            out[(m.site, m.device)] = (
                f"{m.layers[-1]}: cấu hình quá lớn đối với máy chủ MQTT / too large for the broker: a {size:,}-byte "
                f"message; its mosquitto.conf in {broker_dir} takes at most {limit:,} (message_size_limit): run "
                f"`python -m broker init --dir {broker_dir} --config broker.yaml` again and restart it "
                f"(device {m.site}/{m.device})")
    return out


def check(folder: Path, site: str | None = None,
          device_files: list[str] | None = None) -> tuple[list[Merged], list[str]]:
    """Merge and validate every device (of one site, if given): (valid merges, problems). A merge is valid when
    its schema is, it names only files the kiosk has, and its signed message is not too large to push.
    ``device_files``: from push.yaml's ``device_files`` (read from the folder's push.yaml when None)."""
    good, problems = [], []
    if device_files is None:
        device_files, problems = _device_files_in(folder)
    cache: dict = {}
    for s, d, _ in device_files_of(folder):
        if site and s != site:
            continue
        try:
            merged = merge_device(folder, s, d, cache)
            cfg = validate(merged)
        except ConfigError as exc:
            problems += exc.problems
            continue
        found = files_problems(merged, cfg, device_files)
        too_large = size_problem(merged)
        if found or too_large:
            problems += found + ([too_large] if too_large else [])
        else:
            good.append(merged)
    return good, problems
