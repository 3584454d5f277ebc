"""`python -m bench scale`: does a request cost the same at 100,000 users as at 1,000?

On PostgreSQL (a database of its own, dropped afterwards) one account grows from 1,000 users and
100 teams to 100,000 users and 10,000 teams; every user is in two teams and in one "everyone"
team, as a pushed Okta "Everyone" group makes it. At each size, through the Flask test client
(the whole request path, no network), each request is timed BENCH_REPEAT times, its SQL is
captured (statements, each one's time) and its peak Python memory measured (tracemalloc). A
request whose fastest run grows more than FLAT times (a first /Users page: GROWTH_ALLOWED) is NOT
flat: its slowest statement, and the one whose time grew most, get EXPLAIN (ANALYZE, BUFFERS),
so the fix (an index, a query) is plain.
"""

from __future__ import annotations

import os
import re
import secrets
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import psycopg
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from bench import dbs, served, sqlcount, world
from graph.pagination import encode_cursor
from heap.extensions import db

SMALL, LARGE = 1_000, 100_000
SMALL_TEAMS, LARGE_TEAMS = 100, 10_000
CHANGE = 100  # members a group PATCH adds, then removes
FLAT = 1.5  # the fastest run at 100k within this factor of the fastest at 1k counts as flat
DEEP_PAGE_TARGET = 3.0  # the bound: startIndex=99,901 within 3x of startIndex=1
# A first /Users page may grow more than FLAT, not more than this. It carries totalResults, an
# exact count of the account's identities, which grows with them whatever the index: 8-9 ms at
# 100,000 counted off ix_scim_identities_account_id (1.5x the first page at 1,000), 18 ms
# reading the table as before that index (2.5x here; that fails). Only a count kept per account
# would be flat, and every create of the account would then queue on its one row. Past FLAT,
# its plans are shown all the same.
GROWTH_ALLOWED = {"list_first": 2.0}
WARM = 12  # runs of each request before timing it (see _measure)
OUTSIDERS = range(900_000, 900_000 + CHANGE)  # users in no team: the ones PATCHes add


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    method: str
    path: str
    expect: int
    headers: dict[str, str]
    body: Any = None


@dataclass
class Sample:
    min_ms: float  # the least disturbed run: what the verdicts compare on a shared machine
    median_ms: float
    peak_kib: float
    capture: sqlcount.Capture


def _cases(w: world.World, size: int) -> list[list[Case]]:
    """The requests at this size; an inner list is run in turn (a PATCH add, then its remove)."""
    scim = served._scim_headers(w.scim_token, body=True)
    graphql = {"Authorization": f"Bearer {w.viewer_token}"}
    lookup = quote(f'userName eq "{world.user_name(size - 1)}"')
    outsiders = [scim_id for _, scim_id in w.users[-CHANGE:]]
    add = {
        "schemas": [served.PATCH_URN],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": i} for i in outsiders]}
        ],
    }
    remove = {
        "schemas": [served.PATCH_URN],
        "Operations": [{"op": "remove", "path": f'members[value eq "{i}"]'} for i in outsiders],
    }
    typical = w.teams[1][1]
    assert w.everyone is not None
    everyone = w.everyone[1]
    page = {"query": served.GRAPHQL_USERS_PAGE}
    cases = [
        [Case("get_user", "GET /Users/{id}", "GET",
              f"/scim/v2/Users/{w.users[size // 2][1]}", 200, scim)],
        [Case("filter", 'GET /Users?filter=userName eq "..." (last user)', "GET",
              f"/scim/v2/Users?filter={lookup}&startIndex=1&count=100",
              200, scim)],
        [Case("list_first", "GET /Users?startIndex=1&count=100", "GET",
              "/scim/v2/Users?startIndex=1&count=100", 200, scim)],
        [Case("groups_first", "GET /Groups?excludedAttributes=members", "GET",
              "/scim/v2/Groups?excludedAttributes=members", 200, scim)],
        [Case("patch_add", f"PATCH a team (tens of members): add {CHANGE} (1 op)", "PATCH",
              f"/scim/v2/Groups/{typical}", 204, scim, add),
         Case("patch_remove", f"PATCH a team (tens of members): remove {CHANGE} ({CHANGE} ops)",
              "PATCH", f"/scim/v2/Groups/{typical}", 204, scim, remove)],
        [Case("everyone_add", f"PATCH the everyone team (all users): add {CHANGE}", "PATCH",
              f"/scim/v2/Groups/{everyone}", 204, scim, add),
         Case("everyone_remove", f"PATCH the everyone team (all users): remove {CHANGE}", "PATCH",
              f"/scim/v2/Groups/{everyone}", 204, scim, remove)],
        [Case("graphql_first", "GraphQL users(first: 100) + role, teams", "POST", "/graphql",
              200, graphql, page)],
    ]  # fmt: skip
    if size >= LARGE:
        after = encode_cursor(w.users[99_899][0])
        deep = {
            "query": served.GRAPHQL_USERS_PAGE.replace(
                "users(first: 100)", f'users(first: 100, after: "{after}")'
            )
        }
        cases += [
            [Case("list_deep", "GET /Users?startIndex=99901&count=100", "GET",
                  "/scim/v2/Users?startIndex=99901&count=100", 200, scim)],
            [Case("graphql_deep", "GraphQL users(first: 100, after: the 99,900th)", "POST",
                  "/graphql", 200, graphql, deep)],
        ]  # fmt: skip
    return cases


def _send(client: FlaskClient, case: Case) -> Any:
    response = client.open(case.path, method=case.method, json=case.body, headers=case.headers)
    if response.status_code != case.expect:
        raise SystemExit(
            f"bench: {case.label}: {response.status_code} {response.get_data(as_text=True)[:300]}"
        )
    if case.path == "/graphql" and response.json and response.json.get("errors"):
        raise SystemExit(f"bench: {case.label}: {response.json['errors']}")
    return response


def _measure(
    app: Flask, engine: Engine, w: world.World, size: int, repeat: int
) -> dict[str, Sample]:
    """Each case timed ``repeat`` times, then once captured, once under tracemalloc.

    No app context is held: each request gets and tears down its own session, as served.
    """
    client = app.test_client()
    samples: dict[str, Sample] = {}
    for group in _cases(w, size):
        # Warm, as a server that has run a while: first-use costs are not per request, and
        # psycopg prepares a statement on its 5th run, after which PostgreSQL may switch it to a
        # generic plan (from the 6th run of the prepared statement on); timing starts after that.
        for _ in range(WARM):
            for case in group:
                _send(client, case)
        times: dict[str, list[float]] = {case.key: [] for case in group}
        for _ in range(repeat):
            for case in group:
                started = time.perf_counter()
                _send(client, case)
                times[case.key].append((time.perf_counter() - started) * 1000)
        captures: dict[str, sqlcount.Capture] = {}
        for case in group:
            with sqlcount.capture(engine) as seen:
                _send(client, case)
            captures[case.key] = seen
        peaks: dict[str, float] = {}
        for case in group:
            tracemalloc.start()
            try:
                _send(client, case)
                peaks[case.key] = tracemalloc.get_traced_memory()[1] / 1024
            finally:
                tracemalloc.stop()
        for case in group:
            ordered = sorted(times[case.key])
            samples[case.key] = Sample(
                ordered[0],
                statistics.median(ordered),
                peaks[case.key],
                captures[case.key],
            )
    return samples


def _explain(engine: Engine, statement: sqlcount.Statement) -> tuple[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of a captured statement with its own parameters, twice: planned
    for those values, and as a generic plan. psycopg prepares a statement server-side from its
    fifth run on a connection, and PostgreSQL may then plan it once for any values: a plan that
    suits a team of 30 members can scan all of a team of 100,000. Rolled back (ANALYZE runs
    the statement, and a write must leave nothing behind)."""
    parameters = statement.parameters
    if statement.many and isinstance(parameters, list | tuple):
        parameters = parameters[0] if parameters else {}
    # A connection of its own, closed afterwards: PREPARE outlives a rollback, and the pool's
    # connections carry psycopg's own prepared statements.
    explainer = create_engine(engine.url, poolclass=NullPool)
    connection = explainer.raw_connection()
    driver = connection.driver_connection
    assert isinstance(driver, psycopg.Connection)
    try:
        with driver.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, parameters)
            custom = "\n".join(str(row[0]) for row in cursor.fetchall())
        connection.rollback()
        names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", statement.sql)))
        numbered = re.sub(
            r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", statement.sql
        ).replace("%%", "%")
        quoting = psycopg.ClientCursor(driver)
        values = ", ".join(quoting.mogrify("%s", [parameters[name]]) for name in names)
        with driver.cursor() as cursor:
            cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cursor.execute(f"PREPARE bench_generic AS {numbered}")
            cursor.execute(
                f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_generic{f'({values})' if names else ''}"
            )
            generic = "\n".join(str(row[0]) for row in cursor.fetchall())
    finally:
        connection.rollback()
        connection.close()
        explainer.dispose()
    return custom, generic


def _shape(plan: str) -> list[str]:
    """A plan's nodes and conditions without its numbers, costs and parameter values."""
    noise = re.compile(r"\(cost=[^)]*\)|\(actual[^)]*\)|\$\d+|'[^']*'|\d+(\.\d+)?")
    keep = ("Planning", "Execution", "Buffers", "Memory", "Worker", "Sort Method", "Trigger")
    return [noise.sub("", line) for line in plan.splitlines() if not line.strip().startswith(keep)]


def _grew_most(small: sqlcount.Capture, large: sqlcount.Capture) -> sqlcount.Statement | None:
    """The statement whose time grew most between sizes (same request, same statement order)."""
    if len(small.statements) != len(large.statements):
        return large.slowest
    pairs = zip(small.statements, large.statements, strict=True)
    growth = [(b.seconds - a.seconds, b) for a, b in pairs]
    return max(growth, key=lambda g: g[0], default=(0.0, None))[1]


def _row(label: str, small: Sample | None, large: Sample, verdict: str) -> str:
    small_ms = f"{small.min_ms:.1f} / {small.median_ms:.1f}" if small else "—"
    ratio = f"{large.min_ms / small.min_ms:.2f}x" if small else "—"
    small_sql = str(len(small.capture.statements)) if small else "—"
    small_kib = f"{small.peak_kib:,.0f}" if small else "—"
    return (
        f"| {label} | {small_ms} | {large.min_ms:.1f} / {large.median_ms:.1f} | {ratio} "
        f"| {small_sql} / {len(large.capture.statements)} "
        f"| {small_kib} / {large.peak_kib:,.0f} | {verdict} |"
    )


def main() -> None:
    repeat = int(os.environ.get("BENCH_REPEAT", "20"))
    secret = secrets.token_urlsafe(48)
    print(f"scale bench: PostgreSQL, {SMALL:,} then {LARGE:,} users; {repeat} repetitions")
    with dbs.postgresql("heap_bench_scale") as database:
        app = world.make_app(database.url, secret)
        with app.app_context():
            engine = db.engine
        w = world.found(app)
        started = time.perf_counter()
        world.add_users(app, w, range(SMALL))
        world.add_teams(app, w, range(SMALL_TEAMS))
        world.add_everyone_team(app, w)
        world.add_memberships(app, w, range(SMALL))
        # The users group PATCHes add: in no team. Kept last in w.users (see _cases).
        world.add_users(app, w, OUTSIDERS)
        world.analyze(app)
        print(f"  seeded {SMALL:,} users in {time.perf_counter() - started:.1f} s", flush=True)
        small = _measure(app, engine, w, SMALL, repeat)
        started = time.perf_counter()
        outsiders = w.users[-CHANGE:]
        w.users = w.users[:-CHANGE]
        world.add_users(app, w, range(SMALL, LARGE))
        world.add_teams(app, w, range(SMALL_TEAMS, LARGE_TEAMS))
        # Fresh statistics and connections before the foreign-key checks of 300,000 rows: a
        # connection keeps the checks' plans made when teams had 100 rows (a seq scan each).
        world.analyze(app)
        engine.dispose()
        world.add_memberships(app, w, range(SMALL, LARGE))
        w.users += outsiders
        world.analyze(app)
        engine.dispose()  # measured as a freshly started server would meet it
        seeded = time.perf_counter() - started
        print(f"  grew to {LARGE:,} users, {LARGE_TEAMS:,} teams in {seeded:.1f} s", flush=True)
        large = _measure(app, engine, w, LARGE, repeat)
        report, plans = _report(small, large, _cases(w, LARGE), engine, app.test_client())
        with app.app_context():
            db.engine.dispose()
    text = report + "\n" + "\n".join(plans)
    served.OUT.mkdir(exist_ok=True)
    (served.OUT / "scale.md").write_text(text)
    print()
    print(text)
    print(f"written: {served.OUT / 'scale.md'}")


def _report(
    small: dict[str, Sample],
    large: dict[str, Sample],
    cases: list[list[Case]],
    engine: Engine,
    client: FlaskClient,
) -> tuple[str, list[str]]:
    labels = {case.key: case.label for group in cases for case in group}
    lines = [
        f"### Scale on PostgreSQL: {SMALL:,} against {LARGE:,} users "
        f"({SMALL_TEAMS:,} against {LARGE_TEAMS:,} teams)",
        "",
        f"In-process (Flask test client), {WARM} warm-up runs, then fastest / median of the "
        f"timed runs. Flat: the fastest run at {LARGE:,} within {FLAT}x of the fastest at "
        f"{SMALL:,} (the fastest is the run other processes disturbed least); a first /Users "
        f"page, within {GROWTH_ALLOWED['list_first']}x (its totalResults counts every user); "
        f"deep pages: within {DEEP_PAGE_TARGET}x of the first page at the same size. SQL "
        "statements and peak Python memory per request (tracemalloc): at 1,000 / at 100,000.",
        "",
        f"| request | {SMALL:,}: ms min / median | {LARGE:,}: ms min / median | x (min) "
        "| SQL statements | peak KiB | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    plans: list[str] = []
    deep_of = {"list_deep": "list_first", "graphql_deep": "graphql_first"}
    for key, sample in large.items():
        before = small.get(key)
        if before is not None:
            growth = sample.min_ms / before.min_ms
            memory = sample.peak_kib / before.peak_kib if before.peak_kib else 1.0
            allowed = GROWTH_ALLOWED.get(key, FLAT)
            flat = growth <= allowed
            if flat and growth > FLAT:
                verdict = f"{growth:.2f}x: within the {allowed}x a first page may grow (its count)"
            else:
                verdict = "flat" if flat else f"**NOT flat** ({growth:.1f}x)"
            if memory > FLAT:
                verdict += f"; memory grows {memory:.1f}x"
        else:
            first = large[deep_of[key]]
            growth = sample.min_ms / first.min_ms
            flat = growth <= DEEP_PAGE_TARGET
            verdict = f"{growth:.1f}x the first page" + ("" if flat else " (**NOT within 3x**)")
        lines.append(_row(labels[key], before, sample, verdict))
        if not flat or (before is not None and growth > FLAT):
            group = next(g for g in cases if any(case.key == key for case in g))
            at = [case.key for case in group].index(key)
            for case in group[:at]:  # the state this request met when it was measured
                _send(client, case)
            plans.append(_plans(labels[key], before, sample, engine))
            for case in group[at + 1 :]:
                _send(client, case)
    return "\n".join(lines) + "\n", plans


def _plans(label: str, before: Sample | None, sample: Sample, engine: Engine) -> str:
    picked: list[tuple[str, sqlcount.Statement]] = []
    slowest = sample.capture.slowest
    if slowest is not None:
        picked.append(("slowest statement", slowest))
    grew = _grew_most(before.capture, sample.capture) if before else None
    if grew is not None and grew is not slowest:
        picked.append(("statement whose time grew most", grew))
    out = [f"#### {label}: its statements at {LARGE:,} (one captured run)", ""]
    for i, statement in enumerate(sample.capture.statements, 1):
        out.append(f"{i}. {statement.seconds * 1000:7.2f} ms  {statement.summary}")
    for title, statement in picked:
        custom, generic = _explain(engine, statement)
        out += [
            "",
            f"{title} ({statement.seconds * 1000:.2f} ms in the captured run):",
            "```sql",
            statement.text,
            "```",
            "EXPLAIN (ANALYZE, BUFFERS), planned for these values:",
            "```",
            sqlcount.compact(custom),
            "```",
        ]
        if _shape(generic) == _shape(custom):
            out.append("The generic plan (a prepared statement's) has the same shape.")
        else:
            out += [
                "The generic plan, which a statement psycopg has prepared may get, differs:",
                "```",
                sqlcount.compact(generic),
                "```",
            ]
    return "\n".join(out) + "\n"
