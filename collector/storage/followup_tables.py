"""The tables of the follow-up answers (collector/followup/answers.py), created by migration 14 of
schema.py: kept in the storage layer so the schema imports nothing above it."""

MIGRATION = [
    """CREATE TABLE followup_links (
        rating_id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL,
        site TEXT NOT NULL,
        device TEXT NOT NULL,
        at_ms BIGINT NOT NULL
    )""",
    """CREATE TABLE followup_answers (
        id {serial},
        rating_id TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL,
        site TEXT NOT NULL DEFAULT '',
        device TEXT NOT NULL DEFAULT '',
        lang TEXT NOT NULL DEFAULT 'vi',
        s_access INTEGER, s_procedure INTEGER, s_staff INTEGER, s_result INTEGER, s_feedback INTEGER,
        comment TEXT,
        contact TEXT,
        submitted_ms BIGINT NOT NULL,
        ttl_ms BIGINT NOT NULL,
        joined_ms BIGINT,
        purged INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX followup_answers_rating ON followup_answers (rating_id)",
    "CREATE UNIQUE INDEX followup_answers_joined ON followup_answers (rating_id) WHERE state = 'joined'",
    "CREATE INDEX followup_answers_site ON followup_answers (state, site, submitted_ms)",
]

# The printed counter QR's codes and its general feedback (collector/followup/general.py), migration 16.
GENERAL_FEEDBACK_TABLES = [
    """CREATE TABLE followup_counters (
        code TEXT PRIMARY KEY,
        site TEXT NOT NULL,
        device TEXT NOT NULL,
        name TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        revoked_ms BIGINT
    )""",
    "CREATE INDEX followup_counters_place ON followup_counters (site, device)",
    """CREATE TABLE followup_general (
        id {serial},
        code TEXT NOT NULL,
        site TEXT NOT NULL,
        device TEXT NOT NULL,
        lang TEXT NOT NULL DEFAULT 'vi',
        s_access INTEGER, s_procedure INTEGER, s_staff INTEGER, s_result INTEGER, s_feedback INTEGER,
        comment TEXT,
        contact TEXT,
        submitted_ms BIGINT NOT NULL,
        purged INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX followup_general_site ON followup_general (site, submitted_ms)",
]
