"""`python -m graph` rewrites graph/schema.graphql from the code (never edit it by hand)."""

from __future__ import annotations

from graph import SCHEMA_FILE, printed_schema

if __name__ == "__main__":
    SCHEMA_FILE.write_text(printed_schema())
    print(f"wrote {SCHEMA_FILE}")
