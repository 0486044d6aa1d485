"""AccessReview and AccessEvent: who can see a student, and who looked.

Reached only through ``Student.accessReview`` (restricted to ACCESS_REVIEW:
admins, the student's guardians, the student if the section is visible).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from resolvers.student_data import audit as data
from schema.enums import AccountKind
from schema.graphql_context import Info
from schema.node import Node, to_global_id
from schema.portal import access
from schema.relay import After, Before, Connection, First, Last, PageArgs, connection, page_request

if TYPE_CHECKING:
    from schema.portal.access import StudentAccessGrant


@strawberry.type(description="One entry of a student's access log: who read or changed what, when.")
class AccessEvent(Node):
    at: dt.datetime = strawberry.field(description="When it happened.")
    actor_name: str = strawberry.field(
        description=(
            "Who looked or acted: for an account linked to a staff record, that "
            "record's name (never the account's self-chosen display name); otherwise "
            "the account's display name; the SIS sync and the system name themselves."
        )
    )
    actor_kind: AccountKind | None = strawberry.field(
        description=(
            "Null when the SIS sync or the system acted "
            "(e.g. a custody restriction revoking a grant)."
        )
    )
    action: str = strawberry.field(
        description="What was read or changed, e.g. STUDENT_PROFILE, GRANT_REVOKED."
    )

    @classmethod
    def from_row(cls, row: Row[Any]) -> AccessEvent:
        return cls(
            id=to_global_id("AccessEvent", row.id),
            at=row.at,
            actor_name=row.actor_name,
            actor_kind=AccountKind(row.actor_kind) if row.actor_kind is not None else None,
            action=row.action,
        )


@strawberry.type(description="Who can see a student's information, and who has looked at it.")
class AccessReview:
    student_id: strawberry.Private[int]

    @strawberry.field(description="Everyone with current access through the portal.")
    async def grants(
        self, info: Info
    ) -> list[Annotated[StudentAccessGrant, strawberry.lazy("schema.portal.access")]]:
        rows = await info.context.loaders.current_grants_by_student_id.load(self.student_id)
        return [access.StudentAccessGrant.from_row(row) for row in rows]

    @strawberry.field(description="Who has looked at this student's information, newest first.")
    async def access_log(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> Connection[AccessEvent]:
        request = page_request(info, PageArgs(first, after, last, before), data.LOG_ORDER)
        loaders = info.context.loaders
        page = await loaders.access_log_page_by_student_id.load((self.student_id, request))
        return connection(
            page,
            AccessEvent.from_row,
            lambda: loaders.access_log_count_by_student_id.load(self.student_id),
        )
