"""A checked OneRoster file set: the records the import writes.

Within one file set a sourcedId names one record (OneRoster requires it), so
records refer to each other by sourcedId; the database keys them by
(district, sourcedId).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from permissions.roles import Role
from resolvers.oneroster.csv_files import CsvFile

ORGS = CsvFile("orgs.csv", ("sourcedId", "name", "type", "parentSourcedId"))
SESSIONS = CsvFile("academicSessions.csv", ("sourcedId", "title", "type", "startDate", "endDate"))
CLASSES = CsvFile("classes.csv", ("sourcedId", "title", "schoolSourcedId"))
USERS = CsvFile("users.csv", ("sourcedId", "givenName", "familyName"))
USERS_1_1 = CsvFile(
    "users.csv",
    ("sourcedId", "givenName", "familyName", "role", "orgSourcedIds"),
    hint="without roles.csv the OneRoster 1.1 layout is read",
)
ROLES = CsvFile("roles.csv", ("userSourcedId", "role", "orgSourcedId"))
ENROLLMENTS = CsvFile("enrollments.csv", ("classSourcedId", "userSourcedId", "role"))
DEMOGRAPHICS = CsvFile("demographics.csv", ("sourcedId", "birthDate"))
MANIFEST = CsvFile("manifest.csv", ("propertyName", "value"))

REQUIRED_FILES = (ORGS, SESSIONS, CLASSES, USERS, ENROLLMENTS)

DEFAULT_CONTACT_TYPE = "Guardian"


class Kind(enum.Enum):
    """What a user becomes here, decided by their OneRoster roles."""

    STAFF = "staff"
    STUDENT = "student"
    CONTACT = "contact"


# ---------------------------------------------------------------- the result


@dataclass(frozen=True, slots=True)
class DistrictRecord:
    sourced_id: str
    name: str
    email_domains: str


@dataclass(frozen=True, slots=True)
class SchoolRecord:
    sourced_id: str
    district: str
    name: str


@dataclass(frozen=True, slots=True)
class SessionRecord:
    sourced_id: str
    # A session names no org in most exports: it is then every district's.
    districts: tuple[str, ...]
    title: str
    session_type: str
    start_date: dt.date
    end_date: dt.date
    active: bool


@dataclass(frozen=True, slots=True)
class SectionRecord:
    sourced_id: str
    district: str
    school: str
    term: str | None
    name: str
    active: bool


@dataclass(frozen=True, slots=True)
class StaffRecord:
    sourced_id: str
    district: str
    given_name: str
    family_name: str
    email: str | None
    active: bool
    schools: frozenset[str]
    # (role, school sourcedId or None for the whole district)
    roles: frozenset[tuple[Role, str | None]]


@dataclass(frozen=True, slots=True)
class StudentRecord:
    sourced_id: str
    district: str
    school: str
    grade: str | None
    given_name: str
    family_name: str
    email: str | None
    birth_date: dt.date | None
    active: bool


@dataclass(frozen=True, slots=True)
class GuardianRecord:
    sourced_id: str
    district: str
    given_name: str
    family_name: str
    email: str | None
    phone: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class ContactRecord:
    contact_type: str
    portal_eligible: bool
    restricted: bool


@dataclass(frozen=True, slots=True)
class EnrolmentRecord:
    sourced_id: str | None
    active: bool


@dataclass(frozen=True)
class Keep:
    """Records the import leaves as they are although the file set leaves them out.

    A skipped row's record is kept as stored, and so is every record of a
    file that had a row whose sourcedId could not be read (``everything``).
    """

    ids: frozenset[Hashable] = frozenset()
    everything: bool = False

    def __contains__(self, key: object) -> bool:
        return self.everything or key in self.ids


@dataclass(frozen=True)
class Roster:
    """A checked file set. Links are keyed by sourcedIds."""

    districts: tuple[DistrictRecord, ...]
    schools: tuple[SchoolRecord, ...]
    # (school, grade code) → year group name
    year_groups: Mapping[tuple[str, str], str]
    sessions: tuple[SessionRecord, ...]
    sections: tuple[SectionRecord, ...]
    staff: tuple[StaffRecord, ...]
    students: tuple[StudentRecord, ...]
    guardians: tuple[GuardianRecord, ...]
    # (student, guardian) → the contact's flags
    contacts: Mapping[tuple[str, str], ContactRecord]
    # (section, staff member) → the enrolment's sourcedId
    section_teachers: Mapping[tuple[str, str], str | None]
    # (section, student) → enrolment
    enrolments: Mapping[tuple[str, str], EnrolmentRecord]
    # Without demographics.csv, dates of birth are not the file set's to change.
    has_birth_dates: bool
    # What skipped rows leave as stored: users (any kind) and sections by
    # sourcedId, enrolments and section teachers by (section, user),
    # contacts by (student, guardian), birth dates by student.
    keep_users: Keep = Keep()
    keep_sections: Keep = Keep()
    keep_sessions: Keep = Keep()
    keep_enrolments: Keep = Keep()
    keep_contacts: Keep = Keep()
    keep_birth_dates: Keep = Keep()
    # A delta export (docs/architecture.md section 4): only the records it
    # carries change. Its references may name stored records of these
    # districts; the links its tobedeleted rows end are listed here.
    delta: bool = False
    referenced_districts: frozenset[str] = frozenset()
    # (staff, role, school or None)
    ended_roles: frozenset[tuple[str, str, str | None]] = frozenset()
    # (staff, school)
    ended_staff_schools: frozenset[tuple[str, str]] = frozenset()
    # (section, staff)
    ended_section_teachers: frozenset[tuple[str, str]] = frozenset()


# ---------------------------------------------------------------- parsed rows


@dataclass(frozen=True, slots=True)
class Org:
    """An orgs.csv row."""

    line: int
    sourced_id: str
    kind: str
    name: str
    parent: str
    email_domains: str
    year_group_names: Mapping[str, str]


ORG_TYPES = ("district", "school", "department", "local", "state", "national")


@dataclass(frozen=True)
class Existing:
    """What the database holds, by sourcedId, for reading a delta export.

    A delta carries only what changed: its rows name orgs, classes and
    people that earlier syncs wrote.
    """

    # school → its district
    schools: Mapping[str, str]
    districts: frozenset[str]
    # session → its districts
    sessions: Mapping[str, frozenset[str]]
    # class → (district, school)
    sections: Mapping[str, tuple[str, str]]
    # staff member → district
    staff: Mapping[str, str]
    # student → (district, school)
    students: Mapping[str, tuple[str, str]]
    # contact → districts
    guardians: Mapping[str, frozenset[str]]

    def kinds(self, user: str) -> frozenset[Kind]:
        kinds = set()
        if user in self.staff:
            kinds.add(Kind.STAFF)
        if user in self.students:
            kinds.add(Kind.STUDENT)
        if user in self.guardians:
            kinds.add(Kind.CONTACT)
        return frozenset(kinds)


NOTHING_STORED = Existing({}, frozenset(), {}, {}, {}, {}, {})


def implicit_district_id(school: str) -> str:
    """The sourcedId of the district made for a school that names none.

    Derived from the school's own sourcedId, so it is the same at every
    sync (docs/architecture.md section 4).
    """
    return f"{school}~district"
