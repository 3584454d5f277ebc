"""Request bodies: JSON that every later step can hold, or a 400 before anything is read.

One walk over the decoded body refuses what no database could store (NUL, lone UTF-16
surrogates, NaN) and what would make later work grow without bound (nesting, lists, the number
of values), naming the place in the body that is at fault.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import request

from heap.text import storable
from scim.constants import MAX_JSON_DEPTH, MAX_JSON_VALUES, MAX_LIST_ENTRIES, MAX_OBJECT_KEYS
from scim.errors import ScimError


def request_json() -> Any:
    """The request body as JSON, whatever the Content-Type says.

    Okta sends ``application/scim+json; charset=utf-8``, its spec test ``application/json``; some
    clients send none. Anything that parses and passes ``check_body`` is accepted; invalid JSON
    (invalid UTF-8 included) is 400 invalidSyntax.
    """
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ScimError(400, "The request has no body; send a JSON object.", "invalidSyntax")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise ScimError(400, "The request body is not valid JSON.", "invalidSyntax") from None
    check_body(body)
    return body


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Where a value sits in the body, as a chain (parent, key or index), built only on error: a
# path string per value would copy a long key into every value below it.
_Where = tuple["_Where", str | int] | None


def check_body(body: Any) -> None:
    """Refuse a decoded body that can't be stored or would be costly to process; else nothing."""
    # Iterative, so the walk itself never recurses: (value, depth, where) per JSON value.
    pending: list[tuple[Any, int, _Where]] = [(body, 0, None)]
    seen = 0
    while pending:
        value, depth, where = pending.pop()
        seen += 1
        if seen > MAX_JSON_VALUES:
            raise ScimError(
                400,
                f"The body holds more than {MAX_JSON_VALUES:,} JSON values; no SCIM request "
                "needs that many. Split it into several requests.",
                "invalidValue",
            )
        if isinstance(value, str):
            if not storable(value):
                raise _unstorable(where)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ScimError(400, f"{_at(where)}numbers must be finite.", "invalidValue")
        elif isinstance(value, dict | list):
            if depth >= MAX_JSON_DEPTH:
                raise ScimError(
                    400, f"The body nests deeper than {MAX_JSON_DEPTH} levels.", "invalidSyntax"
                )
            if isinstance(value, list):
                if len(value) > MAX_LIST_ENTRIES:
                    raise ScimError(
                        400,
                        f"{_at(where)}a list of {len(value):,} entries; at most "
                        f"{MAX_LIST_ENTRIES:,} are accepted in one request.",
                        "invalidValue",
                    )
                pending.extend((item, depth + 1, (where, i)) for i, item in enumerate(value))
            else:
                if len(value) > MAX_OBJECT_KEYS:
                    raise ScimError(
                        400,
                        f"{_at(where)}an object of {len(value):,} attributes; at most "
                        f"{MAX_OBJECT_KEYS:,} are accepted in one object.",
                        "invalidValue",
                    )
                for key, item in value.items():
                    if not storable(key):
                        raise _unstorable((where, "(a key)"))
                    pending.append((item, depth + 1, (where, key)))


def _at(where: _Where) -> str:
    parts: list[str] = []
    while where is not None:
        where, step = where
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step[:60]}")
    # Keys are the sender's: a long one is cut short, so the message stays short.
    text = "".join(reversed(parts)).lstrip(".")
    return f"{text[:120]}: " if text else ""


def _unstorable(where: _Where) -> ScimError:
    return ScimError(
        400,
        f"{_at(where)}the text contains a NUL character or an unpaired UTF-16 surrogate (a value "
        "cut in the middle of a character). Send valid Unicode text.",
        "invalidValue",
    )
