"""The capability table of docs/architecture.md section 2, as data.

One literal table, reviewed in one place and read by code (and, later, by a
compiler of trusted documents into SQL). Each relation a viewer can have to a
student grants a set of capabilities on that student; a viewer with several
relations to one student holds the union.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from permissions.roles import Relation, Role, StudentSection


class Capability(enum.Enum):
    # names, school, year group
    DIRECTORY = "DIRECTORY"
    # email, date of birth, contacts (and a contact's email and phone)
    CONTACT_DETAILS = "CONTACT_DETAILS"
    # grants, paired accounts' names and emails, requests: the revoke view
    PORTAL_VIEW = "PORTAL_VIEW"
    REVOKE_GRANT = "REVOKE_GRANT"
    # see, enable and reset access codes; connection requests
    MANAGE_ACCESS_CODES = "MANAGE_ACCESS_CODES"
    # provision, bulk revoke, welcome emails, portal status of contacts
    ACCOUNT_LIFECYCLE = "ACCOUNT_LIFECYCLE"
    TERMINATE_SESSIONS = "TERMINATE_SESSIONS"
    # student login settings
    STUDENT_LOGIN_SETTINGS = "STUDENT_LOGIN_SETTINGS"
    HOMEWORK = "HOMEWORK"
    TIMETABLE = "TIMETABLE"
    # custom forms: administered by admins (the design's "student login
    # settings, forms" row), completed by guardians and, where the school
    # shows forms, by students
    FORMS = "FORMS"
    # who can see this student, who looked
    ACCESS_REVIEW = "ACCESS_REVIEW"
    # staff lists and staff email: the school's own people
    STAFF_DIRECTORY = "STAFF_DIRECTORY"
    # the district dashboard: accounts linked to students at several schools
    CROSS_SCHOOL_LINKS = "CROSS_SCHOOL_LINKS"
    # the SIS's sourcedIds (sisId) of students, contacts, staff, schools and
    # classes, and searching by them: for admins matching records with the
    # SIS (docs/architecture.md section 4)
    SIS_IDS = "SIS_IDS"


C = Capability

_STAFF_COMMON = frozenset({C.DIRECTORY, C.STAFF_DIRECTORY})
_ADMIN = _STAFF_COMMON | {
    C.CONTACT_DETAILS,
    C.PORTAL_VIEW,
    C.REVOKE_GRANT,
    C.MANAGE_ACCESS_CODES,
    C.ACCOUNT_LIFECYCLE,
    C.STUDENT_LOGIN_SETTINGS,
    C.HOMEWORK,
    C.TIMETABLE,
    C.FORMS,
    C.ACCESS_REVIEW,
    C.SIS_IDS,
}

CAPABILITIES: Mapping[Relation, frozenset[Capability]] = MappingProxyType(
    {
        Relation.DISTRICT_ADMIN: _ADMIN | {C.CROSS_SCHOOL_LINKS},
        Relation.SCHOOL_ADMIN: _ADMIN,
        Relation.ENROLMENT_MANAGER: _STAFF_COMMON
        | {
            C.CONTACT_DETAILS,
            C.PORTAL_VIEW,
            C.REVOKE_GRANT,
            C.MANAGE_ACCESS_CODES,
            C.HOMEWORK,
            C.TIMETABLE,
        },
        Relation.TEACHER: _STAFF_COMMON | {C.PORTAL_VIEW, C.REVOKE_GRANT, C.HOMEWORK, C.TIMETABLE},
        Relation.SUPPORT_STAFF: _STAFF_COMMON | {C.HOMEWORK, C.TIMETABLE},
        Relation.SECURITY_CONTACT: _STAFF_COMMON | {C.PORTAL_VIEW, C.TERMINATE_SESSIONS},
        Relation.GUARDIAN: frozenset(
            {C.DIRECTORY, C.CONTACT_DETAILS, C.HOMEWORK, C.TIMETABLE, C.FORMS, C.ACCESS_REVIEW}
        ),
        # A student's own capabilities beyond these depend on the sections
        # their school made visible: see STUDENT_SECTION_CAPABILITIES.
        Relation.STUDENT_SELF: frozenset({C.DIRECTORY, C.CONTACT_DETAILS}),
    }
)


class Reach(enum.Enum):
    """Which students a relation reaches."""

    # Every student of the school the role is held at, or of the whole
    # district when it is held district-wide.
    PLACE = "PLACE"
    # Students currently enrolled in sections the linked staff record
    # teaches, at schools (or districts) where the account holds TEACHER.
    TAUGHT_SECTIONS = "TAUGHT_SECTIONS"
    # Students the account holds a live grant to.
    LIVE_GRANT = "LIVE_GRANT"
    # One's own student record, while student logins are on for it.
    SELF = "SELF"


# The reach table: one source of truth for which relation reaches which
# students. ``Scope.relations_to_student`` (Python) and ``resolvers.scope``
# (SQL) are both read from it; tests/test_reach_agreement.py checks that they
# agree for every viewer of the test world, student and capability.
REACH: Mapping[Relation, Reach] = MappingProxyType(
    {
        Relation.DISTRICT_ADMIN: Reach.PLACE,
        Relation.SCHOOL_ADMIN: Reach.PLACE,
        Relation.ENROLMENT_MANAGER: Reach.PLACE,
        Relation.TEACHER: Reach.TAUGHT_SECTIONS,
        Relation.SUPPORT_STAFF: Reach.PLACE,
        Relation.SECURITY_CONTACT: Reach.PLACE,
        Relation.GUARDIAN: Reach.LIVE_GRANT,
        Relation.STUDENT_SELF: Reach.SELF,
    }
)

# Staff roles whose scope is every student of their place, read from REACH.
SCHOOL_WIDE_ROLES: frozenset[Role] = frozenset(
    r for r in Role if REACH[Relation.of_role(r)] is Reach.PLACE
)


def relations_with(capability: Capability) -> frozenset[Relation]:
    """The relations whose row of the capability table grants ``capability``
    (a student's own sections aside: see STUDENT_SECTION_CAPABILITIES)."""
    return frozenset(r for r, held in CAPABILITIES.items() if capability in held)


# "✓ if visible": what each visible section adds to a student's own record.
STUDENT_SECTION_CAPABILITIES: Mapping[StudentSection, Capability] = MappingProxyType(
    {
        StudentSection.HOMEWORK: C.HOMEWORK,
        StudentSection.TIMETABLE: C.TIMETABLE,
        StudentSection.FORMS: C.FORMS,
        StudentSection.ACCESS_REVIEW: C.ACCESS_REVIEW,
    }
)

# Recording data (homework) needs a linked, active staff member as well.
RECORD_DATA_RELATIONS: frozenset[Relation] = frozenset(
    {Relation.TEACHER, Relation.SCHOOL_ADMIN, Relation.DISTRICT_ADMIN}
)

# What a person sees of their own records, whatever their relations: an
# account holder of their account, a contact of their contact record, a staff
# member of their staff record (the objects' ``capabilities`` in schema/).
OWN_ACCOUNT: frozenset[Capability] = frozenset(
    {C.PORTAL_VIEW, C.ACCOUNT_LIFECYCLE, C.CONTACT_DETAILS, C.STAFF_DIRECTORY}
)
OWN_CONTACT: frozenset[Capability] = frozenset({C.CONTACT_DETAILS})
OWN_STAFF_RECORD: frozenset[Capability] = frozenset({C.STAFF_DIRECTORY, C.ACCOUNT_LIFECYCLE})
