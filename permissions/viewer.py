"""The viewer: who is asking, computed once per request, frozen."""

from __future__ import annotations

from dataclasses import dataclass

from permissions.roles import AccountKind
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
    guardian_id: int | None = None
    student_id: int | None = None
    scope: Scope = EMPTY_SCOPE

    @property
    def is_authenticated(self) -> bool:
        return self.account_id is not None

    @property
    def can_record_data(self) -> bool:
        """Writes need a linked staff member that the SIS still has active."""
        return (
            self.kind is AccountKind.STAFF
            and self.staff_member_id is not None
            and self.staff_member_active
        )


ANONYMOUS = Viewer()
