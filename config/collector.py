"""collector.yaml: the central collector, its database, the site hierarchy, the dashboard."""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, model_validator

from .common import BrokerConnection, Key, LangCode, Port, Secret, Slug, Strict


def _check_db_url(url: str) -> str:
    if not (url.startswith("sqlite:///") or url.startswith("postgresql://") or url.startswith("postgres://")):
        raise ValueError("use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
    return url


def _check_tz(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use e.g. Asia/Ho_Chi_Minh") from None
    return name


class Subscription(Strict):
    share_group: Optional[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]] = Field(
        None, description="collectors in one group split the stream ($share/<group>/...)")
    session_expiry_s: Annotated[int, Field(ge=0, le=4294967295)] = 7 * 24 * 3600


class Database(Strict):
    url: Annotated[str, AfterValidator(_check_db_url)] = "sqlite:///ratings.db"
    password: Optional[Secret] = Field(None, description="PostgreSQL password, when not in the URL")


class Batch(Strict):
    max_size: Annotated[int, Field(ge=1, le=100000, description="1 to 100000 messages")] = 2000
    max_wait_ms: Annotated[int, Field(ge=1, le=60000, description="1 to 60000 ms")] = 200


class Counter(Strict):
    device: Slug
    name: str


class Centre(Strict):
    site: Slug = Field(description="the site slug kiosks send")
    name: str
    merged_from: list[Slug] = Field(default_factory=list, description="old site slugs reported as this centre")
    counters: list[Counter] = Field(default_factory=list)


class Commune(Strict):
    slug: Slug
    name: str
    centres: list[Centre] = Field(default_factory=list)


class Province(Strict):
    slug: Slug
    name: str
    communes: list[Commune] = Field(default_factory=list)


Label = Union[Annotated[str, Field(min_length=1)], dict[LangCode, Annotated[str, Field(min_length=1)]]]


class Labels(Strict):
    """Display names for the keys kiosks send; a plain text is the same in every language."""

    reasons: dict[Key, Label] = Field(default_factory=dict, description="follow-up reason key -> name")
    officers: dict[Annotated[str, Field(min_length=1)], Label] = Field(default_factory=dict)
    services: dict[Annotated[str, Field(min_length=1)], Label] = Field(default_factory=dict)


class Dashboard(Strict):
    host: str = "127.0.0.1"
    port: Port = 8080
    username: str = "admin"
    password: Optional[Secret] = Field(None, description="{env: NAME} or {file: PATH}; required to serve")
    min_ratings: Annotated[int, Field(ge=1)] = Field(30, description="fewer ratings than this are marked as not meaningful")
    lang: Literal["vi", "en"] = "vi"


class Alerts(Strict):
    satisfaction_below: Annotated[float, Field(ge=0, le=1, description="0 to 1")] = 0.7
    window_days: Annotated[int, Field(ge=1, le=366)] = 7
    device_silent_hours: Annotated[float, Field(ge=0.1, le=24 * 365)] = 24.0


class Completeness(Strict):
    gap_alert_after_min: Annotated[float, Field(ge=1, le=60 * 24 * 366, description="1 to 527040 minutes")] = Field(
        60.0, description="alert when missing outbox messages stay missing this long (a kiosk's backlog "
                          "normally drains within minutes of reconnecting)")


class CollectorConfig(Strict):
    kind: Literal["collector"] = "collector"
    broker: BrokerConnection = Field(default_factory=BrokerConnection)
    subscription: Subscription = Field(default_factory=Subscription)
    database: Database = Field(default_factory=Database)
    batch: Batch = Field(default_factory=Batch)
    timezone: Annotated[str, AfterValidator(_check_tz)] = "Asia/Ho_Chi_Minh"
    satisfied: dict[Annotated[int, Field(ge=2, le=5)], list[Annotated[int, Field(ge=1, le=5)]]] = Field(
        default_factory=lambda: {2: [2], 3: [3], 4: [3, 4], 5: [4, 5]},
        description="per scale (number of faces), which ratings count as satisfied")
    sites: list[Province] = Field(default_factory=list)
    labels: Labels = Field(default_factory=Labels)
    dashboard: Dashboard = Field(default_factory=Dashboard)
    alerts: Alerts = Field(default_factory=Alerts)
    completeness: Completeness = Field(default_factory=Completeness)
    log_interval_s: Annotated[float, Field(ge=1, le=3600)] = 10.0

    @model_validator(mode="after")
    def _checks(self) -> "CollectorConfig":
        for scale, levels in self.satisfied.items():
            bad = [lv for lv in levels if lv > scale]
            if bad:
                raise ValueError(f"satisfied[{scale}]: ratings {bad} are above the scale {scale}")
        seen: dict[str, str] = {}
        for prov in self.sites:
            for com in prov.communes:
                for centre in com.centres:
                    for slug in [centre.site, *centre.merged_from]:
                        if slug in seen:
                            raise ValueError(f"site {slug!r} appears twice in sites ({seen[slug]} and {centre.site})")
                        seen[slug] = centre.site
        return self
