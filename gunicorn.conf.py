"""gunicorn settings for the Heap SCIM service.

    .venv/bin/gunicorn --config gunicorn.conf.py --bind 127.0.0.1:8000 'app:create_app()'

Every value a deployment may want to change comes from the environment (README, "Operating it").
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

wsgi_app = "app:create_app()"
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]

# Processes (WEB_CONCURRENCY, default 2 x CPUs + 1) and threads per process (GUNICORN_THREADS,
# default 1: the sync worker). Each process keeps its own database pool: keep
# workers x (pool_size + max_overflow) under PostgreSQL's max_connections.
# The CPUs this process may run on (a container's cpuset), not the host's.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * len(os.sched_getaffinity(0)) + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 1))
# The stock workers, with JSON instead of HTML for the errors gunicorn answers itself.
worker_class = (
    "ops.gunicorn_worker.JsonErrorsThreadWorker"
    if threads > 1
    else "ops.gunicorn_worker.JsonErrorsSyncWorker"
)

# A worker silent this long is killed. The database timeouts (ops/database.py) end a request on a
# dead or hung database within about 10 s, so this only catches real bugs.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
# On SIGTERM (a deploy), requests in flight get this long to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 20))

# gunicorn's maximum. SCIM filters may be 4,096 characters (scim/filters.py); percent-encoding
# makes that up to 12,288 bytes in the worst case, which no gunicorn setting admits. Real filters
# (userName eq "...", externalId eq "...") encode to about 1.1x, so any filter of up to 4,096
# characters with fewer than about 1,300 escaped characters fits; a longer line gets a JSON 414.
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190

# X-Forwarded-Proto and friends are believed only from these addresses (comma-separated, "*"
# for any: only when nothing but the proxy can reach gunicorn). The app's own ProxyFix is set
# apart with PROXY_FIX_HOPS.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn 27 opens a control socket under ~/.gunicorn by default; nothing here uses it.
control_socket_disable = True

# One JSON line per request comes from the app (ops/access.py); gunicorn's access log would
# repeat it. gunicorn's own lines (boot, worker exits) are JSON too.
accesslog = None
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "ops.logs.JsonFormatter"}},
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
        "discard": {"class": "logging.NullHandler"},
    },
    # Libraries (alembic, which /readyz uses) only when something is wrong.
    "root": {"level": "WARNING", "handlers": ["json"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["discard"], "propagate": False},
    },
}

# Prometheus multiprocess mode: every worker writes its samples under this directory and
# /metrics sums them. It must be set before a worker imports prometheus_client, hence here.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="heap-metrics-")


def on_starting(server: Any) -> None:
    """Samples of an earlier run would be added to this one's: start from an empty directory
    (made if it is missing: without it every request's metrics, /healthz's too, would fail)."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's gauges must stop counting; its counters stay in the sums."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    if _own_metrics_dir:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
