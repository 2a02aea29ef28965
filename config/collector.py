"""collector.yaml: the central collector, its database, the site hierarchy, the dashboard."""
from __future__ import annotations

import ipaddress
from datetime import date
from typing import Annotated, Literal, Optional, Union

from pydantic import AfterValidator, Field, model_validator

from .common import BrokerConnection, SipasElement, ConfigPath, Key, LangCode, Port, Secret, Slug, Strict, TimeZone


def _check_db_url(url: str) -> str:
    if not (url.startswith("sqlite:///") or url.startswith("postgresql://") or url.startswith("postgres://")):
        raise ValueError("use sqlite:///PATH or postgresql://USER@HOST:PORT/DB")
    return url


def _check_proxy(entry: str) -> str:
    try:
        ipaddress.ip_network(entry, strict=False)
    except ValueError:
        raise ValueError(f"{entry!r} is not an IP address or network; use e.g. 127.0.0.1 or 10.0.0.0/24") from None
    return entry


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


class Rejects(Strict):
    """How much the collector keeps of messages that break the contract (collector/ingest/rejects.py)."""

    keep_bytes: Annotated[int, Field(ge=0, le=4096)] = Field(512, description="payload bytes kept of a reject, 0 to 4096")
    window_minutes: Annotated[float, Field(ge=1, le=24 * 60)] = Field(
        60, description="repeats of one device and reason within this window are one row with a count")
    per_device: Annotated[int, Field(ge=1, le=1000)] = Field(
        10, description="rows a device may add per window; further reasons are only counted")
    per_window: Annotated[int, Field(ge=10, le=1_000_000)] = Field(
        2000, description="rows all devices may add per window; further devices are only counted")
    retention_days: Annotated[float, Field(gt=0, le=3660)] = Field(30, description="rejects older than this are deleted")


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
    reason_elements: dict[Key, SipasElement] = Field(
        default_factory=dict, description="follow-up reason key -> its SIPAS element (access, procedure, staff, "
                                          "result, feedback), as the kiosks' kiosk.yaml names it: reports group by it")
    officers: dict[Annotated[str, Field(min_length=1)], Label] = Field(default_factory=dict)
    services: dict[Annotated[str, Field(min_length=1)], Label] = Field(default_factory=dict)


class Dashboard(Strict):
    host: str = "127.0.0.1"
    port: Port = 8080
    username: str = "admin"
    password: Optional[Secret] = Field(
        None, description="{env: NAME} or {file: PATH}: the bootstrap admin (scope all); optional once the "
                          "database holds an admin account")
    min_ratings: Annotated[int, Field(ge=1)] = Field(30, description="fewer ratings than this are marked as not meaningful")
    lang: Literal["vi", "en"] = "vi"
    trusted_proxies: list[Annotated[str, AfterValidator(_check_proxy)]] = Field(
        default_factory=list, description="reverse proxies whose X-Forwarded-For/-Proto headers are believed")
    session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = Field(12, description="a log-in lasts this long")
    api_burst: Annotated[int, Field(ge=1, le=100000)] = Field(60, description="API requests a token may make at once")
    api_per_minute: Annotated[float, Field(gt=0, le=600000)] = Field(
        120, description="API requests a token may make per minute after its burst")
    public_url: Optional[Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=300)]] = Field(
        None, description="the address managers open the dashboard at (e.g. https://hailong.langson.gov.vn/): "
                          "alert and report e-mails link to it")


class FollowupForm(Strict):
    """The public form the thank-you QR opens (python -m collector followup serve; docs/followup.md)."""

    host: str = "127.0.0.1"
    port: Port = 8090
    ttl_hours: Annotated[float, Field(ge=1, le=720)] = Field(24, description="a QR's token works this long after the tap")
    pending_hours: Annotated[float, Field(ge=1, le=2160)] = Field(
        72, description="an answer whose rating has not arrived (kiosk offline) waits this long, then is deleted")
    retention_days: Annotated[float, Field(ge=1, le=3660)] = Field(
        365, description="comments and contact details older than this are deleted (the scores stay)")
    comment_max: Annotated[int, Field(ge=50, le=4000)] = Field(1000, description="longest comment, in characters")
    per_address_per_minute: Annotated[int, Field(ge=1, le=10000)] = Field(
        20, description="form submissions one client address may make per minute (burst as large)")
    per_token_tries: Annotated[int, Field(ge=1, le=100)] = Field(
        5, description="submissions one link may take per hour (a corrected mistake needs a second)")
    trusted_proxies: list[Annotated[str, AfterValidator(_check_proxy)]] = Field(
        default_factory=list, description="reverse proxies whose X-Forwarded-For/-Proto headers are believed")
    public_url: Optional[Annotated[str, Field(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$",
                                              max_length=100)]] = Field(
        None, description="the form's public address (as the kiosks' followup_qr.base_url): printed counter QRs "
                          "open <public_url>/g/<code>")
    general_per_hour: Annotated[int, Field(ge=1, le=10000)] = Field(
        30, description="general-feedback answers one printed counter QR may take per hour")


# ------------------------------------------------------------------ pushed alerts, opening hours, reports
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Hhmm = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM, 24-hour clock")]


def _check_span(text: str) -> str:
    start, sep, end = text.partition("-")
    if not sep or not all(len(x) == 5 and x[2] == ":" and x.replace(":", "").isdigit() for x in (start, end)) \
            or not start < end or int(end[:2]) > 24:
        raise ValueError(f"{text!r} is not an opening span like '07:30-11:30'")
    return text


OpenSpan = Annotated[str, AfterValidator(_check_span)]


class OpeningHours(Strict):
    weekdays: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"], description="days the centre opens")
    hours: list[OpenSpan] = Field(default_factory=lambda: ["07:00-11:30", "13:00-17:00"],
                                  description="local opening spans, e.g. '07:30-11:30'")


class Opening(Strict):
    """When centres are open: alerts stay quiet outside these hours and on holidays."""

    default: OpeningHours = Field(default_factory=OpeningHours)
    centres: dict[Slug, OpeningHours] = Field(default_factory=dict, description="centre site slug -> its own hours")


RuleKind = Literal["satisfaction_below", "negative_share", "device_offline", "outbox_growing", "rejects_spike",
                   "device_rejects", "receipts_stalled", "device_shared", "followup_comment"]
RuleScope = Annotated[str, Field(pattern=r"^(all|[a-z0-9][a-z0-9-]*|device:[a-z0-9-]+/[a-z0-9-]+|officer:.+)$",
                                 description="all, a province/commune/centre slug, device:SITE/DEVICE or officer:KEY")]


class AlertRule(Strict):
    """One condition watched per subject (a centre, a counter, an officer...) inside its scope."""

    name: Key = Field(description="stable key: alert state and history are kept under it")
    kind: RuleKind
    scope: RuleScope = "all"
    per: Optional[Literal["centre", "counter", "officer", "all"]] = Field(
        None, description="rate rules: one alert per centre (default), counter, officer, or one for all")
    threshold: Optional[Annotated[float, Field(ge=0)]] = Field(
        None, description="satisfaction_below / negative_share / device_rejects: a rate 0..1; rejects_spike: a count; "
                          "followup_comment: the highest face (e.g. 2: a comment after a 1 or a 2)")
    clear_at: Optional[Annotated[float, Field(ge=0)]] = Field(
        None, description="hysteresis: the alert clears only past this value (default: threshold -/+ 0.05)")
    last_ratings: Optional[Annotated[int, Field(ge=1, le=100000)]] = Field(None, description="over the last N ratings")
    hours: Optional[Annotated[float, Field(gt=0, le=24 * 92)]] = Field(None, description="over the last N hours")
    minutes: Optional[Annotated[float, Field(gt=0, le=60 * 24 * 31)]] = Field(
        None, description="device_offline: silent this long in opening hours; rejects_spike, device_rejects: the "
                          "window; receipts_stalled: how long messages may wait for a receipt")
    min_ratings: Annotated[int, Field(ge=1)] = Field(10, description="fewer ratings than this decide nothing")
    statuses: Annotated[int, Field(ge=2, le=50)] = Field(3, description="outbox_growing: rising over this many statuses")
    min_depth: Annotated[int, Field(ge=0)] = Field(20, description="outbox_growing: and at least this many queued")
    for_minutes: Annotated[float, Field(ge=0, le=60 * 24 * 7)] = Field(
        0, description="the condition must hold this long before the alert fires (and be gone as long to clear)")
    email: bool = Field(True, description="e-mail recipients whose scope covers the subject")
    webhooks: Optional[list[Key]] = Field(None, description="webhook names to call (default: all)")

    @model_validator(mode="after")
    def _needs(self) -> "AlertRule":
        if self.kind in ("satisfaction_below", "negative_share"):
            if self.threshold is None or self.threshold > 1:
                raise ValueError(f"{self.kind} needs threshold: a rate between 0 and 1")
            if (self.last_ratings is None) == (self.hours is None):
                raise ValueError(f"{self.kind} needs exactly one of last_ratings: N or hours: N")
        if self.per is not None and self.kind not in ("satisfaction_below", "negative_share"):
            raise ValueError(f"{self.kind} is watched per kiosk (or for the whole system): remove per:")
        if self.kind == "device_offline":
            if self.minutes is None:
                raise ValueError("device_offline needs minutes: how long a kiosk may be silent in opening hours")
        elif self.kind == "rejects_spike":
            if self.threshold is None or self.minutes is None:
                raise ValueError("rejects_spike needs threshold: a count and minutes: the window")
        elif self.kind == "receipts_stalled":
            if self.minutes is None:
                raise ValueError("receipts_stalled needs minutes: how long every live kiosk of a centre may wait for "
                                 "a receipt from the database")
        elif self.kind == "followup_comment":
            if self.threshold is None or self.threshold != int(self.threshold) or not 1 <= self.threshold <= 4:
                raise ValueError("followup_comment needs threshold: the highest face whose comments alert, 1 to 4 "
                                 "(2: a comment on the phone after a 1 or a 2)")
            if self.hours is None:
                self.hours = 24.0
        elif self.kind == "device_rejects":
            if self.threshold is None or self.threshold > 1 or self.minutes is None:
                raise ValueError("device_rejects needs threshold: the share of a kiosk's messages rejected, 0 to 1, "
                                 "and minutes: the window")
        return self


class Alerts(Strict):
    satisfaction_below: Annotated[float, Field(ge=0, le=1, description="0 to 1")] = 0.7
    window_days: Annotated[int, Field(ge=1, le=366)] = 7
    device_silent_hours: Annotated[float, Field(ge=0.1, le=24 * 365)] = 24.0
    rules: list[AlertRule] = Field(default_factory=list, description="alerts pushed by e-mail and webhook")
    negative: dict[Annotated[int, Field(ge=2, le=5)], list[Annotated[int, Field(ge=1, le=5)]]] = Field(
        default_factory=lambda: {2: [1], 3: [1], 4: [1], 5: [1, 2]},
        description="per scale, which ratings count as negative answers")
    every_s: Annotated[float, Field(ge=5, le=3600)] = Field(60, description="how often rules are evaluated")

    @model_validator(mode="after")
    def _unique(self) -> "Alerts":
        names = [r.name for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"alert rule names must be unique; repeated: {', '.join(dup)}")
        return self


class Smtp(Strict):
    host: str
    port: Port = 587
    security: Literal["starttls", "ssl", "none"] = Field("starttls", description="starttls (587), ssl (465), none")
    username: Optional[str] = None
    password: Optional[Secret] = None
    sender: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$|^.*<[^@\s]+@[^@\s]+>$")] = Field(
        description="From: address, e.g. 'Hài lòng <hailong@example.gov.vn>'")
    ca: Optional[ConfigPath] = Field(None, description="CA certificate to trust (default: the system's)")
    timeout_s: Annotated[float, Field(gt=0, le=300)] = 30

    @model_validator(mode="after")
    def _password_needs_user(self) -> "Smtp":
        if self.password is not None and not self.username:
            raise ValueError("password given without username")
        return self


class Webhook(Strict):
    name: Key
    url: Annotated[str, Field(pattern=r"^https?://")]
    scope: RuleScope = Field("all", description="only alerts inside this scope")
    token: Optional[Secret] = Field(None, description="sent as 'Authorization: Bearer TOKEN'")
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10


ReportKind = Literal["month", "quarter", "6m", "9m", "year"]


class Recipient(Strict):
    name: str
    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    lang: Literal["vi", "en"] = "vi"
    scope: Annotated[str, Field(pattern=r"^(all|[a-z0-9][a-z0-9-]*)$")] = Field(
        "all", description="all, or a province, commune or centre slug")
    reports: list[ReportKind] = Field(default_factory=list, description="month, quarter, 6m, 9m, year")
    alerts: bool = Field(True, description="receive alert e-mails inside the scope")


class Notify(Strict):
    smtp: Optional[Smtp] = None
    webhooks: list[Webhook] = Field(default_factory=list)
    recipients: list[Recipient] = Field(default_factory=list)
    enabled: bool = Field(True, description="evaluate alerts and send reports inside 'collector serve'")
    reports_at: Hhmm = Field("07:30", description="local time on the first working day to send reports")
    retry_hours: Annotated[float, Field(gt=0, le=24 * 30)] = Field(
        72, description="a message not delivered after this long is marked failed (kept in the database)")


class Completeness(Strict):
    gap_alert_after_min: Annotated[float, Field(ge=1, le=60 * 24 * 366, description="1 to 527040 minutes")] = Field(
        60.0, description="alert when missing outbox messages stay missing this long (a kiosk's backlog "
                          "normally drains within minutes of reconnecting)")


class GradeBand(Strict):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    min_satisfied: Annotated[float, Field(ge=0, le=1, description="lowest satisfied rate of this grade, 0 to 1")]


def _default_grades() -> list[GradeBand]:
    return [GradeBand(name=n, min_satisfied=m) for n, m in
            (("Xuất sắc", 0.95), ("Tốt", 0.85), ("Khá", 0.70), ("Trung bình", 0.50), ("Yếu", 0.0))]


class Evaluation(Strict):
    """The officer evaluation sheet: grade bands by satisfied rate, and how few ratings say nothing."""

    min_ratings: Annotated[int, Field(ge=1, le=1000)] = Field(
        5, description="an officer with fewer ratings in a period has rate, reasons, rank and grade suppressed")
    grade_min_ratings: Annotated[int, Field(ge=1, le=100_000)] = Field(
        30, description="fewer ratings than this in the period: no grade given")
    grades: list[GradeBand] = Field(default_factory=_default_grades, min_length=1, max_length=10,
                                    description="best first; an officer gets the first band whose minimum they reach")

    @model_validator(mode="after")
    def _ordered(self) -> "Evaluation":
        mins = [g.min_satisfied for g in self.grades]
        if mins != sorted(mins, reverse=True) or len(set(mins)) != len(mins):
            raise ValueError("evaluation.grades: list the bands best first, each min_satisfied lower than the one before")
        if self.grade_min_ratings < self.min_ratings:
            raise ValueError("evaluation.grade_min_ratings must be at least evaluation.min_ratings")
        return self


class CollectorConfig(Strict):
    kind: Literal["collector"] = "collector"
    broker: BrokerConnection = Field(default_factory=BrokerConnection)
    subscription: Subscription = Field(default_factory=Subscription)
    database: Database = Field(default_factory=Database)
    batch: Batch = Field(default_factory=Batch)
    rejects: Rejects = Field(default_factory=Rejects)
    timezone: TimeZone = "Asia/Ho_Chi_Minh"
    satisfied: dict[Annotated[int, Field(ge=2, le=5)], list[Annotated[int, Field(ge=1, le=5)]]] = Field(
        default_factory=lambda: {2: [2], 3: [3], 4: [3, 4], 5: [4, 5]},
        description="per scale (number of faces), which ratings count as satisfied")
    sites: list[Province] = Field(default_factory=list)
    labels: Labels = Field(default_factory=Labels)
    dashboard: Dashboard = Field(default_factory=Dashboard)
    alerts: Alerts = Field(default_factory=Alerts)
    opening: Opening = Field(default_factory=Opening)
    holidays: list[date] = Field(default_factory=list, description="dates (YYYY-MM-DD) every centre is closed")
    notify: Notify = Field(default_factory=Notify)
    completeness: Completeness = Field(default_factory=Completeness)
    log_interval_s: Annotated[float, Field(ge=1, le=3600)] = 10.0
    evaluation: Evaluation = Field(default_factory=Evaluation)
    # After each commit, tell each v2 kiosk which of its messages the database now holds (contract v2
    # receipts): only then does it forget them. Turn off only for a collector that is not the end that
    # stores (kiosks then fall back to the broker's PUBACK after their receipt_fallback_h).
    receipts: bool = True
    followup_form: FollowupForm = Field(default_factory=FollowupForm)

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
        need_smtp = any(r.email for r in self.alerts.rules) and any(r.alerts for r in self.notify.recipients)
        if (need_smtp or any(r.reports for r in self.notify.recipients)) and self.notify.smtp is None:
            raise ValueError("notify.recipients get e-mail, but notify.smtp is missing: add host, port, sender")
        slugs = {"all"} | {p.slug for p in self.sites} | {c.slug for p in self.sites for c in p.communes} | set(seen)
        if self.sites:  # scopes name places of the hierarchy; without one (a test set-up) anything goes
            for where, scope in ([(f"notify.recipients ({r.email})", r.scope) for r in self.notify.recipients]
                                 + [(f"notify.webhooks ({w.name})", w.scope) for w in self.notify.webhooks]
                                 + [(f"alerts.rules ({r.name})", r.scope) for r in self.alerts.rules]):
                slug = scope.split(":", 1)[1].split("/")[0] if scope.startswith("device:") else scope
                if not scope.startswith("officer:") and slug not in slugs:
                    raise ValueError(f"{where}: scope {scope!r} is not 'all' nor a province, commune or centre "
                                     "slug of sites")
        hooks = {w.name for w in self.notify.webhooks}
        for rule in self.alerts.rules:
            missing = sorted(set(rule.webhooks or ()) - hooks)
            if missing:
                raise ValueError(f"alert rule {rule.name!r} names webhooks not in notify.webhooks: {', '.join(missing)}")
        return self
