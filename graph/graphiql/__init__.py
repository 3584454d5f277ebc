"""GraphiQL from this service's own files: no CDN, so it works offline and under a strict CSP.

The page (``page.html``) loads only what ``make install`` copied into ``dist/`` (see build.py),
by content-hashed URL with its integrity hash, plus its own ``start.js``; it has no inline script.
Without those files, the page says so and gives the command that installs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, abort, current_app, render_template_string, send_from_directory

from graph.graphiql.build import DIST, MANIFEST

HERE = Path(__file__).resolve().parent
ASSET_PREFIX = "/graphql/assets/"
# Content-hashed names never change meaning, so browsers may keep them for a year untouched.
ASSET_MAX_AGE = 365 * 24 * 3600
INSTALL_COMMAND = "make install"

# What the page opens with the first time (afterwards GraphiQL restores the user's own tabs).
# It runs as is for the demo admin once their viewer token is in the Headers tab.
DEFAULT_QUERY = """\
# Heap's GraphQL API. To sign in, open the
# Headers tab below and replace <viewer token>
# with yours: `make run` prints one, and
#   .venv/bin/flask --app app users token EMAIL
# mints another (demo admin: admin@acme.example).
# Then press the run button, or Ctrl-Enter.
query {
  viewer { email role { name } }
  account {
    name plan ssoConfigured
    scim { enabled viewerCannotEnableReasons }
  }
}
"""
DEFAULT_HEADERS = '{\n  "Authorization": "Bearer <viewer token>"\n}'


FAILED_MESSAGE = (
    "GraphiQL could not start: its files did not load (the browser's console names the file). "
    f"On the server, run `{INSTALL_COMMAND}` in the service's folder, then reload."
)


@dataclass(frozen=True)
class Asset:
    file: str
    integrity: str

    @property
    def url(self) -> str:
        return ASSET_PREFIX + self.file


def assets(dist: Path) -> dict[str, Asset] | None:
    """The manifest ``make install`` wrote, as URLs; None when GraphiQL's files are missing."""
    try:
        manifest = json.loads((dist / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return {
        name: Asset(file=entry["file"], integrity=entry["integrity"])
        for name, entry in manifest.items()
    }


def _dist() -> Path:
    return Path(current_app.config["GRAPHIQL_ASSETS_DIR"])


def page(endpoint: str) -> Response:
    """The GraphiQL page for ``endpoint``; a plain explanation if the files are not installed."""
    found = assets(_dist())
    if found is None:
        html = render_template_string(
            (HERE / "missing.html").read_text(), command=INSTALL_COMMAND, endpoint=endpoint
        )
        # 503: this server cannot serve GraphiQL until an operator installs its files.
        response = Response(html, status=503, mimetype="text/html")
    else:
        settings = {
            "endpoint": endpoint,
            "defaultQuery": DEFAULT_QUERY,
            "defaultHeaders": DEFAULT_HEADERS,
            "failedMessage": FAILED_MESSAGE,
        }
        html = render_template_string(
            (HERE / "page.html").read_text(),
            assets=found,
            settings=settings,
            command=INSTALL_COMMAND,
        )
        response = Response(html, mimetype="text/html")
    # The page names the current asset hashes: never reuse a stale copy of it.
    response.headers["Cache-Control"] = "no-cache"
    return response


def serve_asset(file: str) -> Response:
    """One file the manifest lists; anything else in (or outside) the folder is a 404."""
    found = assets(_dist())
    if found is None or file not in {asset.file for asset in found.values()}:
        abort(404)
    response = send_from_directory(_dist(), file, max_age=ASSET_MAX_AGE)
    response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}, immutable"
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("GRAPHIQL_ASSETS_DIR", str(DIST))
    app.add_url_rule(f"{ASSET_PREFIX}<path:file>", "graphiql_asset", serve_asset)
