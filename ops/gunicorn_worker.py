"""gunicorn workers whose own error responses are JSON, like every answer of the app.

gunicorn answers some requests itself, before Flask sees them: a request line over
``limit_request_line`` (414), too many or too large headers (431), a malformed request (400). Its
stock page is HTML. These workers answer JSON instead, readable by either door's client (gunicorn
cannot know the path of a request it could not parse): the SCIM Error members (``schemas``,
``status``, ``detail``) and a GraphQL ``errors`` list side by side. gunicorn.conf.py picks the
sync or the threaded one from ``GUNICORN_THREADS``.
"""

from __future__ import annotations

import json
import logging
from ssl import SSLError
from typing import Any

from gunicorn import util
from gunicorn.http import errors as http
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

# The SCIM Error URN (scim/constants.py); spelled out so that ops/ imports no door.
_SCIM_ERROR_URN = "urn:ietf:params:scim:api:messages:2.0:Error"

access_log = logging.getLogger("ops.access")

# (exception classes, status, reason, code); the first match wins, anything else is a 400 when
# gunicorn's parser raised it and a 500 otherwise.
_CLIENT_ERRORS: tuple[tuple[tuple[type[BaseException], ...], int, str, str], ...] = (
    ((http.LimitRequestLine,), 414, "URI Too Long", "URI_TOO_LONG"),
    ((http.LimitRequestHeaders,), 431, "Request Header Fields Too Large", "HEADERS_TOO_LARGE"),
    ((http.ForbiddenProxyRequest, SSLError), 403, "Forbidden", "FORBIDDEN"),
    ((http.UnsupportedTransferCoding,), 501, "Not Implemented", "NOT_IMPLEMENTED"),
    ((http.ExpectationFailed,), 417, "Expectation Failed", "EXPECTATION_FAILED"),
)
# The application's fault, not the client's, though gunicorn's parser module defines them.
_SERVER_ERRORS = (
    http.InvalidResponseHeader,
    http.InvalidResponseHeaderName,
    http.ConfigurationProblem,
)


def classify(exc: BaseException, limit_request_line: int) -> tuple[int, str, str, str]:
    """(status, reason, code, message) for an error gunicorn caught."""
    if isinstance(exc, _SERVER_ERRORS) or not isinstance(exc, http.ParseException | SSLError):
        return (
            500,
            "Internal Server Error",
            "INTERNAL_SERVER_ERROR",
            ("The server could not handle this request."),
        )
    status, reason, code = next(
        (
            (status, reason, code)
            for classes, status, reason, code in _CLIENT_ERRORS
            if isinstance(exc, classes)
        ),
        (400, "Bad Request", "BAD_REQUEST"),
    )
    if status == 414:
        message = (
            f"The request line is longer than {limit_request_line} bytes. Shorten the URL: a "
            "SCIM filter fits when its percent-encoded form does."
        )
    elif status == 431:
        message = "The request has too many header fields, or one is too large."
    else:
        message = f"{reason}: {exc}"
    return status, reason, code, message


def error_bytes(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps(
        {
            "schemas": [_SCIM_ERROR_URN],
            "status": str(status),
            "detail": message,
            "errors": [{"message": message, "extensions": {"code": code}}],
        }
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorsMixin:
    cfg: Any
    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status, reason, code, message = classify(exc, self.cfg.limit_request_line)
        peer = (addr or ("", -1))[0]
        if status >= 500:
            self.log.exception("Error handling request from ip=%s", peer)
        else:
            self.log.warning("Invalid request from ip=%s: %s", peer, exc)
        # The app never saw this request: this is its one access line.
        access_log.info(
            "%s answered by gunicorn",
            status,
            extra={
                "fields": {
                    "method": getattr(req, "method", None),
                    "path": getattr(req, "uri", None),
                    "status": status,
                    "duration_ms": 0,
                    "who": None,
                }
            },
        )
        try:
            util.write_nonblock(client, error_bytes(status, reason, code, message))
        except Exception:
            self.log.debug("Failed to send error message.")


class JsonErrorsSyncWorker(JsonErrorsMixin, SyncWorker):
    """gunicorn's sync worker (one request at a time per process), with JSON error pages."""


class JsonErrorsThreadWorker(JsonErrorsMixin, ThreadWorker):
    """gunicorn's threaded worker (``GUNICORN_THREADS`` > 1), with JSON error pages."""
