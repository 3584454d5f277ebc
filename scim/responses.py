"""SCIM response envelopes: every body leaves as application/scim+json."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Response

from heap.text import repaired
from scim.constants import ERROR_URN, LIST_RESPONSE_URN, MAX_DETAIL, MEDIA_TYPE


def scim_response(
    body: Mapping[str, Any] | None,
    status: int = 200,
    *,
    location: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    payload = b"" if body is None else _encoded(body)
    response = Response(payload, status=status, mimetype=MEDIA_TYPE)
    if body is None:
        response.headers.pop("Content-Type", None)
    if location:
        response.headers["Location"] = location
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _encoded(body: Mapping[str, Any]) -> bytes:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # A row stored before the doors refused lone surrogates must not make the whole page
        # (Okta's import of every user) fail: those characters go out as U+FFFD.
        return repaired(text).encode("utf-8")


def list_response(
    resources: Sequence[Mapping[str, Any]], *, total: int, start_index: int
) -> Response:
    return scim_response(
        {
            "schemas": [LIST_RESPONSE_URN],
            "totalResults": total,
            "startIndex": start_index,
            "itemsPerPage": len(resources),
            "Resources": list(resources),
        }
    )


def error_response(
    status: int,
    detail: str,
    *,
    scim_type: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"schemas": [ERROR_URN], "status": str(status)}
    if scim_type:
        body["scimType"] = scim_type
    # Details quote what was sent; however much that was, the error stays small.
    body["detail"] = detail if len(detail) <= MAX_DETAIL else detail[: MAX_DETAIL - 1] + "…"
    return scim_response(body, status, headers=headers)
