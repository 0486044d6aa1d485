"""Who may see a restricted field, in words, computed from the capability
table (docs/architecture.md section 2).

A restricted field's description ends with ``visible_to(capability, reach)``
(schema/restrictions.py appends it), so what client developers read is what
the table grants: change the table and the schema's descriptions follow.
``Reach`` is how the object carrying the field works out the viewer's
capabilities (its ``capabilities`` method): through one student, through a
contact's students, at a school, and so on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from permissions.capabilities import (
    CAPABILITIES,
    OWN_ACCOUNT,
    OWN_CONTACT,
    OWN_STAFF_RECORD,
    STUDENT_SECTION_CAPABILITIES,
    Capability,
)
from permissions.roles import Relation, StudentSection


@dataclass(frozen=True)
class _Words:
    # where staff roles count: "<roles> of <place>"
    place: str
    # reached through students: teachers, guardians and the students
    # themselves count ("teachers of ...", "guardians of ...", "... themselves");
    # None: only staff roles at ``place`` count, teachers among them
    students: tuple[str, str, str] | None
    # the object's own person, and what they see of it
    owner: str | None = None
    owner_capabilities: frozenset[Capability] = frozenset()


class Reach(enum.Enum):
    """How an object with restricted fields reaches the capability table."""

    STUDENT = _Words(
        place="the student's school (or its district)",
        students=("the student's teachers", "the student's guardians", "the student themself"),
    )
    CONTACT = _Words(
        place="the school (or district) of one of the contact's students",
        students=(
            "teachers of one of the contact's students",
            "guardians of one of the contact's students",
            "the contact's students themselves",
        ),
        owner="the contact themself",
        owner_capabilities=OWN_CONTACT,
    )
    ACCOUNT = _Words(
        place="the school (or district) of a student the account has access to, or of the "
        "account's staff record",
        students=(
            "teachers of a student the account has access to, or at a school of the account's "
            "staff record",
            "guardians of a student the account has access to",
            "the students the account has access to",
        ),
        owner="the account holder",
        owner_capabilities=OWN_ACCOUNT,
    )
    STAFF_MEMBER = _Words(
        place="a school of the staff member (or its district)",
        students=None,
        owner="the staff member themself",
        owner_capabilities=OWN_STAFF_RECORD,
    )
    SCHOOL = _Words(place="the school (or its district)", students=None)
    DISTRICT = _Words(place="the district, granted district-wide", students=None)


_STAFF: dict[Relation, str] = {
    Relation.DISTRICT_ADMIN: "district admins",
    Relation.SCHOOL_ADMIN: "school admins",
    Relation.ENROLMENT_MANAGER: "enrolment managers",
    Relation.TEACHER: "teachers",
    Relation.SUPPORT_STAFF: "support staff",
    Relation.SECURITY_CONTACT: "security contacts",
}

_SECTIONS: dict[StudentSection, str] = {
    StudentSection.HOMEWORK: "homework",
    StudentSection.TIMETABLE: "timetable",
    StudentSection.FORMS: "forms",
    StudentSection.ACCESS_REVIEW: "access review",
}

FORBIDDEN_NOTE = "Anyone else gets null here, with a FORBIDDEN error at this field."


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def visible_to(capability: Capability, reach: Reach) -> str:
    """``Visible to: ...; ....`` for a field restricted by ``capability`` on
    an object that reaches the table as ``reach``."""
    words: _Words = reach.value
    holds = [r for r in Relation if capability in CAPABILITIES[r]]
    by_sections = words.students is not None
    staff = [
        _STAFF[r] for r in holds if r in _STAFF and not (by_sections and r is Relation.TEACHER)
    ]
    parts = [f"{_listed(staff)} of {words.place}"] if staff else []
    if words.students is not None:
        teachers, guardians, selves = words.students
        if Relation.TEACHER in holds:
            parts.append(teachers)
        if Relation.GUARDIAN in holds:
            parts.append(guardians)
        if Relation.STUDENT_SELF in holds:
            parts.append(selves)
        else:
            shown = [s for s, c in STUDENT_SECTION_CAPABILITIES.items() if c is capability]
            parts += [f"{selves} when their school shows them their {_SECTIONS[s]}" for s in shown]
    if words.owner is not None and capability in words.owner_capabilities:
        parts.append(words.owner)
    if not parts:
        return f"Visible to: no one. {FORBIDDEN_NOTE}"
    return f"Visible to: {'; '.join(parts)}. {FORBIDDEN_NOTE}"
