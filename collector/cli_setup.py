"""What every collector command does first: read collector.yaml and open the database, or say why not.

Each returns None after printing the reason to stderr; the command then exits 2.
"""
from __future__ import annotations

import sys


def collector_config(path: str):
    """collector.yaml as typed objects (config.collector.CollectorConfig)."""
    from config import ConfigError, load

    try:
        return load(path, kind="collector")
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return None


def open_db(cfg, url: str | None):
    """The database at ``url`` (default: database.url of the config), schema brought up to date; raises
    ValueError (an unset password variable) or DatabaseError."""
    from .db import connect

    password = cfg.database.password.resolve() if cfg.database.password else None
    return connect(url or cfg.database.url, password)


def database(cfg, url: str | None, command: str):
    """``open_db``, or None after printing '<command>: <why>'."""
    from .db import DatabaseError

    try:
        return open_db(cfg, url)
    except (ValueError, DatabaseError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None
