"""Global ids, the Node interface, and Relay connections with ``totalCount`` and keyset cursors."""

from __future__ import annotations

import binascii
from base64 import b64decode, b64encode
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from graph.context import field
from heap.errors import NotFound
from heap.services.directory import MAX_PAGE_SIZE, Page

M = TypeVar("M")
N = TypeVar("N")

_CURSOR = "cursor"


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


def decode_id(value: str, type_name: str, *, field: str) -> int:
    """The database id inside a global id of ``type_name``; NOT_FOUND on ``field`` otherwise."""
    parsed = parse_id(value)
    if parsed is None or parsed[0] != type_name or not parsed[1].isdigit():
        raise NotFound(f"{value!r} is not the id of a {type_name}.", field=field)
    return int(parsed[1])


def encode_cursor(key: int) -> str:
    return b64encode(f"{_CURSOR}:{key}".encode()).decode()


def decode_cursor(value: str | None) -> int | None:
    """The key a cursor continues after; an unreadable cursor starts from the beginning."""
    if value is None:
        return None
    parsed = parse_id(value)
    if parsed is None or parsed[0] != _CURSOR or not parsed[1].isdigit():
        return None
    return int(parsed[1])


FIRST_DESCRIPTION = f"Page size, at most {MAX_PAGE_SIZE} (larger values are capped)."


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
