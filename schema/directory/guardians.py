"""Guardian: a contact record from the SIS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from permissions.capabilities import OWN_CONTACT, Capability
from permissions.visibility import Reach
from resolvers.portal.lifecycle import reasons_of, status_of
from schema.directory import accounts, students
from schema.enums import PortalStatus, RevokeReason
from schema.graphql_context import Context, Info
from schema.node import Node, to_global_id
from schema.restrictions import restricted

if TYPE_CHECKING:
    from schema.directory.accounts import Account
    from schema.directory.students import Student


@strawberry.type(description="A parent, guardian or other contact as recorded in the SIS.")
class Guardian(Node):
    # who may see its restricted fields, in their descriptions (permissions/visibility.py)
    reach = Reach.CONTACT
    given_name: str = strawberry.field(description="Given name.")
    family_name: str = strawberry.field(description="Family name.")
    display_name: str = strawberry.field(
        description="The name to show: given name, then family name."
    )
    pk: strawberry.Private[int]
    row: strawberry.Private[Row[Any]]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Guardian:
        return cls(
            id=to_global_id("Guardian", row.id),
            given_name=row.given_name,
            family_name=row.family_name,
            display_name=f"{row.given_name} {row.family_name}",
            pk=row.id,
            row=row,
        )

    async def capabilities(self, context: Context) -> frozenset[Capability]:
        """What the viewer may do through any of the contact's students in
        scope; a contact's own account sees its own details."""
        viewer = context.viewer
        refs = await context.loaders.student_refs_by_guardian_id.load(self.pk)
        held: set[Capability] = set()
        for ref in refs:
            held |= viewer.scope.student_capabilities(
                student_id=ref.student_id, school_id=ref.school_id, district_id=ref.district_id
            )
        if viewer.guardian_id == self.pk:
            held |= OWN_CONTACT
        return frozenset(held)

    @strawberry.field(
        description="The contact's email as the SIS records it.",
        extensions=restricted(Capability.CONTACT_DETAILS, "a contact's email"),
    )
    async def email(self, info: Info) -> str | None:
        return self.row.email  # type: ignore[no-any-return]

    @strawberry.field(
        description="The contact's id in the SIS (its OneRoster sourcedId).",
        extensions=restricted(Capability.SIS_IDS, "a contact's SIS id"),
    )
    async def sis_id(self, info: Info) -> str | None:
        return self.row.sourced_id  # type: ignore[no-any-return]

    @strawberry.field(
        description="The contact's phone number as the SIS records it.",
        extensions=restricted(Capability.CONTACT_DETAILS, "a contact's phone"),
    )
    async def phone(self, info: Info) -> str | None:
        return self.row.phone  # type: ignore[no-any-return]

    @strawberry.field(
        description="Students this contact is recorded against, limited to the viewer's scope."
    )
    async def students(
        self, info: Info
    ) -> list[Annotated[Student, strawberry.lazy("schema.directory.students")]]:
        rows = await info.context.loaders.students_by_guardian_id.load(self.pk)
        return [students.Student.from_row(row) for row in rows]

    @strawberry.field(
        description="READY_TO_PROVISION, ACTIVE, READY_TO_REVOKE, REVOKED or NONE: where this contact stands in the account lifecycle.",
        extensions=restricted(Capability.ACCOUNT_LIFECYCLE, "a contact's portal status"),
    )
    async def portal_status(self, info: Info) -> PortalStatus | None:
        account = await info.context.loaders.account_by_guardian_id.load(self.pk)
        if account is not None:
            return status_of(account)
        eligible = await info.context.loaders.eligible_by_guardian_id.load(self.pk)
        return PortalStatus.READY_TO_PROVISION if eligible else PortalStatus.NONE

    @strawberry.field(
        description="Why this contact's account is READY_TO_REVOKE (empty otherwise).",
        extensions=restricted(
            Capability.ACCOUNT_LIFECYCLE, "why a contact's account may be revoked"
        ),
    )
    async def revoke_reasons(self, info: Info) -> list[RevokeReason] | None:
        account = await info.context.loaders.account_by_guardian_id.load(self.pk)
        if account is None or account.revoked_at is not None:
            return []
        return reasons_of(account)

    @strawberry.field(
        description="The portal account of this contact, if one was provisioned or linked.",
        extensions=restricted(Capability.PORTAL_VIEW, "a contact's account"),
    )
    async def account(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.directory.accounts")] | None:
        row = await info.context.loaders.account_by_guardian_id.load(self.pk)
        return accounts.Account.from_row(row) if row is not None else None
