"""Trust X-Forwarded-* only when told how many proxies stand in front (``PROXY_FIX_HOPS``).

Off by default: a client talking to the app directly could otherwise claim any address, and the
per-address rate limit keys on it. gunicorn's ``forwarded_allow_ips`` (gunicorn.conf.py) guards
the scheme headers gunicorn itself reads; this covers what the app reads (the client address).
Set it only when every request reaches the app through that many proxies.
"""

from __future__ import annotations

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix


def init_app(app: Flask) -> None:
    hops = int(app.config.setdefault("PROXY_FIX_HOPS", int(os.environ.get("PROXY_FIX_HOPS", 0))))
    if hops > 0:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0
        )
