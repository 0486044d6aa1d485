"""GraphQL enums. The policy package and the tables own the Python enums; here
they are exposed under the contract's names."""

from __future__ import annotations

import strawberry

from permissions.roles import AccountKind, Role, StudentSection
from resolvers.portal.lifecycle import PortalStatus, RevokeReason
from resolvers.tables import (
    AccessCodeStatus,
    ConnectionRequestStatus,
    EnrolmentStatus,
    FormAssignmentStatus,
    GrantSource,
    QuestionType,
)

# strawberry.enum registers the class itself (it returns it), so the policy's
# and the stored columns' enums are the schema's enums: one definition, one name.
for _enum in (
    Role,
    AccountKind,
    StudentSection,
    PortalStatus,
    RevokeReason,
    EnrolmentStatus,
    GrantSource,
    AccessCodeStatus,
    ConnectionRequestStatus,
    QuestionType,
    FormAssignmentStatus,
):
    strawberry.enum(_enum)

__all__ = [
    "AccessCodeStatus",
    "AccountKind",
    "ConnectionRequestStatus",
    "EnrolmentStatus",
    "FormAssignmentStatus",
    "GrantSource",
    "PortalStatus",
    "QuestionType",
    "RevokeReason",
    "Role",
    "StudentSection",
]
