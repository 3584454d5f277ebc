"""Security headers and no cookies. Every response: ``nosniff``. HTML responses (GraphiQL) also
get a strict Content-Security-Policy, no framing and no Referer.

Four fixed headers do not earn a dependency: Flask-Talisman would also force HTTPS redirects and
HSTS, which belong to the TLS-terminating proxy in front of gunicorn, not to the app.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface

# What the GraphiQL page needs and nothing more: its scripts, styles and API calls are all on
# this origin (graph/graphiql), its fonts and icons are data: URLs inside graphiql.css, and it
# has no inline script (its settings are a JSON data block, which CSP does not treat as script).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

HTML_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    # frame-ancestors for current browsers, X-Frame-Options for the rest: no clickjacking.
    "X-Frame-Options": "DENY",
    # Tokens never travel in URLs, but the page has no reason to tell other sites where it was.
    "Referrer-Policy": "no-referrer",
}


def add_security_headers(response: Response) -> Response:
    """Headers a view already set win: a page with its own policy keeps it."""
    # Browsers must take every response (JSON, scripts, styles) as the type it says it is.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        for name, value in HTML_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


class NoCookieSession(SessionInterface):
    """Flask's signed-cookie session, turned off.

    Both doors authenticate every request by its bearer token and keep nothing in a cookie, so
    there is no cookie for another site to ride on (no CSRF surface). Flask's default interface
    still built a signing serializer for every request, to find no cookie: 5% of a single-user
    GET here (SQLite, in-process). ``flask.session`` is a ``NullSession``, which refuses writes.
    """

    def open_session(self, app: Flask, request: Request) -> None:
        return None

    def save_session(self, app: Flask, session: Any, response: Response) -> None:
        return None


def init_app(app: Flask) -> None:
    app.session_interface = NoCookieSession()
    app.after_request(add_security_headers)
