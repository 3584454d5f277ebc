"""/healthz and /readyz: what a load balancer asks before sending traffic."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade

from app import create_app
from heap.extensions import db
from tests.conftest import IN_CI, TEST_SECRET_KEY, json_of
from tests.e2e.conftest import redis_reachable

MIGRATIONS = str(Path(__file__).parents[2] / "migrations")
# Nothing listens on port 1 of the loopback: a database or Redis that is down.
CLOSED_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:1/heap"
CLOSED_REDIS = "redis://127.0.0.1:1"


def _app(database_url: str, **config: object) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": TEST_SECRET_KEY,
            **config,
        }
    )


def test_healthz_answers_without_touching_the_database() -> None:
    down = _app(CLOSED_POSTGRESQL)
    response = down.test_client().get("/healthz")
    assert (response.status_code, json_of(response)) == (200, {"status": "ok"})
    assert response.headers["Content-Type"] == "application/json"


def test_readyz_is_ready_on_a_migrated_database(app: Flask) -> None:
    response = app.test_client().get("/readyz")
    body = json_of(response)
    assert response.status_code == 200
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "schema"}  # memory:// rate limits: no Redis check
    assert body["checks"]["database"] == {"ok": True}
    schema = body["checks"]["schema"]
    assert schema["ok"] is True and schema["current"] == schema["head"] != []


def test_readyz_is_503_when_the_database_is_down() -> None:
    response = _app(CLOSED_POSTGRESQL).test_client().get("/readyz")
    body = json_of(response)
    assert response.status_code == 503
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["schema"]["ok"] is False


def test_readyz_is_503_until_the_schema_is_at_the_head(tmp_path: Path) -> None:
    fresh = _app(f"sqlite:///{tmp_path / 'fresh.db'}")
    client = fresh.test_client()
    before = client.get("/readyz")
    assert before.status_code == 503
    schema = json_of(before)["checks"]["schema"]
    assert (schema["ok"], schema["current"]) == (False, [])
    assert "db upgrade" in schema["error"]
    assert json_of(before)["checks"]["database"] == {"ok": True}

    with fresh.app_context():
        upgrade(directory=MIGRATIONS)
        db.engine.dispose()
    assert client.get("/readyz").status_code == 200


def test_readyz_checks_redis_when_rate_limits_live_there(app: Flask) -> None:
    url = str(app.config["SQLALCHEMY_DATABASE_URI"])
    down = _app(url, RATELIMIT_STORAGE_URI=CLOSED_REDIS).test_client().get("/readyz")
    assert down.status_code == 503
    checks = json_of(down)["checks"]
    assert checks["redis"]["ok"] is False
    assert checks["database"] == {"ok": True}
    if not redis_reachable():
        if IN_CI:
            pytest.fail("CI must reach Redis at 127.0.0.1:6379")
        pytest.skip("the Redis-up half needs Redis at 127.0.0.1:6379")
    up = _app(url, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379").test_client().get("/readyz")
    assert (up.status_code, json_of(up)["checks"]["redis"]) == (200, {"ok": True})


def test_health_endpoints_are_outside_the_rate_limits(app: Flask) -> None:
    limited = _app(str(app.config["SQLALCHEMY_DATABASE_URI"]), SCIM_RATE_LIMIT="1 per minute")
    client = limited.test_client()
    statuses = {client.get(path).status_code for path in ("/healthz", "/readyz") * 5}
    assert statuses == {200}
