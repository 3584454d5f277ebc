"""`python -m bench [served|scale|profile|groups|all]`; with no argument, served then scale.

- served: the app under gunicorn beside the bare-Flask ceiling, both databases (bench/served.py)
- scale: 1,000 against 100,000 users on PostgreSQL, with EXPLAIN ANALYZE of what grows (scale.py)
- profile: where a served GET /Users/{id} and POST /Users spend their time (profile.py)
- groups: group PATCH cost as the team grows, in-process (groups.py)
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import groups, profile, scale, served

PARTS: dict[str, list[Callable[[], None]]] = {
    "served": [served.main],
    "scale": [scale.main],
    "profile": [profile.main],
    "groups": [groups.main],
    "all": [served.main, scale.main, profile.main],
}


def main(argv: list[str]) -> None:
    chosen = argv[0] if argv else None
    parts = PARTS.get(chosen) if chosen else [served.main, scale.main]
    if parts is None or len(argv) > 1:
        raise SystemExit(f"usage: python -m bench [{'|'.join(PARTS)}]")
    for part in parts:
        part()


if __name__ == "__main__":
    main(sys.argv[1:])
