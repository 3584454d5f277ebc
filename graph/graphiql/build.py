"""Copy GraphiQL's browser files out of ``node_modules`` into ``dist/``, under content-hashed names.

``make install`` runs ``npm ci`` (versions pinned by package.json and package-lock.json), then
``python -m graph.graphiql``. Only the files listed here are copied, so the service can
never serve anything else from ``node_modules``. Each copy is named after its own SHA-384 and
listed in ``dist/manifest.json`` with its Subresource Integrity value: browsers may cache a file
for a year (a new version is a new name), and refuse one whose bytes changed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NODE_MODULES = ROOT / "node_modules"
DIST = HERE / "dist"
MANIFEST = "manifest.json"

# Source maps are not shipped, so their references go too: a browser's developer tools would
# otherwise ask for files this service does not have.
_SOURCE_MAP_COMMENT = re.compile(
    rb"\n*(?://# sourceMappingURL=[^\n]*|/\*# sourceMappingURL=.*?\*/)\s*\Z"
)


@dataclass(frozen=True)
class Source:
    """One file the page loads: its name in the manifest, and where ``make install`` finds it."""

    name: str
    path: Path


def sources(node_modules: Path = NODE_MODULES) -> tuple[Source, ...]:
    """Everything the GraphiQL page loads, vendor files first (the page's own script needs them).

    GraphiQL 3's browser bundle expects React 18 as the globals ``React`` and ``ReactDOM``, and
    carries graphql-js inside it. The explorer plugin is left out: it depends on
    graphiql-explorer 0.9, which declares React <= 16 and graphql <= 15, so ``npm ci`` would
    warn on every install.
    """
    return (
        Source("react.js", node_modules / "react/umd/react.production.min.js"),
        Source("react-dom.js", node_modules / "react-dom/umd/react-dom.production.min.js"),
        Source("graphiql.js", node_modules / "graphiql/graphiql.min.js"),
        Source("graphiql.css", node_modules / "graphiql/graphiql.min.css"),
        Source("page.css", HERE / "page.css"),
        Source("start.js", HERE / "start.js"),
    )


def integrity(content: bytes) -> str:
    """The Subresource Integrity value of ``content`` (sha384, as browsers check it)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode("ascii")


def hashed_name(name: str, content: bytes) -> str:
    """``graphiql.js`` -> ``graphiql.<16 hex digits of its SHA-384>.js``."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{hashlib.sha384(content).hexdigest()[:16]}{dot}{suffix}"


class MissingFiles(Exception):
    """A listed file is absent: ``npm ci`` has not run, or package.json changed."""


def build(files: tuple[Source, ...], dist: Path = DIST) -> dict[str, dict[str, str]]:
    """Write ``files`` and the manifest into ``dist``, replacing what was there; return it.

    The new folder is complete before it replaces the old one, so a server never sees a
    manifest naming files that are not there yet.
    """
    missing = [str(source.path) for source in files if not source.path.is_file()]
    if missing:
        raise MissingFiles(", ".join(missing))
    manifest: dict[str, dict[str, str]] = {}
    dist.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dist-", dir=dist.parent))
    staging.chmod(0o755)
    try:
        for source in files:
            content = _SOURCE_MAP_COMMENT.sub(b"\n", source.path.read_bytes())
            file = hashed_name(source.name, content)
            (staging / file).write_bytes(content)
            manifest[source.name] = {"file": file, "integrity": integrity(content)}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if dist.exists():
            shutil.rmtree(dist)
        staging.rename(dist)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def main() -> int:
    try:
        manifest = build(sources())
    except MissingFiles as error:
        print(f"GraphiQL files not found ({error}): run `npm ci` first.", file=sys.stderr)
        return 1
    for name, entry in manifest.items():
        print(f"GraphiQL: {name:<13} -> {DIST.relative_to(ROOT)}/{entry['file']}")
    return 0
