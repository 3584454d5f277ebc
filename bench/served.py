"""`python -m bench served`: the app under gunicorn beside the bare-Flask ceiling, on each database.

For each database (SQLite in a temporary directory, PostgreSQL in a database of its own) the run
seeds an account through the app's own `flask demo` plus BENCH_USERS users and BENCH_TEAMS teams,
serves the app and the ceiling (bench/ceiling.py) with gunicorn (2 sync workers, no access log,
127.0.0.1), and loads each request with wrk for BENCH_SECONDS: reads from 4 connections, writes
from one connection one after another, as Okta sends them. Every figure is divided by the
ceiling's: reads by its GET, writes by its POST, measured just before and just after them.
BENCH_ROUNDS (default 1) repeats the app's figures, each round between two ceiling runs, and
reports medians with the range of the ratios: on a shared machine that range is the noise.
BENCH_PROBES (e.g. ``get_user,post_user``) measures only those requests.

The app runs as deployed: LOG_LEVEL at its default (INFO, one JSON line per request, written to a
file), the rate limiter in the path with memory:// storage and SCIM_RATE_LIMIT set far above what
the bench can send, so it never refuses. Every request is checked once before it is loaded, every
load must see no HTTP error, and the users a POST run creates are counted against its requests.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from bench import ceiling, chart, cpu, dbs, load, sqlcount, world
from bench.servers import Server, gunicorn
from heap.extensions import db
from heap.models import ScimIdentity

OUT = Path(__file__).resolve().parent / "out"
PATCH_URN = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
READ_CONNECTIONS = 4
WRITE_CONNECTIONS = 1  # Okta creates and updates users one at a time
GRAPHQL_USERS_PAGE = (
    "query { account { users(first: 100) { totalCount "
    "nodes { id email name role { name } teams { name } } } } }"
)


@dataclass(frozen=True)
class Probe:
    """One request shape to load."""

    key: str
    label: str
    method: str
    path: str
    write: bool
    expect: int
    headers: Mapping[str, str]
    body: str | None = None  # may hold {n}: one fresh value per request
    check: Callable[[Any], str | None] = lambda _: None  # a reason the answer is wrong, or None

    @property
    def connections(self) -> int:
        return WRITE_CONNECTIONS if self.write else READ_CONNECTIONS


@dataclass
class Figure:
    key: str
    label: str
    write: bool
    connections: int
    per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    others_cores: float
    sql: str = ""
    ratio: float = 0.0
    ratio_range: tuple[float, float] = (0.0, 0.0)  # lowest and highest over the rounds
    # Requests sent whose answer wrk did not read (a socket error): the server may have made them.
    unanswered: int = 0


@dataclass
class DatabaseResult:
    database: str
    load_average: tuple[float, float, float]
    ceiling_get: list[float] = field(default_factory=list)
    ceiling_post: list[float] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


def _settings() -> tuple[float, float, int, int]:
    seconds = float(os.environ.get("BENCH_SECONDS", "8"))
    warmup = float(os.environ.get("BENCH_WARMUP", "1"))
    users = int(os.environ.get("BENCH_USERS", "1000"))
    teams = int(os.environ.get("BENCH_TEAMS", "100"))
    return seconds, warmup, users, teams


def _scim_headers(token: str, body: bool = False) -> dict[str, str]:
    # What Okta sends (idp-behaviour.md §1).
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/scim+json",
        "User-Agent": "Okta SCIM Client 1.0.0",
    }
    if body:
        headers["Content-Type"] = "application/scim+json; charset=utf-8"
    return headers


def _expect_total(total: int) -> Callable[[Any], str | None]:
    def check(body: Any) -> str | None:
        found = body.get("totalResults")
        return None if found == total else f"totalResults {found}, expected {total}"

    return check


def _expect_page(size: int) -> Callable[[Any], str | None]:
    def check(body: Any) -> str | None:
        found = body.get("itemsPerPage")
        return None if found == size else f"itemsPerPage {found}, expected {size}"

    return check


def _graphql_page(body: Any) -> str | None:
    if body.get("errors"):
        return f"GraphQL errors: {body['errors']}"
    nodes = body["data"]["account"]["users"]["nodes"]
    return None if len(nodes) == 100 else f"{len(nodes)} users in the page, expected 100"


def app_probes(w: world.World, run: str) -> list[Probe]:
    """The requests of the issue, shaped as Okta and the Heap front end send them."""
    target = w.users[len(w.users) // 2][1]
    patched = w.users[1][1]
    name = world.user_name(len(w.users) // 2)
    okta_create = {
        "schemas": [USER_URN],
        "userName": f"okta-{run}-{{n}}@bench.example",
        "name": {"givenName": "Test{n}", "familyName": "User"},
        "emails": [{"primary": True, "value": f"okta-{run}-{{n}}@bench.example", "type": "work"}],
        "displayName": "Test{n} User",
        "locale": "en-US",
        "externalId": f"00u{run}{{n}}",
        "groups": [],
        "password": "1mz050nq",
        "active": True,
    }
    # Okta's PATCH shape: one replace with no path and an object value (idp-behaviour.md §1.5).
    okta_patch = {
        "schemas": [PATCH_URN],
        "Operations": [
            {
                "op": "replace",
                "value": {
                    "name": {"givenName": "Patched{n}", "familyName": "Bench"},
                    "displayName": "Patched{n} Bench",
                },
            }
        ],
    }
    scim_read = _scim_headers(w.scim_token)
    scim_write = _scim_headers(w.scim_token, body=True)
    graphql = {"Authorization": f"Bearer {w.viewer_token}", "Content-Type": "application/json"}
    lookup = quote(f'userName eq "{name}"')
    return [
        Probe("get_user", "GET /Users/{id}", "GET", f"/scim/v2/Users/{target}", False, 200,
              scim_read),
        Probe("filter", 'GET /Users?filter=userName eq "..."', "GET",
              f"/scim/v2/Users?filter={lookup}&startIndex=1&count=100", False, 200, scim_read,
              check=_expect_total(1)),
        Probe("list_users", "GET /Users?count=100", "GET", "/scim/v2/Users?count=100", False,
              200, scim_read, check=_expect_page(100)),
        Probe("list_groups", "GET /Groups?excludedAttributes=members", "GET",
              "/scim/v2/Groups?excludedAttributes=members", False, 200, scim_read,
              check=_expect_page(min(100, len(w.teams) + 1))),
        Probe("graphql_users", "POST /graphql users(first: 100) + role, teams", "POST",
              "/graphql", False, 200, graphql, json.dumps({"query": GRAPHQL_USERS_PAGE}),
              check=_graphql_page),
        Probe("post_user", "POST /Users (Okta's body)", "POST", "/scim/v2/Users", True, 201,
              scim_write, json.dumps(okta_create)),
        Probe("patch_user", "PATCH /Users/{id} (name, displayName)", "PATCH",
              f"/scim/v2/Users/{patched}", True, 200, scim_write, json.dumps(okta_patch)),
    ]  # fmt: skip


def ceiling_probes(run: str) -> list[Probe]:
    json_body = {"Content-Type": "application/json"}
    return [
        Probe("ceiling_get", "ceiling GET (one PK select)", "GET", "/items/500", False, 200, {}),
        Probe("ceiling_post", "ceiling POST (one INSERT + commit)", "POST", "/items", True, 201,
              json_body, json.dumps({"name": f"item-{run}-{{n}}"})),
    ]  # fmt: skip


def _preflight(server: Server, probe: Probe) -> None:
    """One request by hand: the status and the body must be right before any load is trusted."""
    body = probe.body.replace("{n}", "preflight").encode() if probe.body else None
    request = urllib.request.Request(
        server.url + probe.path, data=body, method=probe.method, headers=dict(probe.headers)
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    problem = None if status == probe.expect else f"HTTP {status}"
    if problem is None:
        problem = probe.check(json.loads(payload))
    if problem:
        raise SystemExit(f"bench: {probe.label}: {problem}: {payload[:500]!r}")


def _capture(app: Flask, engine: Engine, probe: Probe) -> sqlcount.Capture:
    """Statements, commits and pool checkouts (each one a pre-ping) of one request in-process."""
    client = app.test_client()

    def send(n: str) -> Any:
        body = probe.body.replace("{n}", n) if probe.body else None
        return client.open(probe.path, method=probe.method, data=body, headers=dict(probe.headers))

    send("sqlwarm")  # first-use costs (and the token's once-a-minute stamp) are not per request
    with sqlcount.capture(engine) as seen:
        response = send("sqlcount")
    if response.status_code != probe.expect:
        raise SystemExit(f"bench: {probe.label} in-process: {response.status_code}")
    return seen


def _sql_text(seen: sqlcount.Capture) -> str:
    parts = [f"{len(seen.statements)} statements"]
    if seen.commits:
        parts.append(f"{seen.commits} commit" + ("s" if seen.commits > 1 else ""))
    parts.append(f"{seen.checkouts} checkout" + ("s" if seen.checkouts != 1 else ""))
    return ", ".join(parts)


def _backend_pids(app: Flask) -> Callable[[], list[int]]:
    """PostgreSQL backends serving the bench database: their CPU is the request's, not noise."""

    def pids() -> list[int]:
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            return []
        with app.app_context(), db.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return [int(pid) for (pid,) in rows]

    return pids


def _measure(
    server: Server, probe: Probe, seconds: float, our_pids: Callable[[], list[int]]
) -> tuple[load.Load, cpu.CpuShare]:
    def run() -> load.Load:
        return load.run(
            server.url,
            probe.method,
            probe.path,
            connections=probe.connections,
            seconds=seconds,
            headers=probe.headers,
            body=probe.body,
        )

    result, share = cpu.measure(run, our_pids)
    if result.errors.get("status") or result.errors.get("timeout"):
        raise SystemExit(f"bench: {probe.label}: errors under load {result.errors}")
    return result, share


def server_env(database: dbs.Database, secret: str) -> dict[str, str]:
    """The served app's settings: production's defaults (LOG_LEVEL INFO unless BENCH_LOG_LEVEL
    says otherwise) but a rate limit it never reaches."""
    env = {
        "DATABASE_URL": database.url,
        "SECRET_KEY": secret,
        "SCIM_RATE_LIMIT": world.RATE_LIMIT,
        "GRAPHQL_RATE_LIMIT": world.RATE_LIMIT,
        "RATELIMIT_STORAGE_URI": "memory://",
        "PUBLIC_BASE_URL": world.PUBLIC_BASE_URL,
    }
    if "BENCH_LOG_LEVEL" in os.environ:
        env["LOG_LEVEL"] = os.environ["BENCH_LOG_LEVEL"]
    return env


@contextmanager
def _servers(database: dbs.Database, secret: str, logs: Path) -> Iterator[tuple[Server, Server]]:
    env = server_env(database, secret)
    slug = database.label.lower()
    with ExitStack() as stack:
        app = stack.enter_context(gunicorn("app:create_app()", env, logs / f"app-{slug}.log"))
        top = stack.enter_context(
            gunicorn("bench.ceiling:create_app()", env, logs / f"ceiling-{slug}.log")
        )
        yield app, top


@dataclass
class Seeded:
    """A database ready to serve: the app and the ceiling on it, the account and its ids."""

    app: Flask
    ceiling: Flask
    world: world.World
    secret: str
    run: str  # tags what this run creates, so reruns never collide

    def engines(self) -> tuple[Engine, Engine]:
        with self.app.app_context():
            engine = db.engine
        with self.ceiling.app_context():
            top_engine = ceiling.db.engine
        return engine, top_engine

    def dispose(self) -> None:
        for engine in self.engines():
            engine.dispose()


def seed(database: dbs.Database) -> Seeded:
    _, _, users, teams = _settings()
    secret = secrets.token_urlsafe(48)
    app = world.make_app(database.url, secret)
    w = world.found(app)
    world.add_users(app, w, range(users))
    world.add_teams(app, w, range(teams))
    world.add_everyone_team(app, w)
    world.add_memberships(app, w, range(users))
    top_app = ceiling.create_app(database.url)
    ceiling.create_table(top_app, rows=1000)
    world.analyze(app)
    return Seeded(app, top_app, w, secret, secrets.token_hex(4))


def count_sql(
    seeded: Seeded, probes: list[Probe], tops: list[Probe]
) -> dict[str, sqlcount.Capture]:
    """Each request once in-process, captured. No app context is held around the requests:
    each gets (and tears down) its own session, as under gunicorn, or connections and
    transactions would carry over from one to the next."""
    engine, top_engine = seeded.engines()
    captures = {p.key: _capture(seeded.app, engine, p) for p in probes}
    return captures | {p.key: _capture(seeded.ceiling, top_engine, p) for p in tops}


def measure_database(database: dbs.Database, logs: Path) -> DatabaseResult:
    seconds, warmup, _, _ = _settings()
    seeded = seed(database)
    app, w, secret, run = seeded.app, seeded.world, seeded.secret, seeded.run
    probes, tops = _chosen(app_probes(w, run)), ceiling_probes(run)
    sql = {key: _sql_text(seen) for key, seen in count_sql(seeded, probes, tops).items()}

    result = DatabaseResult(database.label, os.getloadavg())
    backends = _backend_pids(app)
    with _servers(database, secret, logs) as (app_server, top_server):

        def our_pids() -> list[int]:
            return [
                app_server.pid,
                top_server.pid,
                *app_server.worker_pids(),
                *top_server.worker_pids(),
                *backends(),
            ]

        for server, group in ((top_server, tops), (app_server, probes)):
            for probe in group:
                _preflight(server, probe)
                load.run(
                    server.url,
                    probe.method,
                    probe.path,
                    connections=probe.connections,
                    seconds=warmup,
                    headers=probe.headers,
                    body=probe.body,
                )

        def measure(server: Server, probe: Probe) -> Figure:
            figure, share = _measure(server, probe, seconds, our_pids)
            print(
                f"  {database.label:<10} {probe.label:<48} {figure.per_second:>8.1f}/s"
                f"  (others' CPU {share.others:.2f} cores)",
                flush=True,
            )
            return Figure(
                probe.key,
                probe.label,
                probe.write,
                probe.connections,
                figure.per_second,
                figure.p50_ms,
                figure.p99_ms,
                figure.requests,
                share.others,
                sql[probe.key],
                unanswered=figure.errors.get("read", 0) + figure.errors.get("write", 0),
            )

        # Rounds interleave the ceiling with the app: each round's figures are divided by the
        # ceiling measured just before and just after them, so a machine that gets busier or
        # quieter mid-run moves both sides of a ratio.
        posted_before = _created(app, run)
        ceilings = [[measure(top_server, p) for p in tops]]
        rounds: list[list[Figure]] = []
        for _ in range(_rounds()):
            rounds.append([measure(app_server, p) for p in probes])
            ceilings.append([measure(top_server, p) for p in tops])

    result.ceiling_get = [c[0].per_second for c in ceilings]
    result.ceiling_post = [c[1].per_second for c in ceilings]
    for i, figures in enumerate(rounds):
        get_ceiling = statistics.mean(result.ceiling_get[i : i + 2])
        post_ceiling = statistics.mean(result.ceiling_post[i : i + 2])
        for figure in figures:
            figure.ratio = figure.per_second / (post_ceiling if figure.write else get_ceiling)
    merged = [_merge([r[k] for r in rounds]) for k in range(len(probes))]
    posts = next((f for f in merged if f.key == "post_user"), None)
    if posts is not None:
        _check_created(app, run, posted_before, posts, len(rounds))
    top_figures = [_merge([c[k] for c in ceilings]) for k in range(len(tops))]
    for figure in top_figures:
        figure.ratio = 1.0
    result.figures = [*top_figures, *merged]
    seeded.dispose()
    return result


def _chosen(probes: list[Probe]) -> list[Probe]:
    """BENCH_PROBES (keys, comma-separated), to measure a few requests while working on them."""
    keys = [key for key in os.environ.get("BENCH_PROBES", "").split(",") if key]
    if not keys:
        return probes
    unknown = set(keys) - {p.key for p in probes}
    if unknown:
        raise SystemExit(
            f"bench: BENCH_PROBES names {sorted(unknown)}; choose from "
            + ",".join(p.key for p in probes)
        )
    return [p for p in probes if p.key in keys]


def _rounds() -> int:
    return max(1, int(os.environ.get("BENCH_ROUNDS", "1")))


def _merge(figures: list[Figure]) -> Figure:
    """One figure from the rounds: medians, and the range of the ratios."""
    first = figures[0]
    ratios = [f.ratio for f in figures]
    return Figure(
        first.key,
        first.label,
        first.write,
        first.connections,
        statistics.median(f.per_second for f in figures),
        statistics.median(f.p50_ms for f in figures),
        statistics.median(f.p99_ms for f in figures),
        sum(f.requests for f in figures),
        statistics.mean(f.others_cores for f in figures),
        first.sql,
        statistics.median(ratios),
        (min(ratios), max(ratios)),
        sum(f.unanswered for f in figures),
    )


def _created(app: Flask, run: str) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                select(func.count())
                .select_from(ScimIdentity)
                .where(ScimIdentity.user_name.like(f"okta-{run}-%"))
            )
            or 0
        )


def _check_created(app: Flask, run: str, before: int, post: Figure, rounds: int) -> None:
    """Each counted POST made one user; a request in flight at a run's end (the warm-up's too:
    it may commit after ``before`` was counted), or one whose answer was lost to a socket
    error, may have made one more."""
    made = _created(app, run) - before
    in_flight = post.connections * (rounds + 1)
    if not post.requests <= made <= post.requests + in_flight + post.unanswered:
        raise SystemExit(
            f"bench: {post.requests} POSTs ({post.unanswered} unanswered) created {made} users"
        )


def table(result: DatabaseResult) -> str:
    rounds = len(result.ceiling_get) - 1
    lines = [
        f"### {result.database}",
        "",
        "| request | connections | req/s | x ceiling | p50 ms | p99 ms | SQL per request "
        "| others' CPU (cores) |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for f in result.figures:
        spread = ""
        if rounds > 1 and not f.key.startswith("ceiling"):
            spread = f" ({f.ratio_range[0]:.2f}-{f.ratio_range[1]:.2f})"
        lines.append(
            f"| {f.label} | {f.connections} | {f.per_second:,.0f} | {f.ratio:.2f}x{spread} "
            f"| {f.p50_ms:.1f} | {f.p99_ms:.1f} | {f.sql} | {f.others_cores:.2f} |"
        )
    load1, load5, load15 = result.load_average
    lines += [
        "",
        f"{rounds} round(s); figures are medians over the rounds, each round's ratio against "
        "the ceiling measured before and after it (range in brackets). Ceiling each time: GET "
        + ", ".join(f"{v:,.0f}" for v in result.ceiling_get)
        + " req/s; POST "
        + ", ".join(f"{v:,.0f}" for v in result.ceiling_post)
        + f" per s. Load average before the run: {load1:.2f} {load5:.2f} {load15:.2f}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    load.require_wrk()
    seconds, _, users, teams = _settings()
    OUT.mkdir(exist_ok=True)
    results: list[DatabaseResult] = []
    print(
        f"served bench: gunicorn 2 sync workers on 127.0.0.1, wrk -t1, reads -c{READ_CONNECTIONS},"
        f" writes -c{WRITE_CONNECTIONS}, {seconds:g} s each; {users:,} users, {teams:,} teams",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="heap-bench-") as tmp:
        for name in dbs.selected():
            place = dbs.sqlite(Path(tmp)) if name == "sqlite" else dbs.postgresql("heap_bench")
            with place as database:
                results.append(measure_database(database, Path(tmp)))
    header = (
        f"Served: gunicorn, 2 sync workers, 127.0.0.1; wrk -t1 for {seconds:g} s per figure, "
        f"reads from {READ_CONNECTIONS} connections, writes from {WRITE_CONNECTIONS} (one after "
        f"another); {users:,} users and {teams:,} teams seeded. Reads are divided by the ceiling's "
        "GET, writes by its POST. SQL per request is counted in-process (a checkout is one "
        "pool pre-ping).\n\n"
    )
    report = header + "\n".join(table(r) for r in results)
    (OUT / "served.md").write_text(report)
    (OUT / "served.json").write_text(json.dumps([asdict(r) for r in results], indent=2))
    chart.served(results, OUT / "served.png")
    print()
    print(report)
    print(f"written: {OUT / 'served.md'}, {OUT / 'served.json'}, {OUT / 'served.png'}")
