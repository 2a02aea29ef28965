"""The central database schema, versioned; migrations run at start, in order, once.

ratings      one row per rating, keyed by the event id from the kiosk (deduplication)
rollup_hour  counts per UTC hour x site x device x officer x service x reason x scale x rating x flagged,
             kept in the same transaction as the ratings so reports never scan millions of rows
devices      the last status of each kiosk (ordered by the collector's receive time)
rejects      everything that did not follow the contract, with the reason
alert_state  per (alert rule, subject): ok, pending, firing or clearing, so a restart does not re-fire
alerts       every alert that fired, when it cleared, who acknowledged it; alert_notes holds comments
notifications  the durable outbox of e-mails and webhook calls, retried with backoff until delivered;
             its unique key also records which scheduled reports went to whom
events       durable non-rating kiosk events (v2), keyed by their id like ratings     (schema v3)
epochs       per kiosk outbox (site, device, epoch): how many messages arrived, the highest seq seen
             and the status's seq_last, kept in the batch transaction for completeness
boots        per kiosk boot: where its monotonic clock sits on real time (smallest offset seen live)
clock_corrections  per kiosk boot: ratings and events placed more than a minute from the kiosk's ts

Ratings gain the v2 fields and ``at_ms``, the time reports use (the kiosk ``ts`` stays as evidence), and
``time_unverified``; reports and the hourly rollup are by ``at_ms`` from schema v3 on.

accounts, sessions, api_tokens, audit   (schema v5)
             dashboard and API access: who may see which part of the hierarchy, and what they did
rollup_day, rollup_month, rollup_zone   (schema v6)
             the same counts per local day (by place only) and per local month (every column), in the
             time zone named in rollup_zone, so first readings of months, quarters and years stay fast
accounts.email, lang, reports   (schema v7)
             where an account's scheduled reports go, in which language, and which periods it takes
fleet_configs  per kiosk: the config the fleet pushed (its hash), beside the one the kiosk runs  (schema v8)
rollup_month_wh   (schema v9)
             per local month x site x local weekday x local hour of day: hour-of-day and weekday patterns
             of whole months, quarters and years, in the rollup_zone zone like rollup_day and rollup_month
sessions.bootstrap; rejects.site, device, size, repeats, last_at, window_ms   (schema v10)
             sessions of the bootstrap admin apart from a stored account of the same name; rejects
             counted per device, reason and time window instead of one row per message
followup_links, followup_answers   (schema v14)
             the token hash of each rating made with the thank-you QR, and the answers given on the phone
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .db_error import DatabaseError

from .followup_tables import GENERAL_FEEDBACK_TABLES, MIGRATION as FOLLOWUP_TABLES

if TYPE_CHECKING:  # db.py opens a database and calls migrate(): this module needs nothing of it at load
    from .db import Database

# Dashboard accounts and API consumers (collector/accounts/accounts.py); self-contained: it touches no other table.
ACCOUNT_TABLES = [
    """CREATE TABLE accounts (
        username TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        scope TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        created_ms BIGINT NOT NULL
    )""",
    """CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL,
        csrf TEXT NOT NULL,
        client TEXT NOT NULL DEFAULT '',
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    )""",
    "CREATE INDEX sessions_user ON sessions (username)",
    """CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL,
        scope TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE audit (
        id {serial},
        ts_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        detail TEXT NOT NULL DEFAULT '',
        client TEXT NOT NULL DEFAULT '',
        scope TEXT NOT NULL
    )""",
]

# Each migration: (version, statements). Types are chosen to mean the same in SQLite and PostgreSQL.
MIGRATIONS: list[tuple[int, list[str]]] = [
    (1, [
        """CREATE TABLE ratings (
            id TEXT PRIMARY KEY,
            v INTEGER NOT NULL,
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            ts TEXT NOT NULL,
            ts_ms BIGINT NOT NULL,
            rating INTEGER NOT NULL,
            scale INTEGER NOT NULL,
            reason TEXT,
            lang TEXT NOT NULL,
            officer TEXT,
            service TEXT,
            flags TEXT NOT NULL DEFAULT '',
            received_at TEXT NOT NULL
        )""",
        "CREATE INDEX ratings_ts ON ratings (ts_ms)",
        "CREATE INDEX ratings_site_ts ON ratings (site, ts_ms)",
        """CREATE TABLE rollup_hour (
            hour BIGINT NOT NULL,
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            officer TEXT NOT NULL DEFAULT '',
            service TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            scale INTEGER NOT NULL,
            rating INTEGER NOT NULL,
            flagged INTEGER NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (hour, site, device, officer, service, reason, scale, rating, flagged)
        ){clustered}""",
        """CREATE TABLE devices (
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            state TEXT NOT NULL,
            status_ts TEXT,
            last_seen TEXT NOT NULL,
            app_version TEXT,
            outbox_depth INTEGER,
            last_rating_ts TEXT,
            config_hash TEXT,
            clock_skew_s REAL,
            PRIMARY KEY (site, device)
        )""",
        """CREATE TABLE rejects (
            id {serial},
            received_at TEXT NOT NULL,
            topic TEXT NOT NULL,
            reason TEXT NOT NULL,
            payload {blob} NOT NULL
        )""",
        "CREATE INDEX rejects_received ON rejects (received_at)",
    ]),
    (2, [
        """CREATE TABLE alert_state (
            rule TEXT NOT NULL,
            subject TEXT NOT NULL,
            status TEXT NOT NULL,
            since TEXT NOT NULL,
            alert_id BIGINT,
            value REAL,
            memo TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (rule, subject)
        )""",
        """CREATE TABLE alerts (
            id {serial},
            rule TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            subject_name TEXT NOT NULL,
            place TEXT NOT NULL,
            fired_at TEXT NOT NULL,
            value REAL,
            detail TEXT NOT NULL,
            cleared_at TEXT,
            clear_value REAL,
            acked_at TEXT,
            acked_by TEXT
        )""",
        "CREATE INDEX alerts_fired ON alerts (fired_at)",
        """CREATE TABLE alert_notes (
            id {serial},
            alert_id BIGINT NOT NULL,
            at TEXT NOT NULL,
            author TEXT NOT NULL,
            kind TEXT NOT NULL,
            text TEXT NOT NULL
        )""",
        "CREATE INDEX alert_notes_alert ON alert_notes (alert_id)",
        """CREATE TABLE notifications (
            id {serial},
            key TEXT NOT NULL UNIQUE,
            channel TEXT NOT NULL,
            target TEXT NOT NULL,
            subject TEXT NOT NULL,
            payload {blob} NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try TEXT NOT NULL,
            claimed_until TEXT,
            last_error TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT
        )""",
        "CREATE INDEX notifications_due ON notifications (status, next_try)",
    ]),
    (3, [
        *[f"ALTER TABLE ratings ADD COLUMN {col}" for col in (
            "at_ms BIGINT", "time_unverified INTEGER NOT NULL DEFAULT 0", "epoch TEXT", "seq INTEGER", "boot TEXT",
            "mono_ms BIGINT", "clock TEXT", "request TEXT", "dossier TEXT", "ticket TEXT")],
        "UPDATE ratings SET at_ms = ts_ms",
        # Reports read by the placed time now; the kiosk's ts_ms stays as evidence, without an index.
        "DROP INDEX ratings_ts",
        "DROP INDEX ratings_site_ts",
        "CREATE INDEX ratings_at ON ratings (at_ms)",
        "CREATE INDEX ratings_site_at ON ratings (site, at_ms)",
        # Only v2 ratings are numbered: a partial index costs v1 ingest nothing.
        "CREATE INDEX ratings_epoch_seq ON ratings (epoch, seq) WHERE epoch IS NOT NULL",
        """CREATE TABLE events (
            id TEXT PRIMARY KEY,
            v INTEGER NOT NULL,
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            type TEXT NOT NULL,
            ts TEXT NOT NULL,
            ts_ms BIGINT NOT NULL,
            at_ms BIGINT NOT NULL,
            time_unverified INTEGER NOT NULL DEFAULT 0,
            epoch TEXT NOT NULL,
            seq INTEGER NOT NULL,
            boot TEXT NOT NULL,
            mono_ms BIGINT NOT NULL,
            clock TEXT NOT NULL,
            officer TEXT,
            service TEXT,
            request TEXT,
            dossier TEXT,
            ticket TEXT,
            config_hash TEXT,
            detail TEXT,
            received_at TEXT NOT NULL
        )""",
        "CREATE INDEX events_epoch_seq ON events (epoch, seq)",
        "CREATE INDEX events_site_at ON events (site, at_ms)",
        """CREATE TABLE epochs (
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            epoch TEXT NOT NULL,
            received BIGINT NOT NULL DEFAULT 0,
            max_seq BIGINT NOT NULL DEFAULT 0,
            seq_last BIGINT NOT NULL DEFAULT 0,
            seq_last_at TEXT,
            first_ms BIGINT,
            last_ms BIGINT,
            first_seen TEXT,
            last_seen TEXT,
            PRIMARY KEY (site, device, epoch)
        )""",
        """CREATE TABLE boots (
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            boot TEXT NOT NULL,
            offset_ms BIGINT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (site, device, boot)
        )""",
        "CREATE INDEX boots_seen ON boots (seen_at)",
        """CREATE TABLE clock_corrections (
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            boot TEXT NOT NULL,
            n BIGINT NOT NULL,
            min_delta_ms BIGINT NOT NULL,
            max_delta_ms BIGINT NOT NULL,
            first_ms BIGINT NOT NULL,
            last_ms BIGINT NOT NULL,
            PRIMARY KEY (site, device, boot)
        )""",
        *[f"ALTER TABLE devices ADD COLUMN {col}" for col in (
            "received_ms BIGINT", "live INTEGER", "boot TEXT", "clock TEXT", "epoch TEXT", "seq_last BIGINT",
            "officer TEXT", "config_error TEXT", "fault TEXT")],
    ]),
    (4, [
        # Ratings and events waiting for their boot's first live status (time_unverified): found by boot
        # when it comes, to be placed then. Partial: placed rows, nearly all of them, cost nothing.
        "CREATE INDEX ratings_waiting ON ratings (site, device, boot) WHERE time_unverified = 1",
        "CREATE INDEX events_waiting ON events (site, device, boot) WHERE time_unverified = 1",
    ]),
    (5, ACCOUNT_TABLES),
    (6, [
        # Coarse rollups in local time, kept by ingest beside rollup_hour (collector.storage.records). Built from
        # rollup_hour (and ratings, in a zone not a whole number of hours from UTC) by the first collector
        # that starts with a time zone, and again whenever its configured zone differs from rollup_zone.
        """CREATE TABLE rollup_day (
            day BIGINT NOT NULL,
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            scale INTEGER NOT NULL,
            rating INTEGER NOT NULL,
            flagged INTEGER NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (day, site, device, scale, rating, flagged)
        ){clustered}""",
        """CREATE TABLE rollup_month (
            month BIGINT NOT NULL,
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            officer TEXT NOT NULL DEFAULT '',
            service TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            scale INTEGER NOT NULL,
            rating INTEGER NOT NULL,
            flagged INTEGER NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (month, site, device, officer, service, reason, scale, rating, flagged)
        ){clustered}""",
        # One row: the zone rollup_day and rollup_month are complete in; '' until they are built.
        "CREATE TABLE rollup_zone (id INTEGER PRIMARY KEY, zone TEXT NOT NULL)",
        "INSERT INTO rollup_zone (id, zone) VALUES (1, '')",
    ]),
    (7, [
        # Scheduled reports go to accounts: no e-mail address, no report. Existing accounts take every period.
        "ALTER TABLE accounts ADD COLUMN email TEXT",
        "ALTER TABLE accounts ADD COLUMN lang TEXT NOT NULL DEFAULT 'vi'",
        "ALTER TABLE accounts ADD COLUMN reports TEXT NOT NULL DEFAULT 'month,quarter,6m,9m,year'",
    ]),
    (8, [
        # The config the fleet wants each kiosk to run: the retained signed config on its config topic,
        # read by collector/fleet/fleet_watch.py. Compared with devices.config_hash, the one it runs.
        """CREATE TABLE fleet_configs (
            site TEXT NOT NULL,
            device TEXT NOT NULL,
            config_hash TEXT NOT NULL,
            pushed_ts TEXT NOT NULL,
            key_id TEXT NOT NULL,
            seen_ms BIGINT NOT NULL,
            PRIMARY KEY (site, device)
        )""",
    ]),
    (9, [
        # Local weekday x hour of day per month, by site only: the patterns grid of a month reads a few
        # thousand rows instead of every hourly row. Kept by ingest like rollup_month (collector.storage.records).
        """CREATE TABLE rollup_month_wh (
            month BIGINT NOT NULL,
            site TEXT NOT NULL,
            weekday INTEGER NOT NULL,
            hour INTEGER NOT NULL,
            scale INTEGER NOT NULL,
            rating INTEGER NOT NULL,
            flagged INTEGER NOT NULL,
            n BIGINT NOT NULL,
            PRIMARY KEY (month, site, weekday, hour, scale, rating, flagged)
        ){clustered}""",
        # The coarse rollups are complete in no zone until the new table is filled: the next collector
        # that starts with a zone rebuilds them all (collector.ingest.store.sync_zone); reports read rollup_hour
        # until then.
        "UPDATE rollup_zone SET zone = ''",
    ]),
    (10, [
        # A session says whether it was opened by the bootstrap admin of collector.yaml: a stored account
        # under that name (made before the name was reserved) never inherits the bootstrap's rights.
        "ALTER TABLE sessions ADD COLUMN bootstrap INTEGER NOT NULL DEFAULT 0",
        # Rejects are bounded (collector/ingest/rejects.py): one row per device, reason and window counts its
        # repeats, keeps the first payload clipped and the real size; older rows expire.
        "ALTER TABLE rejects ADD COLUMN site TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE rejects ADD COLUMN device TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE rejects ADD COLUMN size BIGINT",
        "ALTER TABLE rejects ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1",
        "ALTER TABLE rejects ADD COLUMN last_at TEXT",
        "ALTER TABLE rejects ADD COLUMN window_ms BIGINT",
        "CREATE UNIQUE INDEX rejects_window ON rejects (window_ms, site, device, reason)",
    ]),
    (11, [
        # Receipts (contract v2): what a kiosk's status says still waits for the database, since when, and
        # whether it keeps rows until their receipt ("on") or trusts the broker ("fallback", "off").
        *[f"ALTER TABLE devices ADD COLUMN {col}" for col in (
            "unreceipted BIGINT", "unreceipted_since TEXT", "receipts TEXT")],
    ]),
    (12, [
        # Two kiosks with one device id (collector/ingest/clones.py): the boots its live statuses came from,
        # and when statuses went back to a boot left minutes before.
        *[f"ALTER TABLE devices ADD COLUMN {col}" for col in (
            "track_boot TEXT", "prev_boot TEXT", "prev_boot_ms BIGINT", "shared_since_ms BIGINT",
            "shared_last_ms BIGINT", "shared_flips INTEGER")],
    ]),
    (13, [
        # Whether a kiosk takes configs pushed by the fleet ("on"/"off", from its v2 status; NULL: not said):
        # one configured by hand without fleet.public_key ignores every push, and the devices page says so.
        "ALTER TABLE devices ADD COLUMN pushes TEXT",
    ]),
    # The thank-you QR (collector/followup/answers.py): each rating's token hash, and the citizens' answers.
    (14, FOLLOWUP_TABLES),
    # The kiosk's speaking mode (contract v2 rating field mode): "speaking", else NULL. The partial index keeps
    # the reports' count of such ratings cheap over a month of millions of rows.
    (15, [
        "ALTER TABLE ratings ADD COLUMN mode TEXT",
        "CREATE INDEX ratings_speaking ON ratings (at_ms) WHERE mode = 'speaking'",
    ]),
    # The static counter QR's general feedback (collector/followup/general.py): codes per counter, answers apart.
    (16, GENERAL_FEEDBACK_TABLES),
]

_TYPES = {
    # WITHOUT ROWID keeps rollup rows in key order: month reports read them without a second lookup.
    "sqlite": {"serial": "INTEGER PRIMARY KEY AUTOINCREMENT", "blob": "BLOB", "clustered": " WITHOUT ROWID"},
    "postgres": {"serial": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "blob": "BYTEA", "clustered": ""},
}
LATEST = MIGRATIONS[-1][0]
_PG_LOCK_KEY = 482_910_117  # any constant: serialises migrations of collectors starting together


def current_version(db: Database) -> int:
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    return db.scalar("SELECT MAX(version) FROM schema_version") or 0


def migrate(db: Database) -> int:
    """Apply missing migrations; returns the schema version now in force."""
    if db.dialect == "postgres":
        db.execute("SELECT pg_advisory_lock(?)", (_PG_LOCK_KEY,))
    try:
        version = current_version(db)
        if version > LATEST:
            raise DatabaseError(f"database schema v{version} is newer than this collector (v{LATEST}): upgrade it")
        # Every version not recorded yet, not only those above the highest: a database that took v7
        # before v6 existed (both were written at the same time) still gets v6.
        applied = {int(v) for (v,) in db.query("SELECT version FROM schema_version")}
        for target, statements in MIGRATIONS:
            if target in applied:
                continue
            with db.transaction():
                # Re-read inside the write transaction: another process may have just migrated.
                if db.scalar("SELECT COUNT(*) FROM schema_version WHERE version = ?", (target,)):
                    continue
                for sql in statements:
                    db.execute(sql.format(**_TYPES[db.dialect]))
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (target,))
            applied.add(target)
        return max(applied, default=0)
    finally:
        if db.dialect == "postgres":
            db.execute("SELECT pg_advisory_unlock(?)", (_PG_LOCK_KEY,))
