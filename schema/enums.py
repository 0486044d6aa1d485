"""GraphQL enums. The policy package and the tables own the Python enums; here
they are exposed under the contract's names."""

from __future__ import annotations

import enum
from typing import Any

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
# Each enum and each of its values says what it means to a client; the values
# are described here because the Python enums belong to other layers.
DESCRIPTIONS: dict[type[enum.Enum], tuple[str, dict[Any, str]]] = {
    AccountKind: (
        "What kind of person an account belongs to.",
        {
            AccountKind.STAFF: "A member of staff ('user').",
            AccountKind.GUARDIAN: "A parent, guardian or other contact.",
            AccountKind.STUDENT: "A student's own login.",
        },
    ),
    PortalStatus: (
        "Where an account (or a contact without one) stands in the portal account lifecycle.",
        {
            PortalStatus.READY_TO_PROVISION: "Eligible for an account, none exists yet: provisionAccounts makes one.",
            PortalStatus.ACTIVE: "The account may sign in.",
            PortalStatus.READY_TO_REVOKE: "The account no longer matches anyone with current students; see revokeReasons. revokeAccounts ends it.",
            PortalStatus.REVOKED: "Credentials removed, sessions ended, access revoked.",
            PortalStatus.NONE: "Not eligible and no account.",
        },
    ),
    RevokeReason: (
        "Why an account is READY_TO_REVOKE.",
        {
            RevokeReason.NO_CURRENT_STUDENTS: "None of its students is enrolled any more, and it has no active access left.",
            RevokeReason.SUPERSEDED: "A newer account exists for the same contact.",
            RevokeReason.NOT_LINKED_TO_STUDENT: "It is linked to no student at all.",
            RevokeReason.PORTAL_FLAG_REMOVED: "The SIS no longer marks the contact as portal-eligible for any current student, and no access was granted otherwise.",
            RevokeReason.STAFF_DEACTIVATED: "The staff record it is linked to was deactivated.",
        },
    ),
    Role: (
        "A staff role; what each may see and do is the capability table.",
        {
            Role.DISTRICT_ADMIN: "Administers every school of a district.",
            Role.SCHOOL_ADMIN: "Administers one school.",
            Role.ENROLMENT_MANAGER: "Manages portal access: access codes, connection requests, revocation.",
            Role.TEACHER: "Teaches sections; sees the students of those sections.",
            Role.SUPPORT_STAFF: "Supports a school's students.",
            Role.SECURITY_CONTACT: "May terminate sessions immediately (the school's security contact).",
        },
    ),
    EnrolmentStatus: (
        "Where a student stands with their school.",
        {
            EnrolmentStatus.ENROLLED: "At the school now.",
            EnrolmentStatus.WITHDRAWN: "Left the school.",
            EnrolmentStatus.GRADUATED: "Finished at the school.",
        },
    ),
    AccessCodeStatus: (
        "Whether an access code still pairs anyone.",
        {
            AccessCodeStatus.ACTIVE: "The student's current code.",
            AccessCodeStatus.RESET: "Replaced by a newer code; no longer pairs anyone. Existing grants are kept.",
        },
    ),
    GrantSource: (
        "How a grant came about.",
        {
            GrantSource.ACCESS_CODE: "The account redeemed the student's access code.",
            GrantSource.CONNECTION_REQUEST: "The account activated an emailed connection request.",
            GrantSource.SIS_SYNC: "The SIS sync linked a portal-eligible contact.",
            GrantSource.STUDENT_LOGIN: "The student's own login.",
        },
    ),
    ConnectionRequestStatus: (
        "Where a connection request stands.",
        {
            ConnectionRequestStatus.WAITING_FOR_ACTIVATION: "Sent, not used yet.",
            ConnectionRequestStatus.ACTIVATED: "Used: the access it gave is a grant.",
            ConnectionRequestStatus.REQUEST_EXPIRED: "Not used within 30 days.",
            ConnectionRequestStatus.DELETED: "Deleted by staff.",
        },
    ),
    StudentSection: (
        "A part of a student's own record the school may show them.",
        {
            StudentSection.HOMEWORK: "Their homework.",
            StudentSection.TIMETABLE: "Their timetable.",
            StudentSection.FORMS: "Forms assigned to them.",
            StudentSection.ACCESS_REVIEW: "Who can see their information, and who looked.",
        },
    ),
    FormAssignmentStatus: (
        "Whether a form assignment was submitted.",
        {
            FormAssignmentStatus.ASSIGNED: "Waiting for answers.",
            FormAssignmentStatus.SUBMITTED: "Answered, once; it cannot change.",
        },
    ),
    QuestionType: (
        "What kind of answer a form question takes.",
        {
            QuestionType.TEXT: "Free text.",
            QuestionType.CHOICE: "One of the question's choices.",
            QuestionType.DATE: "A date (YYYY-MM-DD).",
            QuestionType.GUARDIAN_DETAILS: "The guardian's contact details. Answerable by guardians only; never by students.",
        },
    ),
}


def _register(cls: type[enum.Enum], description: str, values: dict[Any, str]) -> None:
    if set(values) != set(cls):
        raise ValueError(f"{cls.__name__}: describe exactly its values")
    strawberry.enum(cls, description=description)
    for value in cls.__strawberry_definition__.values:  # type: ignore[attr-defined]
        value.description = values[cls(value.value)]


for _enum, (_description, _values) in DESCRIPTIONS.items():
    _register(_enum, _description, _values)

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
