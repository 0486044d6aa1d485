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


@strawberry.type
class ConnectionRequest(Node):
    id: strawberry.ID
    for_student_self: bool = strawberry.field(
        description="True when the student requests access to their own record."
    )
    relationship: str | None
    individual_name: str
    email: str
    status: ConnectionRequestStatus
    created_at: dt.datetime
    expires_at: dt.datetime
    activated_at: dt.datetime | None
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any], now: dt.datetime) -> ConnectionRequest:
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

    @strawberry.field
    async def student(
        self, info: Info
    ) -> Annotated[Student, strawberry.lazy("schema.directory.students")]:
        return await access._student(info, self.row.student_id)

    @strawberry.field
    async def created_by(
        self, info: Info
    ) -> Annotated[StaffMember, strawberry.lazy("schema.directory.staff")] | None:
        return await access._staff_member(info, self.row.created_by_staff_id)
