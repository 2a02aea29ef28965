"""The outbox file's tables (kiosk/outbox.py writes them, kiosk/salvage.py copies into a new file)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- send order
    id TEXT NOT NULL UNIQUE,                 -- the message's event id
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,                   -- encoded contract payload, sent as is
    created TEXT NOT NULL,
    msg_seq INTEGER,                         -- number in this outbox epoch, NULL if carried over
    r_epoch TEXT,                            -- the (epoch, seq) a receipt names it by, '' if none (v1)
    r_seq INTEGER,
    sent INTEGER                             -- monotonic ms of its last PUBACK, NULL: not acknowledged
);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reports (         -- salvage and loss reports, kept until sent as events
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    created TEXT NOT NULL,
    body TEXT NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0
);
"""

UPSERT_META = ("INSERT INTO meta (key, value) VALUES (?, ?) "
               "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
