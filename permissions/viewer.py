"""The viewer: who is asking, computed once per request, frozen."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from permissions.capabilities import CAPABILITIES, Capability
from permissions.roles import AccountKind, Relation
from permissions.scope import EMPTY_SCOPE, Scope


@dataclass(frozen=True, slots=True)
class Viewer:
    account_id: int | None = None
    kind: AccountKind | None = None
    session_id: str | None = None
    display_name: str = ""
    # The staff record this account records data as (docs/architecture.md section 2, "Look,
    # don't touch"), and whether that record is active in the SIS.
    staff_member_id: int | None = None
    staff_member_active: bool = False
    # The linked staff record's name (given, family), as the SIS has it.
    staff_member_name: str | None = None
    guardian_id: int | None = None
    student_id: int | None = None
    scope: Scope = EMPTY_SCOPE

    @property
    def is_authenticated(self) -> bool:
        return self.account_id is not None

    @property
    def actor_name(self) -> str:
        """Who the audit trail says acted: the linked staff record's name
        (the person the school knows), else the account's display name.
        The display name is the holder's own choice, so it cannot name
        anyone in the trail of an account that acts as staff."""
        return self.staff_member_name or self.display_name

    @property
    def can_record_data(self) -> bool:
        """Writes need a linked staff member that the SIS still has active."""
        return (
            self.kind is AccountKind.STAFF
            and self.staff_member_id is not None
            and self.staff_member_active
        )


ANONYMOUS = Viewer()


def narrowed(viewer: Viewer, capability: Capability) -> Viewer:
    """The viewer as seen through only the relations that grant
    ``capability``: what it may act on with that capability.

    A security contact at one school who teaches at another must not end
    sessions of accounts reached through the teaching; feeding this viewer
    to the scope filters keeps every lookup to the capability's reach."""
    scope = viewer.scope
    roles = tuple(r for r in scope.roles if capability in CAPABILITIES[Relation.of_role(r.role)])
    keeps_taught = capability in CAPABILITIES[Relation.TEACHER]
    keeps_granted = capability in CAPABILITIES[Relation.GUARDIAN]
    keeps_self = capability in CAPABILITIES[Relation.STUDENT_SELF]
    return dataclasses.replace(
        viewer,
        scope=Scope(
            roles=roles,
            teacher_student_ids=scope.teacher_student_ids if keeps_taught else frozenset(),
            teacher_section_ids=scope.teacher_section_ids if keeps_taught else frozenset(),
            granted_students=scope.granted_students if keeps_granted else (),
            self_student=scope.self_student if keeps_self else None,
            self_visible_sections=scope.self_visible_sections if keeps_self else frozenset(),
        ),
    )
