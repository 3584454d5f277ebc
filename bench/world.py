"""An account to measure: built with the app's own `flask demo` (account, Admin, SCIM token,
viewer token), then filled with set-based inserts shaped like what Okta's POSTs store.

Factories or SCIM POSTs would take minutes for 100,000 users; multi-row INSERTs take seconds.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import insert, select, text

from app import create_app
from heap.extensions import db
from heap.models import Account, ScimIdentity, Team, TeamMembership, User, utcnow

ROOT = Path(__file__).resolve().parent.parent
# High enough never to refuse a bench request, while the limiter stays in the request path as in
# production (turning it off would flatter the numbers).
RATE_LIMIT = "1000000000 per minute"
PUBLIC_BASE_URL = "http://127.0.0.1:5000"


# Seeding inserts up to 100,000 rows in one statement: on a slow machine that outlasted the
# 5 s a request's statement may take (the served app keeps its own default).
SEED_STATEMENT_TIMEOUT = 600.0


def make_app(url: str, secret: str) -> Flask:
    """The app on ``url``, migrated to head; quiet logs, as it only seeds and counts in-process."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "DATABASE_STATEMENT_TIMEOUT": SEED_STATEMENT_TIMEOUT,
            "SECRET_KEY": secret,
            "SCIM_RATE_LIMIT": RATE_LIMIT,
            "GRAPHQL_RATE_LIMIT": RATE_LIMIT,
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOG_LEVEL": "WARNING",
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


@dataclass
class World:
    """The account under load and the ids its requests use, in insertion order."""

    account_id: int
    scim_token: str
    viewer_token: str
    users: list[tuple[int, str]] = field(default_factory=list)  # (users.id, SCIM id)
    teams: list[tuple[int, str]] = field(default_factory=list)  # (teams.id, SCIM id)
    everyone: tuple[int, str] | None = None  # the team every seeded user belongs to


def user_name(n: int) -> str:
    return f"user{n:06d}@bench.example"


def found(app: Flask) -> World:
    """The demo account through the app's own command: Admin, SCIM on, both tokens minted."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["demo", "--json"])
    if result.exit_code != 0:
        raise SystemExit(f"bench: flask demo failed: {result.output}{result.exception!r}")
    demo = json.loads(result.output)
    return World(
        account_id=int(demo["account_id"]),
        scim_token=demo["scim_token"],
        viewer_token=demo["viewer_token"],
    )


def add_users(app: Flask, world: World, numbers: range) -> None:
    """Users ``numbers`` with SCIM identities as Okta's create leaves them (default role)."""
    now = utcnow()
    with app.app_context():
        account = db.session.get(Account, world.account_id)
        assert account is not None and account.scim_default_role_id is not None
        emails = [user_name(n) for n in numbers]
        db.session.execute(
            insert(User),
            [
                {
                    "account_id": account.id,
                    "email": email,
                    "given_name": f"Given{n}",
                    "family_name": "Bench",
                    "display_name": f"Given{n} Bench",
                    "role_id": account.scim_default_role_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for n, email in zip(numbers, emails, strict=True)
            ],
        )
        rows = db.session.execute(select(User.email, User.id).where(User.account_id == account.id))
        ids = {email: user_id for email, user_id in rows}
        scim_ids = [str(uuid.uuid4()) for _ in emails]
        db.session.execute(
            insert(ScimIdentity),
            [
                {
                    "id": scim_id,
                    "account_id": account.id,
                    "user_id": ids[email],
                    "user_name": email,
                    "external_id": f"00u{n:017d}",
                    "email": email,
                    "idp_managed": True,
                    "extra": {
                        "emails": [{"value": email, "type": "work", "primary": True}],
                        "locale": "en-US",
                    },
                    "created_at": now,
                    "updated_at": now,
                }
                for n, email, scim_id in zip(numbers, emails, scim_ids, strict=True)
            ],
        )
        db.session.commit()
    world.users += [(ids[email], scim_id) for email, scim_id in zip(emails, scim_ids, strict=True)]


def add_teams(app: Flask, world: World, numbers: range) -> None:
    """SCIM-managed teams ``numbers`` (pushed groups), with no members yet."""
    now = utcnow()
    with app.app_context():
        names = [f"Bench team {n:05d}" for n in numbers]
        scim_ids = [str(uuid.uuid4()) for _ in names]
        db.session.execute(
            insert(Team),
            [
                {
                    "scim_id": scim_id,
                    "account_id": world.account_id,
                    "name": name,
                    "scim_managed": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for name, scim_id in zip(names, scim_ids, strict=True)
            ],
        )
        rows = db.session.execute(
            select(Team.scim_id, Team.id).where(Team.account_id == world.account_id)
        )
        ids = {scim_id: team_id for scim_id, team_id in rows}
        db.session.commit()
    world.teams += [(ids[scim_id], scim_id) for scim_id in scim_ids]


def add_everyone_team(app: Flask, world: World) -> None:
    before = len(world.teams)
    add_teams(app, world, range(99_999, 100_000))
    world.everyone = world.teams.pop(before)


def add_memberships(app: Flask, world: World, users: range) -> None:
    """Seeded users ``users`` join two teams each (spread evenly) and the everyone team."""
    count = len(world.teams)
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for n in users:
        user_id = world.users[n][0]
        teams = {world.teams[n % count][0], world.teams[(n + count // 2) % count][0]}
        if world.everyone is not None:
            teams.add(world.everyone[0])
        rows += [{"team_id": team, "user_id": user_id, "added_at": now} for team in teams]
    with app.app_context():
        # RETURNING makes SQLAlchemy send multi-row INSERTs of 1,000 rows from one cached
        # statement ("insertmanyvalues"); psycopg's plain executemany is a round trip per row.
        db.session.execute(insert(TeamMembership).returning(TeamMembership.team_id), rows)
        db.session.commit()


def analyze(app: Flask) -> None:
    """What autovacuum gives a production database after a bulk load: fresh planner statistics,
    and (PostgreSQL 13 and later vacuum a table after inserts alone) a visibility map, without
    which an index-only scan still reads every row's heap page."""
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # VACUUM refuses to run inside a transaction block.
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.execute(text("VACUUM (ANALYZE)"))
        else:
            connection.execute(text("ANALYZE"))
            connection.commit()
