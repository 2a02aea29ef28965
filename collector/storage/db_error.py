"""The one error the database layer raises (db.py and schema.py both use it; neither imports the other at load)."""


class DatabaseError(RuntimeError):
    """A database that cannot be opened or used, with a message a person can act on."""
