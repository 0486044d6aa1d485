"""Relay connections with keyset cursors and a scoped ``totalCount``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from graphql import GraphQLError
from sqlalchemy.engine import Row

from resolvers.pagination import Cursors, InvalidCursor, Page, PageRequest
from schema.graphql_context import Info

NodeT = TypeVar("NodeT")


@strawberry.type(description="Where a page sits in its list.")
class PageInfo:
    has_next_page: bool = strawberry.field(
        description="Whether the list goes on after this page: ask for the next page with "
        "`after: endCursor` (paging backward, true when the page was asked for with `before`)."
    )
    has_previous_page: bool = strawberry.field(
        description="Whether the list has items before this page: ask for them with "
        "`last` and `before: startCursor` (paging forward, true when the page was asked for "
        "with `after`)."
    )
    start_cursor: str | None = strawberry.field(
        description="The first edge's cursor, to pass as `before` for the page before; null "
        "when the page is empty."
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
    "items, then for the next page with `after: pageInfo.endCursor`; or page backward with "
    "`last` and `before: pageInfo.startCursor`."
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

# The arguments of every connection field, described once.
First = Annotated[
    int | None,
    strawberry.argument(
        description="Page forward: how many items to return, 1 up to the server's maximum "
        "page size (ACCESSGRAPH_MAX_PAGE_SIZE, 100 unless configured). With neither `first` "
        f"nor `last`, {DEFAULT_PAGE_SIZE}. Anything else, or `first` with `last`, is a "
        "BAD_USER_INPUT error."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Start after this cursor: the `endCursor` (or an edge's `cursor`) this "
        "same list gave out; null starts at the beginning. A cursor of another list, or one "
        "it cannot read, is a BAD_USER_INPUT error."
    ),
]
Last = Annotated[
    int | None,
    strawberry.argument(
        description="Page backward: how many items to return from the end (or from just "
        "before `before`), 1 up to the maximum page size; the edges stay in the list's order. "
        "Not with `first`."
    ),
]
Before = Annotated[
    str | None,
    strawberry.argument(
        description="End just before this cursor: the `startCursor` (or an edge's `cursor`) "
        "this same list gave out; null ends at the list's end. A cursor of another list, or "
        "one it cannot read, is a BAD_USER_INPUT error."
    ),
]


@dataclass(frozen=True, slots=True)
class PageArgs:
    """A connection field's four Relay arguments, as the client sent them."""

    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None


def _size(value: int, name: str, maximum: int) -> int:
    if not 1 <= value <= maximum:
        raise BadUserInput(f"{name} must be between 1 and {maximum}.", name)
    return value


def _cursor(cursors: Cursors, value: str | None, name: str, order: Any) -> tuple[Any, ...] | None:
    if value is None:
        return None
    try:
        return cursors.decode(value, order)
    except InvalidCursor as exc:
        raise BadUserInput(f"{name} is not a cursor this list gave out.", name) from exc


def page_request(info: Info, args: PageArgs, order: Any) -> PageRequest:
    """Check the page arguments: ``first`` or ``last`` (not both) 1..max
    (neither: ``first`` 20), cursors this list made."""
    maximum = info.context.policy.max_page_size
    if args.first is not None and args.last is not None:
        raise BadUserInput("Send first or last, not both.", "last")
    backward = args.last is not None
    if args.last is not None:
        size = _size(args.last, "last", maximum)
    else:
        size = _size(DEFAULT_PAGE_SIZE if args.first is None else args.first, "first", maximum)
    cursors = list_cursors(info, order)
    return PageRequest(
        cursors=cursors,
        size=size,
        after=_cursor(cursors, args.after, "after", order),
        before=_cursor(cursors, args.before, "before", order),
        backward=backward,
    )


def list_cursors(info: Info, order: Any) -> Cursors:
    """Cursors bound to this list: the field (``School.students``) and the
    columns it is sorted by, signed with the server's cursor key."""
    columns = ",".join(str(column.key) for column in order)
    tag = f"{info.path.typename}.{info.field_name}:{columns}"
    return Cursors(key=info.context.policy.cursor_key, tag=tag)


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
