"""The GraphQL door for the Heap front end, at /graphql (GraphiQL on GET)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Mount the GraphQL view."""
