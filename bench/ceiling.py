"""The ceiling: what Flask and SQLAlchemy alone serve on this machine, with nothing of ours.

One table; a GET is one ORM primary-key select answered with a small JSON body, a POST one
INSERT and commit. It runs with the app's own database settings: the URL and engine options are
read from the app's config (so a change there moves the ceiling too), and importing ``app``
installs the same SQLite connect hook (WAL, foreign keys, busy timeout). Served by gunicorn as
``bench.ceiling:create_app()``, with DATABASE_URL in the environment as for the app.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from flask import Flask, abort, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, Integer, String, func, insert
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import app as heap_app


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "bench_ceiling_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


db = SQLAlchemy(model_class=Base)


def create_app(database_url: str | None = None) -> Flask:
    """The ceiling on the app's database settings (``database_url`` overrides DATABASE_URL)."""
    # The app's loggers are process-wide: building it here must not turn them up in-process.
    # It signs nothing: any key of the required length lets the app build to be read from.
    overrides: dict[str, Any] = {"LOG_LEVEL": "WARNING", "SECRET_KEY": secrets.token_urlsafe(48)}
    if database_url:
        overrides["SQLALCHEMY_DATABASE_URI"] = database_url
    settings = heap_app.create_app(overrides).config
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = settings["SQLALCHEMY_DATABASE_URI"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = settings["SQLALCHEMY_ENGINE_OPTIONS"]
    db.init_app(app)

    @app.get("/items/<int:item_id>")
    def get_item(item_id: int) -> dict[str, Any]:
        """One primary-key select."""
        item = db.session.get(Item, item_id)
        if item is None:
            abort(404)
        return {"id": item.id, "name": item.name}

    @app.post("/items")
    def create_item() -> tuple[dict[str, Any], int]:
        """One INSERT and commit."""
        body = request.get_json()
        item = Item(name=str(body["name"]))
        db.session.add(item)
        db.session.flush()
        # Read before the commit expires the object: a read after it would be a second SELECT.
        created = {"id": item.id, "name": item.name}
        db.session.commit()
        return created, 201

    return app


def create_table(app: Flask, rows: int) -> None:
    """The ceiling's table with ``rows`` rows, so GETs read a table of realistic size."""
    with app.app_context():
        db.create_all()
        db.session.execute(insert(Item), [{"name": f"item {n}"} for n in range(rows)])
        db.session.commit()
