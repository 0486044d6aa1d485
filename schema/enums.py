"""GraphQL enums. The policy package owns the Python enums; here they are
exposed under the contract's names."""

from __future__ import annotations

import enum

import strawberry

from permissions.roles import AccountKind, Role, StudentSection
from resolvers.portal.lifecycle import PortalStatus, RevokeReason

# strawberry.enum registers the class itself (it returns it), so the policy's
# enums are the schema's enums: one definition, one name.
for _enum in (Role, AccountKind, StudentSection, PortalStatus, RevokeReason):
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


@strawberry.enum
class EnrolmentStatus(enum.Enum):
    ENROLLED = "ENROLLED"
    WITHDRAWN = "WITHDRAWN"
    GRADUATED = "GRADUATED"


@strawberry.enum
class GrantSource(enum.Enum):
    ACCESS_CODE = "ACCESS_CODE"
    CONNECTION_REQUEST = "CONNECTION_REQUEST"
    SIS_SYNC = "SIS_SYNC"
    STUDENT_LOGIN = "STUDENT_LOGIN"


@strawberry.enum
class AccessCodeStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    RESET = "RESET"


@strawberry.enum
class ConnectionRequestStatus(enum.Enum):
    WAITING_FOR_ACTIVATION = "WAITING_FOR_ACTIVATION"
    ACTIVATED = "ACTIVATED"
    REQUEST_EXPIRED = "REQUEST_EXPIRED"
    DELETED = "DELETED"


@strawberry.enum
class QuestionType(enum.Enum):
    TEXT = "TEXT"
    CHOICE = "CHOICE"
    DATE = "DATE"
    GUARDIAN_DETAILS = "GUARDIAN_DETAILS"


@strawberry.enum
class FormAssignmentStatus(enum.Enum):
    ASSIGNED = "ASSIGNED"
    SUBMITTED = "SUBMITTED"
