"""The SCIM 2.0 door (RFC 7643/7644) at /scim/v2, as Okta and Entra ID use it."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")


def init_app(app: Flask) -> None:
    # Routes and handlers attach themselves to ``bp`` when their modules are imported.
    from scim import auth, discovery, errors, groups, users  # noqa: F401

    errors.init_app(app)
    app.register_blueprint(bp)
