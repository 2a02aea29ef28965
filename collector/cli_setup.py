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


def secret(value, field: str) -> str | None:
    """A ``{env: NAME}`` or ``{file: PATH}`` secret of collector.yaml read now (None when not configured);
    raises ValueError with one line, Vietnamese first, naming the field and how to fix it."""
    if value is None:
        return None
    try:
        return value.resolve()
    except ValueError as exc:
        if value.env is not None:
            raise ValueError(f"{field}: biến môi trường {value.env} chưa được đặt; hãy đặt nó rồi chạy lại "
                             f"(export {value.env}=...) / environment variable {value.env} is not set; "
                             "set it and start again") from None
        raise ValueError(f"{field}: không đọc được tệp {value.file} / {exc}") from None


def open_db(cfg, url: str | None):
    """The database at ``url`` (default: database.url of the config), schema brought up to date; raises
    ValueError (an unset password variable) or DatabaseError."""
    from .storage.db import connect

    password = secret(cfg.database.password, "database.password")
    return connect(url or cfg.database.url, password)


def database(cfg, url: str | None, command: str):
    """``open_db``, or None after printing '<command>: <why>'."""
    from .storage.db import DatabaseError

    try:
        return open_db(cfg, url)
    except (ValueError, DatabaseError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return None
