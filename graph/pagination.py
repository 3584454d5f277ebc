"""Global ids, the Node interface, and Relay connections with ``totalCount`` and keyset cursors."""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from graph.context import field
from graph.errors import PublicError, TopLevelCode
from heap.errors import NotFound
from heap.services.directory import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page

M = TypeVar("M")
N = TypeVar("N")

_CURSOR = "cursor"
# Primary keys are 32-bit integers: a larger "id" names nothing, and would overflow SQLite's
# parameter binding (a 500) if it reached a query.
_MAX_KEY = 2**31 - 1


@strawberry.interface(description="An object with a global id: refetch it with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Opaque global id.")


def encode_id(type_name: str, key: int | str) -> strawberry.ID:
    return strawberry.ID(b64encode(f"{type_name}:{key}".encode()).decode())


def parse_id(value: str) -> tuple[str, str] | None:
    """(type name, key) of a global id, or None when it is not one."""
    try:
        decoded = b64decode(value.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    type_name, separator, key = decoded.partition(":")
    return (type_name, key) if separator and type_name and key else None


def parse_key(value: str) -> int | None:
    """A primary key written in a global id or cursor, or None if it cannot be one."""
    # isdigit() alone accepts "٣" and "²"; only ASCII digits, of a size a key can have.
    if not (value.isascii() and value.isdigit() and len(value) <= 10):
        return None
    key = int(value)
    return key if 0 < key <= _MAX_KEY else None


def typed_key(value: str, type_name: str) -> int | None:
    """The primary key inside a global id of ``type_name``, or None."""
    parsed = parse_id(value)
    return parse_key(parsed[1]) if parsed is not None and parsed[0] == type_name else None


def decode_id(value: str, type_name: str, *, field: str) -> int:
    """The database id inside a global id of ``type_name``; NOT_FOUND on ``field`` otherwise."""
    key = typed_key(value, type_name)
    if key is None:
        raise NotFound(f"{value!r} is not the id of a {type_name}.", field=field)
    return key


def encode_cursor(key: int) -> str:
    return b64encode(f"{_CURSOR}:{key}".encode()).decode()


def decode_cursor(value: str | None) -> int | None:
    """The key a cursor continues after; BAD_USER_INPUT for one this API did not hand out.

    Starting over from the first page instead would show a client its own bug as duplicates.
    """
    if value is None:
        return None
    key = typed_key(value, _CURSOR)
    if key is None:
        raise PublicError(
            f"{value!r} is not a cursor from this list.", code=TopLevelCode.BAD_USER_INPUT
        )
    return key


def check_first(first: int | None) -> int | None:
    """``first`` as asked: above the cap it is capped later (Relay's way), below 0 it is refused."""
    if first is not None and first < 0:
        raise PublicError("`first` must be 0 or more.", code=TopLevelCode.BAD_USER_INPUT)
    return first


FIRST_DESCRIPTION = (
    f"Page size, 0 to {MAX_PAGE_SIZE} (larger values are capped); {DEFAULT_PAGE_SIZE} if omitted."
)


@strawberry.type(description="Where a page sits in the whole list.")
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type(description="One item of a page, with the cursor to continue after it.")
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type(description="A page of a list, Relay-style, with the size of the whole list.")
class Connection(Generic[N]):
    edges: list[Edge[N]]
    page_info: PageInfo
    total_count: int = strawberry.field(description="How many items match, over all pages.")

    @field(description="The page's items, without cursors.")
    def nodes(self) -> list[N]:
        return [edge.node for edge in self.edges]


def connection(
    page: Page[M],
    *,
    key: Callable[[M], int],
    to_node: Callable[[Sequence[M]], list[N]],
    after: int | None,
) -> Connection[N]:
    """A connection over one page of models; ``to_node`` converts the whole page at once."""
    nodes = to_node(page.items)
    edges = [
        Edge(cursor=encode_cursor(key(model)), node=node)
        for model, node in zip(page.items, nodes, strict=True)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total,
    )
