"""Relay connections with keyset cursors and a scoped ``totalCount``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.engine import Row

from resolvers.pagination import InvalidCursor, Page, PageRequest, decode_cursor
from schema.graphql_context import Info

NodeT = TypeVar("NodeT")


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether the list goes on after this page: ask for the next page with "
        "`after: endCursor`."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether the list has items before this page (true when the page was "
        "asked for with `after`)."
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor; null when the page is empty."
    )
    end_cursor: str | None = strawberry.field(
        description="The last edge's cursor, to pass as `after` for the next page; null when "
        "the page is empty."
    )


@strawberry.type(description="One item of a page, with its place in the list.")
class Edge(Generic[NodeT]):
    cursor: str = strawberry.field(
        description="Where this item sits: opaque, and good only for the list that gave it out."
    )
    node: NodeT = strawberry.field(description="The item.")


@strawberry.type(
    description="A page of a list, in the list's order (a Relay connection): ask for `first` "
    "items, then for the next page with `after: pageInfo.endCursor`."
)
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]] = strawberry.field(description="The page's items, in list order.")
    page_info: PageInfo = strawberry.field(description="Where this page sits in the list.")
    count_total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole list has, in the viewer's scope.")
    async def total_count(self) -> int:
        return await self.count_total()


class BadUserInput(GraphQLError):
    def __init__(self, message: str, argument: str) -> None:
        super().__init__(message, extensions={"code": "BAD_USER_INPUT", "argument": argument})


DEFAULT_PAGE_SIZE = 20


def page_request(info: Info, first: int | None, after: str | None, order: Any) -> PageRequest:
    """Check the page arguments: ``first`` 1..max (null: the default), a
    cursor this list made."""
    maximum = info.context.policy.max_page_size
    if first is None:
        first = DEFAULT_PAGE_SIZE
    if not 1 <= first <= maximum:
        raise BadUserInput(f"first must be between 1 and {maximum}.", "first")
    if after is None:
        return PageRequest(first=first)
    try:
        return PageRequest(first=first, after=decode_cursor(after, order))
    except InvalidCursor as exc:
        raise BadUserInput("after is not a cursor this list gave out.", "after") from exc


def connection(
    page: Page,
    convert: Callable[[Row[Any]], NodeT],
    count_total: Callable[[], Awaitable[int]],
) -> Connection[NodeT]:
    edges = [
        Edge(cursor=cursor, node=convert(row))
        for row, cursor in zip(page.rows, page.cursors, strict=True)
    ]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        ),
        count_total=count_total,
    )
