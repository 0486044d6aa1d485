"""The vocabulary of policy: roles, kinds of account, relations to a student."""

from __future__ import annotations

import enum


class Role(enum.Enum):
    DISTRICT_ADMIN = "DISTRICT_ADMIN"
    SCHOOL_ADMIN = "SCHOOL_ADMIN"
    ENROLMENT_MANAGER = "ENROLMENT_MANAGER"
    TEACHER = "TEACHER"
    SUPPORT_STAFF = "SUPPORT_STAFF"
    SECURITY_CONTACT = "SECURITY_CONTACT"


class AccountKind(enum.StrEnum):
    """``accounts.kind``."""

    STAFF = "STAFF"
    GUARDIAN = "GUARDIAN"
    STUDENT = "STUDENT"


class StudentSection(enum.Enum):
    """What a signed-in student may be shown of their own record."""

    HOMEWORK = "HOMEWORK"
    TIMETABLE = "TIMETABLE"
    FORMS = "FORMS"
    ACCESS_REVIEW = "ACCESS_REVIEW"


class Relation(enum.Enum):
    """How a viewer reaches a student: one of the roles, or a personal tie.

    The capability table is keyed by relation, so "teacher of this student"
    and "guardian of this student" are rows beside the staff roles.
    """

    DISTRICT_ADMIN = "DISTRICT_ADMIN"
    SCHOOL_ADMIN = "SCHOOL_ADMIN"
    ENROLMENT_MANAGER = "ENROLMENT_MANAGER"
    TEACHER = "TEACHER"
    SUPPORT_STAFF = "SUPPORT_STAFF"
    SECURITY_CONTACT = "SECURITY_CONTACT"
    GUARDIAN = "GUARDIAN"
    STUDENT_SELF = "STUDENT_SELF"

    @classmethod
    def of_role(cls, role: Role) -> Relation:
        return cls(role.value)
