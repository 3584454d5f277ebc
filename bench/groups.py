"""`python -m bench groups` (`make bench-groups`): what a group PATCH costs as the group grows,
next to a plain GET.

Builds an account with 11,000 users and two SCIM-managed teams (1,000 and 10,000 members), then,
through the Flask test client (the whole request path, no network), times Okta's membership
pushes: a PATCH adding 100 members (one "add" operation with 100 values) and a PATCH removing
them again (100 operations `members[value eq "..."]`), for each team size. A plain
`GET /Users/{id}` in the same run is the baseline; each row shows median and p95 over the
repetitions and the ratio of its median to the baseline's, and the peak Python memory one
such request allocates (tracemalloc, measured in a separate untimed pass) next to the baseline's:
a PATCH that loaded the member list would grow with the team here.

Needs no running services: SQLite in a temporary directory by default; set BENCH_DATABASE_URL
(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/bench) to measure PostgreSQL. A run on an
existing database only adds a new account to it. BENCH_REPEAT sets the repetitions (default 30).
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_migrate import upgrade
from sqlalchemy import func, insert, select, text

from app import create_app
from heap import tokens
from heap.extensions import db
from heap.models import (
    Account,
    Plan,
    Role,
    ScimIdentity,
    ScimToken,
    Team,
    TeamMembership,
    User,
    utcnow,
)
from heap.services import roles

USERS = 11_000
TEAM_SIZES = (1_000, 10_000)
CHANGE = 100
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class World:
    token: str
    user_ids: list[str]  # SCIM ids; the first 10,000 are members of the big team
    groups: dict[int, str]  # team size -> SCIM group id


@dataclass(frozen=True)
class Row:
    label: str
    size: str
    samples: list[float]
    peak_kib: float

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _app(url: str) -> Flask:
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-only-signing-key-of-32-bytes-or-more",
            "SCIM_RATE_LIMIT": "100000000 per minute",
            "GRAPHQL_RATE_LIMIT": "100000000 per minute",
            "RATELIMIT_STORAGE_URI": "memory://",
            "LOG_LEVEL": "WARNING",
            "PUBLIC_BASE_URL": "http://bench.local",
        }
    )
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    return app


def _build(app: Flask) -> World:
    """The account, users, identities and teams, with set-based inserts (factories would take
    minutes for 11,000 users)."""
    run = uuid.uuid4().hex[:8]
    with app.app_context():
        account = Account(
            name=f"Bench {run}", plan=Plan.PREMIER.value, sso_configured=True, scim_enabled=True
        )
        db.session.add(account)
        db.session.flush()
        roles.seed_builtin(account=account)
        db.session.flush()
        analyst = db.session.scalars(
            select(Role).where(Role.account_id == account.id, Role.name == "Analyst")
        ).one()
        account.scim_default_role_id = analyst.id
        raw = tokens.mint_scim_token()
        db.session.add(
            ScimToken(
                account_id=account.id,
                prefix=tokens.visible_prefix(raw),
                token_hash=tokens.hash_token(raw),
                created_by="bench",
            )
        )
        now = utcnow()
        emails = [f"bench-{run}-{n}@example.com" for n in range(USERS)]
        user_rows = [
            {"account_id": account.id, "email": e, "role_id": analyst.id, "created_at": now}
            for e in emails
        ]
        db.session.execute(insert(User), user_rows)
        rows = db.session.execute(select(User.email, User.id).where(User.account_id == account.id))
        by_email = {email: user_id for email, user_id in rows}
        scim_ids = [str(uuid.uuid4()) for _ in emails]
        db.session.execute(
            insert(ScimIdentity),
            [
                {
                    "id": scim_id,
                    "account_id": account.id,
                    "user_id": by_email[email],
                    "user_name": email,
                    "idp_managed": True,
                    "extra": {},
                }
                for scim_id, email in zip(scim_ids, emails, strict=True)
            ],
        )
        groups: dict[int, str] = {}
        for size in TEAM_SIZES:
            team = Team(account_id=account.id, name=f"Bench {size}", scim_managed=True)
            db.session.add(team)
            db.session.flush()
            db.session.execute(
                insert(TeamMembership),
                [
                    {"team_id": team.id, "user_id": by_email[email], "added_at": now}
                    for email in emails[:size]
                ],
            )
            groups[size] = team.scim_id
        db.session.commit()
        # Fresh statistics, as a production database has them (autovacuum analyzes bulk loads).
        with db.engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
    return World(token=raw, user_ids=scim_ids, groups=groups)


def _timed(call: Callable[[], Any], expected: int, repeat: int) -> list[float]:
    samples: list[float] = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = call()
        elapsed = time.perf_counter() - started
        if response.status_code != expected:
            sys.exit(f"bench: {response.status_code} {response.get_data(as_text=True)}")
        samples.append(elapsed * 1000)
    return samples


def _measure(app: Flask, world: World, repeat: int) -> list[Row]:
    client: FlaskClient = app.test_client()
    headers = {"Authorization": f"Bearer {world.token}"}
    outsiders = world.user_ids[max(TEAM_SIZES) : max(TEAM_SIZES) + CHANGE]
    add_body = {
        "schemas": [PATCH_URN],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": i} for i in outsiders]}
        ],
    }
    remove_body = {
        "schemas": [PATCH_URN],
        "Operations": [{"op": "remove", "path": f'members[value eq "{i}"]'} for i in outsiders],
    }

    def patch(group: str, body: dict[str, Any]) -> Callable[[], Any]:
        return lambda: client.patch(f"/scim/v2/Groups/{group}", json=body, headers=headers)

    def get() -> Any:
        return client.get(f"/scim/v2/Users/{world.user_ids[-1]}", headers=headers)

    get()  # warm-up: first-request costs and the token's last-use stamp
    for body in (add_body, remove_body):  # the PATCH path's first-use costs too
        _timed(patch(world.groups[min(TEAM_SIZES)], body), 204, 1)
    rows = [Row("GET /Users/{id} (baseline)", "-", _timed(get, 200, repeat), _peak_kib(get))]
    for size in TEAM_SIZES:
        group = world.groups[size]
        adds: list[float] = []
        removes: list[float] = []
        # Alternate so each add meets a team of exactly `size` members, each remove size + 100.
        for _ in range(repeat):
            adds += _timed(patch(group, add_body), 204, 1)
            removes += _timed(patch(group, remove_body), 204, 1)
        add_peak = _peak_kib(patch(group, add_body))
        remove_peak = _peak_kib(patch(group, remove_body))
        rows.append(Row(f"PATCH add {CHANGE} members (1 op)", f"{size:,}", adds, add_peak))
        rows.append(
            Row(f"PATCH remove {CHANGE} members ({CHANGE} ops)", f"{size:,}", removes, remove_peak)
        )
    _check_sizes(app, world)
    return rows


def _peak_kib(call: Callable[[], Any]) -> float:
    """Peak Python allocation during one request, in KiB."""
    tracemalloc.start()
    try:
        call()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1024


def _check_sizes(app: Flask, world: World) -> None:
    with app.app_context():
        for size, group in world.groups.items():
            count = db.session.scalar(
                select(func.count())
                .select_from(TeamMembership)
                .join(Team, Team.id == TeamMembership.team_id)
                .where(Team.scim_id == group)
            )
            if count != size:
                sys.exit(f"bench: team of {size} ended with {count} members")


def _print(rows: Sequence[Row], url: str, repeat: int, build_seconds: float) -> None:
    baseline = rows[0].median
    print(f"database: {url.split('://')[0]}   repetitions: {repeat}   users: {USERS:,}")
    print(f"set-up (users, identities, memberships): {build_seconds:.1f} s")
    print()
    baseline_kib = rows[0].peak_kib
    header = (
        f"{'request':<40} {'team size':>9} {'median ms':>10} {'p95 ms':>8} {'x baseline':>11}"
        f" {'peak KiB':>9} {'x baseline':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.label:<40} {row.size:>9} {row.median:>10.2f} {row.p95:>8.2f}"
            f" {row.median / baseline:>11.2f} {row.peak_kib:>9.0f}"
            f" {row.peak_kib / baseline_kib:>11.2f}"
        )


def main() -> None:
    repeat = int(os.environ.get("BENCH_REPEAT", "30"))
    url = os.environ.get("BENCH_DATABASE_URL")
    with tempfile.TemporaryDirectory(prefix="heap-bench-") as tmp:
        url = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        app = _app(url)
        started = time.perf_counter()
        world = _build(app)
        build_seconds = time.perf_counter() - started
        rows = _measure(app, world, repeat)
        with app.app_context():
            db.engine.dispose()
    _print(rows, url, repeat, build_seconds)


if __name__ == "__main__":
    main()
