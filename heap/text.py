"""Text as every part of the stack can hold it.

Two kinds of character are refused wherever text comes in:
- NUL: PostgreSQL text columns can't store it (SQLite would, so the databases would disagree);
- a lone UTF-16 surrogate (U+D800 to U+DFFF on its own): JSON's ``"\\ud800"`` escape decodes to
  one, IdPs that cut strings in UTF-16 send them, and no UTF-8 encoder takes one: psycopg and
  sqlite3 refuse the bind, PostgreSQL's JSON operators refuse the value, and a response body
  holding one can't be encoded at all. A surrogate *pair* is decoded into one astral character
  by ``json.loads``, so any surrogate code point left in a ``str`` is a lone one.
"""

from __future__ import annotations

import re
from typing import Any

from heap.errors import Invalid

NUL = "\x00"
REPLACEMENT = "\ufffd"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> bool:
    """Whether ``value`` holds neither a NUL nor a lone surrogate."""
    return _UNSTORABLE.search(value) is None


def require_storable(value: str, field: str) -> str:
    """``value`` unchanged; ``Invalid`` naming ``field`` when the databases can't hold it.

    Every cleaner of text input calls this once, so both doors and the CLI refuse the same text.
    """
    if not storable(value):
        raise Invalid(
            f"{field} contains a NUL character or an unpaired UTF-16 surrogate (a value cut in "
            "the middle of a character); send it as valid Unicode text.",
            field=field,
        )
    return value


def repaired(value: str) -> str:
    """``value`` with each NUL and lone surrogate replaced by U+FFFD, the replacement character.

    For output and for repairing rows stored before the doors refused such text: a response must
    be encodable whatever one row holds.
    """
    return _UNSTORABLE.sub(REPLACEMENT, value)


def repaired_json(value: Any) -> Any:
    """A JSON value (keys included) with its text ``repaired``: ``value`` itself when it holds
    nothing to repair, so a caller can tell by identity whether anything changed."""
    if isinstance(value, str):
        return value if storable(value) else repaired(value)
    if isinstance(value, list):
        items = [repaired_json(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        pairs = [(repaired_json(k), repaired_json(v)) for k, v in value.items()]
        unchanged = all(
            k is k2 and v is v2 for (k, v), (k2, v2) in zip(value.items(), pairs, strict=True)
        )
        return value if unchanged else dict(pairs)
    return value
