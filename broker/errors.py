"""The one error type the broker tooling raises for things a person can fix."""
from __future__ import annotations


class SetupError(Exception):
    """One line naming the thing and the fix; the CLI prints it without a traceback."""
