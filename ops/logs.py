"""JSON log lines: one object per line, with the request id, so log search can follow a request."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask, g, has_request_context, request

# The loggers whose lines this service writes; gunicorn's own go through gunicorn.conf.py.
APP_LOGGERS = ("heap", "scim", "graph", "ops")


class JsonFormatter(logging.Formatter):
    """A log record as one JSON object. Cheap: one dict, one dumps, no per-line lookups beyond
    the request's own; records with ``fields`` (the access line) carry those instead."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "request_id": g.get("request_id") if has_request_context() else None,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        elif has_request_context():
            entry["method"], entry["path"] = request.method, request.path
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_last_second = -1
_last_stamp = ""


def _timestamp(created: float) -> str:
    # strftime once per second, not once per line.
    global _last_second, _last_stamp
    second = int(created)
    if second != _last_second:
        _last_stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = second
    return f"{_last_stamp}.{int((created - second) * 1000):03d}Z"


def configure(app: Flask) -> None:
    """Send the app's loggers to stderr as JSON lines, at ``LOG_LEVEL``."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in (*APP_LOGGERS, app.logger.name):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(app.config["LOG_LEVEL"])
        logger.propagate = False
