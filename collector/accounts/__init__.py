"""Dashboard accounts, sessions and API tokens, and their commands."""
