"""What /graphql accepts on the wire, and the JSON it answers with when it refuses a request.

A body that is not a JSON object, not UTF-8, nested absurdly deep, or carrying text that isn't
Unicode (a lone UTF-16 surrogate, which some clients produce by cutting strings) is the client's
mistake: a 400 with a GraphQL-shaped error the developer can act on, never an HTML page, a 500
or a traceback in the log.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, g

from graph.errors import TopLevelCode

# Deeper than any request this schema can take (an input object holds a list of ids at most),
# far below what would strain the parser or the checks below.
MAX_JSON_DEPTH = 32

EXAMPLE = '{"query": "{ viewer { email } }", "variables": {}}'


class BadRequest(Exception):
    """A request /graphql can't take, with what to send instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def error_response(
    status: int, message: str, *, code: TopLevelCode, headers: dict[str, str] | None = None
) -> Response:
    """A GraphQL-over-HTTP error body: no ``data``, one error with ``extensions.code`` and the
    request id (which the log line has too)."""
    extensions = {"code": code.value, "requestId": g.get("request_id")}
    body = {"errors": [{"message": message, "extensions": extensions}]}
    return Response(
        json.dumps(body), status=status, mimetype="application/json", headers=headers or {}
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_utf8(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(
            f"The body is not valid UTF-8 (byte {error.start}): send JSON as UTF-8 text."
        ) from error


def decode_object(data: str | bytes) -> dict[str, Any]:
    """A JSON object from UTF-8 text, or BadRequest saying what is wrong with it."""
    text = check_utf8(data) if isinstance(data, bytes) else data
    try:
        # NaN and Infinity are Python's, not JSON's; too many digits is a ValueError too.
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError as error:
        raise BadRequest(f"The JSON nests deeper than {MAX_JSON_DEPTH} levels.") from error
    except ValueError as error:
        raise BadRequest(f"The body is not valid JSON: send an object like {EXAMPLE}.") from error
    if not isinstance(value, dict):
        raise BadRequest(
            f"Expected a JSON object like {EXAMPLE}; got {_json_kind(value)}. "
            "Batches (arrays of operations) are not accepted: send one operation per request."
        )
    check_json(value)
    return value


def check_json(value: Any) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH and text UTF-8 can't carry, anywhere inside.

    Iterative, so nothing a client sends can exhaust the stack here.
    """
    pending: list[tuple[Any, str, int]] = [(value, "", 0)]
    while pending:
        item, path, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(f"The JSON nests deeper than {MAX_JSON_DEPTH} levels (at {path}).")
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key, path)
                pending.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(item, list):
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(item))


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        where = f" in {path}" if path else ""
        raise BadRequest(
            f"Text{where} is not valid Unicode: character {error.start} is a lone UTF-16 "
            f"surrogate ({text[error.start]!a}). Send whole characters as UTF-8."
        ) from error


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"
