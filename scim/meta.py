"""``meta`` (RFC 7643 §3.1), the part every resource carries, and the URLs it holds."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from scim import bp


def location(path: str) -> str:
    """The absolute URL of a resource, e.g. ``location("Users/<id>")``."""
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    return f"{base}{bp.url_prefix}/{path}"


def timestamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def meta(
    resource_type: str, *, created: datetime, last_modified: datetime, path: str
) -> dict[str, str]:
    return {
        "resourceType": resource_type,
        "created": timestamp(created),
        "lastModified": timestamp(last_modified),
        "location": location(path),
    }
