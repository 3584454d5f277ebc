"""`python -m graph.graphiql` (run by ``make install``) copies GraphiQL's files into dist/."""

from __future__ import annotations

from graph.graphiql.build import main

if __name__ == "__main__":
    raise SystemExit(main())
