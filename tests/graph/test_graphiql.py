"""GraphiQL's page and files, through HTTP: same origin only, hashed and cached, integrity-checked,
a plain explanation when the files are missing, security headers on every HTML page.

The files here are built by graph/graphiql/build.py from stand-in sources in a temp folder, so
these tests need no npm; tests/e2e/test_graphiql_browser.py runs the real ones in Chromium.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from graph.graphiql import DEFAULT_QUERY
from graph.graphiql.build import MANIFEST, MissingFiles, Source, build, hashed_name, sources
from ops.security import CONTENT_SECURITY_POLICY
from tests.graph.conftest import make_user, post, viewer_token

HTML = {"Accept": "text/html"}


class _Links(HTMLParser):
    """Every URL the page makes the browser load, and its scripts' and styles' attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[dict[str, str | None]] = []
        self.data_blocks: list[str] = []
        self.event_handlers: list[str] = []
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.event_handlers += [name for name in attributes if name.startswith("on")]
        if tag == "script" and attributes.get("type") == "application/json":
            self._in_data = True
        elif tag in {"script", "link", "img", "iframe"}:
            self.loads.append({"tag": tag, **attributes})

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data_blocks.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False


def _parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


@pytest.fixture
def dist(app: Flask, tmp_path: Path) -> Iterator[Path]:
    """GraphiQL's files built from stand-ins (real build code, real folder), served by ``app``."""
    vendor = tmp_path / "node_modules"
    stand_ins = {
        "react/umd/react.production.min.js": "window.React = {};\n//# sourceMappingURL=r.map\n",
        "react-dom/umd/react-dom.production.min.js": "window.ReactDOM = {};\n",
        "graphiql/graphiql.min.js": "window.GraphiQL = function () {};\n",
        "graphiql/graphiql.min.css": ".graphiql { color: red }\n/*# sourceMappingURL=g.map*/",
    }
    for relative, content in stand_ins.items():
        (vendor / relative).parent.mkdir(parents=True, exist_ok=True)
        (vendor / relative).write_text(content)
    folder = tmp_path / "dist"
    build(sources(vendor), folder)
    previous = app.config["GRAPHIQL_ASSETS_DIR"]
    app.config["GRAPHIQL_ASSETS_DIR"] = str(folder)
    yield folder
    app.config["GRAPHIQL_ASSETS_DIR"] = previous


def test_the_page_loads_only_this_origin_with_integrity(client: FlaskClient, dist: Path) -> None:
    response = client.get("/graphql", headers=HTML)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"
    links = _parse(response.get_data(as_text=True))
    urls = [load.get("src") or load.get("href") for load in links.loads]
    # The page's own icon is an empty data: URL; everything else is a hashed file of ours.
    assert [url for url in urls if url and not url.startswith("data:")] == [
        f"/graphql/assets/{json.loads((dist / MANIFEST).read_text())[name]['file']}"
        for name in (
            "graphiql.css",
            "page.css",
            "react.js",
            "react-dom.js",
            "graphiql.js",
            "start.js",
        )
    ]
    for load in links.loads:
        url = load.get("src") or load.get("href") or ""
        if url.startswith("data:"):
            continue
        asset = client.get(url)
        assert asset.status_code == 200
        digest = base64.b64encode(hashlib.sha384(asset.get_data()).digest()).decode()
        assert load["integrity"] == f"sha384-{digest}", url
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert asset.headers["X-Content-Type-Options"] == "nosniff"


def test_no_inline_script_and_no_other_origin(client: FlaskClient, dist: Path) -> None:
    html = client.get("/graphql", headers=HTML).get_data(as_text=True)
    assert "unpkg" not in html and "cdn" not in html.lower()
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html)
    # Only a JSON data block: CSP's script-src 'self' does not apply to it, and it is valid JSON.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == [
        '<script type="application/json" id="graphiql-settings">'
    ]
    assert _parse(html).event_handlers == []  # inline handlers (onload=...) are script too


def test_the_files_keep_their_content_minus_source_map_comments(dist: Path) -> None:
    manifest = json.loads((dist / MANIFEST).read_text())
    react = (dist / manifest["react.js"]["file"]).read_text()
    assert react == "window.React = {};\n"
    assert "sourceMappingURL" not in (dist / manifest["graphiql.css"]["file"]).read_text()
    start = (dist / manifest["start.js"]["file"]).read_bytes()
    assert manifest["start.js"]["file"] == hashed_name("start.js", start)
    assert sorted(p.name for p in dist.iterdir()) == sorted(
        [MANIFEST, *(entry["file"] for entry in manifest.values())]
    )


def test_only_listed_files_are_served(client: FlaskClient, dist: Path) -> None:
    (dist / "secret.txt").write_text("not listed")
    for path in (
        "/graphql/assets/secret.txt",
        f"/graphql/assets/{MANIFEST}",
        "/graphql/assets/../../app.py",
        "/graphql/assets/%2e%2e/%2e%2e/app.py",
        "/graphql/assets/react.0000000000000000.js",
    ):
        assert client.get(path).status_code == 404, path


def test_settings_carry_a_default_query_that_works_for_an_admin(
    app: Flask, client: FlaskClient, dist: Path
) -> None:
    html = client.get("/graphql", headers=HTML).get_data(as_text=True)
    (block,) = _parse(html).data_blocks
    settings = json.loads(block)
    assert settings["endpoint"] == "/graphql"
    assert settings["defaultQuery"] == DEFAULT_QUERY
    assert "Authorization" in json.loads(settings["defaultHeaders"])
    admin = make_user(email="ada@acme.example", admin=True)
    body = post(client, settings["defaultQuery"], token=viewer_token(app, admin))
    assert "errors" not in body, body
    assert body["data"]["viewer"]["email"] == "ada@acme.example"
    assert body["data"]["account"]["scim"]["enabled"] is False


def test_without_its_files_the_page_says_what_to_run(
    app: Flask, client: FlaskClient, tmp_path: Path
) -> None:
    previous = app.config["GRAPHIQL_ASSETS_DIR"]
    app.config["GRAPHIQL_ASSETS_DIR"] = str(tmp_path / "never-built")
    try:
        response = client.get("/graphql", headers=HTML)
        asset = client.get("/graphql/assets/react.0000000000000000.js")
    finally:
        app.config["GRAPHIQL_ASSETS_DIR"] = previous
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "GraphiQL is not installed on this server" in page
    assert "<code>make install</code>" in page
    assert "POST /graphql" in page
    assert "<script" not in page
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert asset.status_code == 404


def test_html_gets_the_security_headers_json_gets_nosniff(client: FlaskClient, dist: Path) -> None:
    page = client.get("/graphql", headers=HTML)
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert "unsafe-eval" not in CONTENT_SECURITY_POLICY
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    api = client.post("/graphql", json={"query": "{ __typename }"})
    assert api.mimetype == "application/json"
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in api.headers


def test_the_build_refuses_when_npm_has_not_run(tmp_path: Path) -> None:
    folder = tmp_path / "dist"
    with pytest.raises(MissingFiles, match=re.escape("react.production.min.js")):
        build(sources(tmp_path / "node_modules"), folder)
    assert not folder.exists()


def test_a_rebuild_replaces_the_previous_files(tmp_path: Path) -> None:
    source = tmp_path / "a.js"
    folder = tmp_path / "dist"
    source.write_text("one")
    first = build((Source("a.js", source),), folder)
    source.write_text("two")
    second = build((Source("a.js", source),), folder)
    assert first["a.js"]["file"] != second["a.js"]["file"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([MANIFEST, second["a.js"]["file"]])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dist-")]
