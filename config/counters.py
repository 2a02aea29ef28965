"""A counter is named in three places: its broker account (``python -m broker add-device SITE DEVICE``, in the
broker folder's state.json), its file in the fleet folder (``devices/SITE/DEVICE.yaml``) and the site
hierarchy of collector.yaml (``sites: ... centres: - site: SITE ... counters: - device: DEVICE``). Nothing
ties them together, so a counter added in one and forgotten in another fails quietly: a kiosk with no
account is refused by the broker, one missing from the fleet folder never gets a push, one missing from
collector.yaml shows in reports under its bare slug. ``python -m config fleet check DIR --broker-dir ...
--collector ...`` compares them (this module; counters_cli.py reads the broker's and the collector's
files) and prints each difference, Vietnamese first.

A kiosk of a commune merged into another (``merged_from`` in collector.yaml) keeps its old site slug on the
broker and in the fleet folder; collector.yaml lists its counter under the centre it was merged into.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from .loader import ConfigError

# place -> (Vietnamese, English) when the counter is there, and when it is not
PRESENT = {"broker": ("có tài khoản trên máy chủ MQTT", "has a broker account"),
           "fleet": ("có tệp trong thư mục fleet", "has a fleet file"),
           "collector": ("có trong collector.yaml", "is in collector.yaml")}
ABSENT = {"broker": ("chưa có tài khoản trên máy chủ MQTT", "no broker account"),
          "fleet": ("chưa có tệp trong thư mục fleet", "no file in the fleet folder"),
          "collector": ("chưa có trong collector.yaml", "not in collector.yaml")}


def fleet_counters(folder: Path, site: Optional[str] = None) -> dict[tuple[str, str], Optional[str]]:
    """(site, device) of every device file -> the broker.username its merged config says (None: none)."""
    from . import fleet

    out, cache = {}, {}
    for s, d, _ in fleet.device_files_of(folder):
        if site and s != site:
            continue
        try:
            broker = fleet.merge_device(folder, s, d, cache).data.get("broker")
        except ConfigError:  # `fleet check` reports it; the device file still names the counter
            broker = None
        out[(s, d)] = broker.get("username") if isinstance(broker, dict) else None
    return out


def differences(fleet: dict, broker: Optional[dict] = None, collector: Optional[set] = None, hierarchy=None,
                site: Optional[str] = None, fleet_dir: str = "fleet", broker_dir: str = "...") -> list[str]:
    """One line per counter the places disagree on, Vietnamese first, English beside, with the fix.
    ``broker`` / ``collector`` None: that place is not compared. ``site``: only this site's counters."""
    centre = hierarchy.centre_of if hierarchy is not None else (lambda s: s)
    places: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}  # (centre, device) -> place -> (site, device)

    def add(name: str, keys) -> None:
        for s, d in keys:
            if site and s != site and centre(s) != site:
                continue
            places.setdefault((centre(s), d), {})[name] = (s, d)

    add("fleet", fleet)
    if broker is not None:
        add("broker", broker)
    if collector is not None:
        add("collector", collector)
    compared = [p for p, given in (("broker", broker), ("fleet", fleet), ("collector", collector)) if given is not None]
    out = []
    for key in sorted(places):
        have = places[key]
        s, d = next(iter(have.values()))
        missing = [p for p in compared if p not in have]
        if missing:
            fixes = []
            if "broker" in missing:
                fixes.append(f"python -m broker add-device {s} {d} --dir {broker_dir}")
            if "fleet" in missing:
                fixes.append(f"viết tệp / write {fleet_dir}/devices/{s}/{d}.yaml")
            if "collector" in missing:
                fixes.append(f"thêm / add {{device: {d}, name: ...}} vào counters: của / to counters: of centre "
                             f"{key[0]} (collector.yaml)")
            present = [p for p in compared if p in have]
            vi = ", ".join([PRESENT[p][0] for p in present]) + "; " + ", ".join(ABSENT[p][0] for p in missing)
            en = ", ".join([PRESENT[p][1] for p in present]) + "; " + ", ".join(ABSENT[p][1] for p in missing)
            out.append(f"{s}/{d}: {vi} / {en}: sửa / fix: {'; '.join(fixes)}")
        if broker is not None and "fleet" in have and "broker" in have:
            fs, fd = have["fleet"]
            said, account = fleet.get((fs, fd)), broker[have["broker"]]
            if said != account:
                out.append(f"{fs}/{fd}: thư mục fleet đặt broker.username {said or '(trống)'}, tài khoản của quầy là "
                           f"{account} / the fleet folder says broker.username {said or '(none)'}, the counter's "
                           f"account is {account}: write username: {account} and password: {{file: {account}.pass}} "
                           f"in {fleet_dir}/devices/{fs}/{fd}.yaml")
    return out
