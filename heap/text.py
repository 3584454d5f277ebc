"""Text as the database can hold it: PostgreSQL refuses NUL characters in text columns."""

from __future__ import annotations

from heap.errors import Invalid

NUL = "\x00"


def has_nul(value: str) -> bool:
    return NUL in value


def refuse_nul(value: str, field: str) -> str:
    """``value`` unchanged; ``Invalid`` naming ``field`` when it holds a NUL character.

    PostgreSQL would answer such a value with an error (a 500), SQLite would store it: neither
    database should see one, so every cleaner of text input calls this once.
    """
    if has_nul(value):
        raise Invalid(f"{field} must not contain NUL characters.", field=field)
    return value
