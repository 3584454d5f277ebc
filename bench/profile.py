"""`python -m bench profile`: where a served GET /Users/{id} and POST /Users spend their time.

On each database (seeded as for the served bench), gunicorn serves the app with one sync worker
and wrk loads one request shape (GET from 2 connections, so the worker is never idle; POST from
one, as Okta sends them) while py-spy samples the worker, idle time included (a wait for the
database is idle to the OS but is the request's time). Samples taken inside gunicorn's
``handle`` are the request's; each is put in one bucket:

- round trips, wherever they happen: the pool's pre-ping, COMMIT, ROLLBACK, statement
  execution and fetching in the driver (SQLite's C code or psycopg), opening a connection;
- then two things that run around every request: logging, the rate limiter;
- else the package of the innermost frame: marshmallow, JSON, SQLAlchemy's own Python (compiling,
  ORM, result rows), Flask/Werkzeug, gunicorn, our code (heap/, scim/, graph/, ops/, app.py).

Beside it, the SQL each request type sends (counted in-process, every statement listed) and our
functions by inclusive time. Raw py-spy stacks go to bench/out/profile-*.txt (flamegraph.pl or
speedscope read them).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bench import dbs, load, served
from bench.servers import gunicorn

RATE = 250  # samples per second


@dataclass(frozen=True)
class Frame:
    function: str  # "Class.method" or "function"
    path: str  # as py-spy shortens it: "sqlalchemy/orm/session.py", "scim/users.py", "app.py"

    @classmethod
    def parse(cls, text: str) -> Frame:
        function, _, where = text.rpartition(" (")
        return cls(function, where.rpartition(":")[0])

    @property
    def ours(self) -> bool:
        return self.path.startswith(("heap/", "scim/", "graph/", "ops/")) or self.path == "app.py"


@dataclass(frozen=True)
class Bucket:
    name: str
    functions: tuple[str, ...] = ()  # method or function names, without the class
    paths: tuple[str, ...] = ()  # file path prefixes

    def matches(self, frame: Frame) -> bool:
        name = frame.function.rpartition(".")[2]
        return name in self.functions or frame.path.startswith(self.paths)


# Wherever they are in the stack: each is a round trip, or runs around every request.
_ANYWHERE = [
    Bucket("pool pre-ping (SELECT 1 per checkout)", functions=("_do_ping_w_event", "do_ping")),
    Bucket("COMMIT", functions=("do_commit",)),
    Bucket("ROLLBACK / connection reset", functions=("do_rollback", "_reset")),
    Bucket("opening a connection", functions=("__connect",)),
    Bucket(
        "SQL: execute + fetch in the driver/database",
        functions=("do_execute", "do_executemany", "do_execute_no_params"),
        paths=("psycopg/",),
    ),
    Bucket("logging (JSON request log)", paths=("logging/",)),
    Bucket("rate limiter (ops/limits.py, limits)", paths=("ops/limits.py", "limits/")),
]
# Else by the package of the innermost frame: that package's own time.
_INNERMOST = [
    Bucket("marshmallow", paths=("marshmallow/",)),
    Bucket("GraphQL (strawberry, graphql-core)", paths=("strawberry/", "graphql/")),
    Bucket("JSON encode/decode", paths=("json/", "flask/json/")),
    Bucket("SQLAlchemy Python (compile, ORM, rows)", paths=("sqlalchemy/",)),
    Bucket("Flask / Werkzeug", paths=("flask/", "werkzeug/", "flask_sqlalchemy/")),
    Bucket("gunicorn (HTTP parse, socket I/O)", paths=("gunicorn/",)),
    Bucket(
        "tokens: itsdangerous, hashlib, hmac, uuid",
        paths=("itsdangerous/", "hashlib.py", "hmac.py", "uuid.py"),
    ),
    Bucket(
        "our code (heap/, scim/, graph/, ops/, app.py)",
        paths=("heap/", "scim/", "graph/", "ops/", "app.py"),
    ),
]


@dataclass(frozen=True)
class Profile:
    label: str
    database: str
    requests: int
    seconds: float
    buckets: Counter[str]
    ours: Counter[str]
    leaves: Counter[str]
    request_samples: int

    def ms(self, samples: int) -> float:
        return samples / RATE * 1000 / self.requests if self.requests else 0.0


def _frames(line: str) -> tuple[list[Frame], int]:
    stack, _, count = line.rpartition(" ")
    return [Frame.parse(text) for text in stack.split(";")], int(count)


def _bucket(frames: list[Frame]) -> str:
    for bucket in _ANYWHERE:
        if any(bucket.matches(frame) for frame in frames):
            return bucket.name
    for frame in reversed(frames):
        for bucket in _INNERMOST:
            if bucket.matches(frame):
                return bucket.name
    return "other (stdlib: threading, re, ...)"


def analyse(raw: Path, label: str, database: str, requests: int, seconds: float) -> Profile:
    buckets: Counter[str] = Counter()
    ours: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        if not line.strip():
            continue
        frames, count = _frames(line)
        if not any(f.function == "SyncWorker.handle" for f in frames):
            continue  # between requests: the worker waits for the next connection
        total += count
        buckets[_bucket(frames)] += count
        leaf = frames[-1]
        leaves[f"{leaf.function} ({leaf.path})"] += count
        for name in dict.fromkeys(f"{f.function} ({f.path})" for f in frames if f.ours):
            ours[name] += count
    return Profile(label, database, requests, seconds, buckets, ours, leaves, total)


def _record(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(RATE),
            "--duration",
            str(max(1, round(seconds))),
            "--idle",
            "--format",
            "raw",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _profile_database(database: dbs.Database, logs: Path, seconds: float) -> list[str]:
    seeded = served.seed(database)
    probes = {p.key: p for p in served.app_probes(seeded.world, seeded.run)}
    tops = served.ceiling_probes(seeded.run)
    captures = served.count_sql(seeded, list(probes.values()), tops)
    report = [f"### {database.label}", "", "SQL each request sends (in-process, one request):", ""]
    for key, seen in captures.items():
        label = probes[key].label if key in probes else next(t.label for t in tops if t.key == key)
        report.append(
            f"- **{label}**: {len(seen.statements)} statements, {seen.commits} commits, "
            f"{seen.checkouts} pool checkouts (a pre-ping each)"
        )
        report += [f"  {i}. `{s.summary}`" for i, s in enumerate(seen.statements, 1)]
    report.append("")
    env = served.server_env(database, seeded.secret)
    profiles: list[Profile] = []
    slug = database.label.lower()
    with gunicorn("app:create_app()", env, logs / f"profile-{slug}.log", workers=1) as server:
        (worker,) = server.worker_pids()
        for key, connections in (("get_user", 2), ("post_user", 1)):
            probe = probes[key]
            served._preflight(server, probe)
            load.run(server.url, probe.method, probe.path, connections=connections,
                     seconds=1, headers=probe.headers,
                     body=probe.body)  # fmt: skip
            raw = served.OUT / f"profile-{slug}-{key}.txt"
            spy = _record(worker, seconds + 1, raw)
            result = load.run(server.url, probe.method, probe.path, connections=connections,
                              seconds=seconds, headers=probe.headers, body=probe.body)  # fmt: skip
            _, error = spy.communicate()
            if spy.returncode != 0 or not raw.exists():
                raise SystemExit(f"bench: py-spy failed (it needs ptrace): {error.decode()}")
            profiles.append(analyse(raw, probe.label, database.label, result.requests, seconds))
    seeded.dispose()
    for profile in profiles:
        report += _profile_table(profile)
    return report


def _profile_table(p: Profile) -> list[str]:
    per_second = p.requests / p.seconds if p.seconds else 0.0
    lines = [
        f"#### {p.label}, {p.database}: {per_second:,.0f} req/s on one worker, "
        f"{p.ms(p.request_samples):.2f} ms of worker time per request",
        "",
        "| where | ms per request | share |",
        "|---|---:|---:|",
    ]
    for name, samples in p.buckets.most_common():
        share = samples / p.request_samples if p.request_samples else 0.0
        lines.append(f"| {name} | {p.ms(samples):.2f} | {share:.0%} |")
    lines += ["", "Our functions by inclusive time (top 12):", ""]
    lines += _top(p, p.ours, 12)
    lines += ["", "Innermost frames (self time, top 10):", ""]
    lines += _top(p, p.leaves, 10)
    return [*lines, ""]


def _top(p: Profile, counter: Counter[str], n: int) -> Iterable[str]:
    for frame, samples in counter.most_common(n):
        share = samples / p.request_samples if p.request_samples else 0.0
        yield f"- {p.ms(samples):.2f} ms ({share:.0%}) `{frame}`"


def main() -> None:
    load.require_wrk()
    seconds = float(os.environ.get("BENCH_PROFILE_SECONDS", "10"))
    served.OUT.mkdir(exist_ok=True)
    report = [
        "## Profile of served requests (py-spy on one gunicorn sync worker)",
        "",
        f"{RATE} samples/s for {seconds:g} s per request shape; GET from 2 connections, POST "
        "from 1. Buckets as in bench/profile.py's docstring; 'ms per request' is the worker's "
        "time, the sampler's own pauses included.",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="heap-profile-") as tmp:
        for name in dbs.selected():
            place = dbs.sqlite(Path(tmp)) if name == "sqlite" else dbs.postgresql("heap_bench")
            with place as database:
                report += _profile_database(database, Path(tmp), seconds)
    text = "\n".join(report)
    (served.OUT / "profile.md").write_text(text)
    print(text)
    print(f"written: {served.OUT / 'profile.md'}")
