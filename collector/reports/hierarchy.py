"""The site hierarchy of collector.yaml (province > commune > centre > counter) as report groups.

Stored ratings keep the site slug the kiosk sent. Merging communes only changes this mapping:
an old slug listed in a centre's ``merged_from`` is reported as that centre, nothing is rewritten.
Sites and devices missing from the hierarchy are reported under their own slug.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True)
class Place:
    province: str
    province_name: str
    commune: str
    commune_name: str
    centre: str
    centre_name: str


@dataclass
class Hierarchy:
    places: dict[str, Place] = field(default_factory=dict)  # any site slug (old or current) -> its centre
    counters: dict[tuple[str, str], str] = field(default_factory=dict)  # (centre, device) -> counter name
    order: dict[str, int] = field(default_factory=dict)  # slug -> position in the YAML file, for sorting
    labels: dict[str, dict] = field(default_factory=dict)  # "reason"/"officer"/"service" -> key -> name(s)

    @classmethod
    def from_config(cls, provinces: Iterable, labels=None) -> "Hierarchy":
        h = cls()
        if labels is not None:
            h.labels = {"reason": labels.reasons, "officer": labels.officers, "service": labels.services}
        for prov in provinces:
            h.order.setdefault(prov.slug, len(h.order))
            for com in prov.communes:
                h.order.setdefault(com.slug, len(h.order))
                for centre in com.centres:
                    place = Place(prov.slug, prov.name, com.slug, com.name, centre.site, centre.name)
                    for slug in [centre.site, *centre.merged_from]:
                        h.places[slug] = place
                        h.order.setdefault(slug, len(h.order))
                    for counter in centre.counters:
                        h.counters[(centre.site, counter.device)] = counter.name
                        h.order.setdefault(f"{centre.site}/{counter.device}", len(h.order))
        return h

    def centre_of(self, site: str) -> str:
        place = self.places.get(site)
        return place.centre if place else site

    def group(self, level: str, site: str, device: str = "") -> tuple[str, str]:
        """(key, display name) of a site (and device) at one level of the hierarchy."""
        place = self.places.get(site)
        if level == "province":
            return (place.province, place.province_name) if place else (site, site)
        if level == "commune":
            return (place.commune, place.commune_name) if place else (site, site)
        if level == "centre":
            return (place.centre, place.centre_name) if place else (site, site)
        if level == "counter":
            centre = place.centre if place else site
            key = f"{centre}/{device}"
            name = self.counters.get((centre, device))
            if name is None:
                return key, key
            return key, f"{name} ({place.centre_name})" if place else name
        raise ValueError(f"unknown hierarchy level {level!r}")

    def label(self, dim: str, key: str, lang: str) -> str | None:
        """The configured display name of a reason, officer or service key, in ``lang`` when given so."""
        name = self.labels.get(dim, {}).get(key)
        if isinstance(name, dict):
            return name.get(lang) or name.get("vi") or next(iter(name.values()), None)
        return name

    def site_name(self, site: str) -> str:
        place = self.places.get(site)
        if place is None:
            return site
        return place.centre_name if place.centre == site else f"{site} → {place.centre_name}"

    def expand(self, slugs: Iterable[str]) -> set[str]:
        """Stored site slugs covered by the given province, commune, centre or site slugs."""
        wanted = set(slugs)
        out = set(wanted)
        for site, place in self.places.items():
            if wanted & {place.province, place.commune, place.centre}:
                out.add(site)
        return out

    def sort_key(self, key: str) -> tuple:
        return (self.order.get(key, len(self.order)), key)
