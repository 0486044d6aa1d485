"""The Query root: every entry point filters by the viewer's scope."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import strawberry

from resolvers.directory import accounts as account_data
from resolvers.directory import guardians as guardian_data
from resolvers.directory import schools as school_data
from resolvers.directory import students as student_data
from resolvers.portal.lifecycle import PortalStatus as PolicyPortalStatus
from schema.directory.accounts import Account, Viewer
from schema.directory.guardians import Guardian
from schema.directory.schools import District, School
from schema.directory.students import Student, student_connection
from schema.enums import AccountKind, PortalStatus
from schema.graphql_context import Info
from schema.node import Node, from_global_id, pk_of
from schema.relay import (
    After,
    BadUserInput,
    Before,
    Connection,
    First,
    Last,
    PageArgs,
    connection,
    page_request,
)
from schema.restrictions import signed_in
from schema.student_data import forms, student_logins

if TYPE_CHECKING:
    from schema.student_data.forms import FormAssignment
    from schema.student_data.student_logins import StudentLoginBill


async def _resolve_node(info: Info, global_id: str) -> Node | None:
    """The object a global ID names, found by its own type (``Node.resolve_node``)
    when that type is a Node of the served schema; anything else is not found."""
    parsed = from_global_id(global_id)
    if parsed is None:
        return None
    type_name, pk = parsed
    definition = info.schema.get_type_by_name(type_name)
    origin = getattr(definition, "origin", None)
    if not (isinstance(origin, type) and issubclass(origin, Node)) or origin is Node:
        return None
    return await origin.resolve_node(info, pk)


def _optional_pk(global_id: strawberry.ID | None, type_name: str) -> int | None:
    """A filter id: None when absent, -1 (matches nothing) when not of the type."""
    if global_id is None:
        return None
    pk = pk_of(global_id, type_name)
    return -1 if pk is None else pk


@strawberry.input(description="Narrows the accounts list; every field is optional.")
class AccountFilter:
    kind: AccountKind | None = strawberry.field(
        default=None, description="Only accounts of this kind."
    )
    school_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only accounts linked to this school (its global ID)."
    )
    portal_status: PortalStatus | None = strawberry.field(
        default=None, description="Only accounts with this portal status."
    )
    never_logged_in: bool | None = strawberry.field(
        default=None,
        description="Only accounts that have never signed in (candidates for a welcome email).",
    )
    search: str | None = strawberry.field(
        default=None, description="Only accounts matching every word of this text (any case)."
    )


@strawberry.input(description="Narrows the contacts list; every field is optional.")
class GuardianFilter:
    school_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only contacts of students at this school (its global ID)."
    )
    portal_status: PortalStatus | None = strawberry.field(
        default=None, description="Only contacts with this portal status."
    )
    search: str | None = strawberry.field(
        default=None,
        description="Only contacts whose name or email matches every word of this text.",
    )


@strawberry.type(
    description="What a viewer may read. Every list is filtered to the viewer's scope in SQL."
)
class Query:
    @strawberry.field(
        description="Any object with a global ID, or null when it does not exist for this viewer.",
        extensions=signed_in(),
    )
    async def node(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID,
            strawberry.argument(description="A global ID, as an object's `id` gives it."),
        ],
    ) -> Node | None:
        return await _resolve_node(info, id)

    @strawberry.field(
        description="Several objects by global ID, in the order asked; null for each not visible.",
        extensions=signed_in(),
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(description="Global IDs, as objects' `id` give them."),
        ],
    ) -> list[Node | None]:
        if len(ids) > info.context.policy.max_page_size:
            raise BadUserInput(
                f"ids may name at most {info.context.policy.max_page_size} nodes.", "ids"
            )
        # Concurrently, so that the ids of one type are one batch of their
        # loader: one statement per type named, whatever the number of ids.
        return list(await asyncio.gather(*(_resolve_node(info, global_id) for global_id in ids)))

    @strawberry.field(
        description="Who is asking: the signed-in account (or anonymous), roles, students."
    )
    def viewer(self, info: Info) -> Viewer:
        viewer = info.context.viewer
        return Viewer(
            is_authenticated=viewer.is_authenticated, can_record_data=viewer.can_record_data
        )

    @strawberry.field(
        description="Districts in the viewer's scope, by name.", extensions=signed_in()
    )
    async def districts(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[District]:
        request = page_request(
            info, PageArgs(first, after, last, before), school_data.DISTRICT_ORDER
        )
        db, viewer = info.context.db, info.context.viewer
        page = await school_data.district_page(db, viewer, request)
        return connection(page, District.from_row, lambda: school_data.district_count(db, viewer))

    @strawberry.field(description="Schools in the viewer's scope, by name.", extensions=signed_in())
    async def schools(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[School]:
        request = page_request(info, PageArgs(first, after, last, before), school_data.SCHOOL_ORDER)
        db, viewer = info.context.db, info.context.viewer
        page = await school_data.school_page(db, viewer, request)
        return connection(page, School.from_row, lambda: school_data.school_count(db, viewer))

    @strawberry.field(
        description="Students in the viewer's scope, by family name, given name.",
        extensions=signed_in(),
    )
    async def students(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        school_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only students of this school.")
        ] = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Only students matching every word of this text (any case)."
            ),
        ] = None,
    ) -> Connection[Student]:
        where = student_data.StudentFilter(
            school_id=_optional_pk(school_id, "School"), search=search
        )
        return await student_connection(info, PageArgs(first, after, last, before), where)

    @strawberry.field(
        description="Contacts of students in the viewer's scope, by family name, given name.",
        extensions=signed_in(),
    )
    async def guardians(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            GuardianFilter | None,
            strawberry.argument(description="Narrows the list; null: every contact in scope."),
        ] = None,
    ) -> Connection[Guardian]:
        given = filter or GuardianFilter()
        where = guardian_data.GuardianFilter(
            school_id=_optional_pk(given.school_id, "School"),
            portal_status=PolicyPortalStatus(given.portal_status.value)
            if given.portal_status is not None
            else None,
            search=given.search,
        )
        request = page_request(info, PageArgs(first, after, last, before), guardian_data.ORDER)
        db, viewer = info.context.db, info.context.viewer
        page = await guardian_data.guardian_page(db, viewer, request, where)
        return connection(
            page, Guardian.from_row, lambda: guardian_data.guardian_count(db, viewer, where)
        )

    @strawberry.field(
        description="Login accounts in the viewer's scope, by name.", extensions=signed_in()
    )
    async def accounts(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[
            AccountFilter | None,
            strawberry.argument(description="Narrows the list; null: every account in scope."),
        ] = None,
    ) -> Connection[Account]:
        given = filter or AccountFilter()
        where = account_data.AccountFilter(
            kind=given.kind.value if given.kind is not None else None,
            school_id=_optional_pk(given.school_id, "School"),
            portal_status=PolicyPortalStatus(given.portal_status.value)
            if given.portal_status is not None
            else None,
            never_logged_in=given.never_logged_in,
            search=given.search,
        )
        request = page_request(info, PageArgs(first, after, last, before), account_data.ORDER)
        db, viewer = info.context.db, info.context.viewer
        page = await account_data.account_page(db, viewer, request, where)
        return connection(
            page, Account.from_row, lambda: account_data.account_count(db, viewer, where)
        )

    @strawberry.field(
        description="Form assignments the viewer may see (or must fill in), in the order they were made.",
        extensions=signed_in(),
    )
    async def form_assignments(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[Annotated[FormAssignment, strawberry.lazy("schema.student_data.forms")]]:
        return await forms.form_assignments(info, PageArgs(first, after, last, before))

    @strawberry.field(
        description="What a school's student logins cost for a term; null when the school is not in the viewer's scope, FORBIDDEN when their role may not see bills.",
        extensions=signed_in(),
    )
    async def student_login_bill(
        self,
        info: Info,
        school_id: Annotated[
            strawberry.ID, strawberry.argument(description="The school's global ID.")
        ],
        term_name: Annotated[
            str,
            strawberry.argument(
                description="The term's name as the SIS gives it; an unknown term is BAD_USER_INPUT."
            ),
        ],
    ) -> Annotated[StudentLoginBill, strawberry.lazy("schema.student_data.student_logins")] | None:
        return await student_logins.student_login_bill(info, school_id, term_name)
