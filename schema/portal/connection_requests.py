"""ConnectionRequest: a request for one person to access one student."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from resolvers.portal.connection_requests import effective_status
from schema.enums import ConnectionRequestStatus
from schema.graphql_context import Info
from schema.node import Node, to_global_id
from schema.portal import access

if TYPE_CHECKING:
    from schema.directory.staff import StaffMember
    from schema.directory.students import Student


@strawberry.type(
    description="An emailed invitation (with a PIN) for a person to pair with a student."
)
class ConnectionRequest(Node):
    for_student_self: bool = strawberry.field(
        description="True when the student requests access to their own record."
    )
    relationship: str | None = strawberry.field(
        description="The relationship to the student, as entered."
    )
    individual_name: str = strawberry.field(description="The invited person's name.")
    email: str = strawberry.field(description="Where the activation link was sent.")
    status: ConnectionRequestStatus = strawberry.field(
        description="Waiting, activated, expired or deleted."
    )
    created_at: dt.datetime = strawberry.field(description="When the request was made.")
    expires_at: dt.datetime = strawberry.field(
        description="When it stops working if not activated (30 days)."
    )
    activated_at: dt.datetime | None = strawberry.field(
        description="When it was activated; null until then."
    )
    row: strawberry.Private[Row[Any]]

    @classmethod
    async def resolve_node(cls, info: Info, pk: int) -> ConnectionRequest | None:
        """Its status depends on the time as well as the row (a WAITING request
        past its expiry is EXPIRED), so it is made with the request's clock."""
        row = await info.context.loaders.in_scope["ConnectionRequest"].load(pk)
        return None if row is None else cls.from_row_at(row, info.context.clock())

    @classmethod
    def from_row_at(cls, row: Row[Any], now: dt.datetime) -> ConnectionRequest:
        return cls(
            id=to_global_id("ConnectionRequest", row.id),
            for_student_self=row.for_student_self,
            relationship=row.relationship,
            individual_name=row.individual_name,
            email=row.email,
            status=ConnectionRequestStatus(effective_status(row, now)),
            created_at=row.created_at,
            expires_at=row.expires_at,
            activated_at=row.activated_at,
            row=row,
        )

    @strawberry.field(description="The student the request pairs with.")
    async def student(
        self, info: Info
    ) -> Annotated[Student, strawberry.lazy("schema.directory.students")]:
        return await access._student(info, self.row.student_id)

    @strawberry.field(description="The staff record that made it, if any.")
    async def created_by(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("schema.directory.staff")] | None:
        return await access._staff_member(info, self.row.created_by_staff_id)
