"""A OneRoster file set, read and checked before anything is written.

``read_roster`` reads every file of docs/architecture.md section 4, checks every field and
every reference, and resolves each record to its district, without touching
the database: a file set is refused as a whole, with every reason at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from resolvers.oneroster.csv_files import FieldError, Records, Refusals, parse_year_group_names
from resolvers.oneroster.people import (
    KIND_NAMES,
    People,
    User,
    read_demographics,
    read_roles,
    read_users,
)
from resolvers.oneroster.records import (
    CLASSES,
    DEMOGRAPHICS,
    ENROLLMENTS,
    MANIFEST,
    ORGS,
    REQUIRED_FILES,
    SESSIONS,
    DistrictRecord,
    EnrolmentRecord,
    Kind,
    Org,
    Roster,
    SchoolRecord,
    SectionRecord,
    SessionRecord,
    StudentRecord,
)


def read_roster(directory: Path, refusals: Refusals) -> Roster | None:
    """The file set in ``directory``, or None with the reasons in ``refusals``."""
    if not directory.is_dir():
        refusals.add(str(directory), None, "not a directory")
        return None
    for required in REQUIRED_FILES:
        if not required.exists(directory):
            refusals.add(required.name, None, "required file is missing")
    if refusals:
        return None
    if MANIFEST.exists(directory):
        _check_manifest(directory, refusals)
    orgs = _read_orgs(directory, refusals)
    district_of = _district_of_orgs(orgs, refusals)
    sessions = _read_sessions(directory, refusals, orgs, district_of)
    users, roles_1_1 = read_users(directory, refusals)
    role_rows = read_roles(directory, refusals, users, orgs, district_of, roles_1_1)
    birth_dates = read_demographics(directory, refusals, users)
    people = People.resolve(users, role_rows, orgs, district_of, birth_dates, refusals)
    sections = _read_classes(directory, refusals, orgs, district_of, sessions)
    contacts = people.contacts(users, refusals)
    section_teachers, enrolments = _read_enrollments(directory, refusals, sections, users, people)
    if refusals:
        return None
    year_groups = _year_groups(orgs, people.students.values())
    return Roster(
        districts=tuple(
            DistrictRecord(org.sourced_id, org.name, org.email_domains)
            for org in orgs.valid.values()
            if org.kind == "district"
        ),
        schools=tuple(
            SchoolRecord(org.sourced_id, district_of[org.sourced_id], org.name)
            for org in orgs.valid.values()
            if org.kind == "school"
        ),
        year_groups=year_groups,
        sessions=tuple(sessions.valid.values()),
        sections=tuple(sections.valid.values()),
        staff=tuple(people.staff.values()),
        students=tuple(people.students.values()),
        guardians=tuple(people.guardians.values()),
        contacts=contacts,
        section_teachers=section_teachers,
        enrolments=enrolments,
        has_birth_dates=DEMOGRAPHICS.exists(directory),
    )


def _check_manifest(directory: Path, refusals: Refusals) -> None:
    for row in MANIFEST.open(directory, refusals) or ():
        name, value = row.raw("propertyName"), row.raw("value").lower()
        if name.startswith("file.") and value == "delta":
            # A delta file lists changes only: read as a full export it would
            # deactivate everyone it leaves out.
            refusals.add(
                MANIFEST.name, row.line, f"{name} is delta: only bulk (full) exports are imported"
            )


def _read_orgs(directory: Path, refusals: Refusals) -> Records[Org]:
    orgs: Records[Org] = Records(ORGS.name)
    for row in orgs.rows(ORGS, directory, refusals):
        sourced_id = orgs.claim(row, refusals)
        if sourced_id is None:
            continue
        try:
            kind = row.text("type").lower()
            names = row.raw("metadata.yearGroupNames") if kind == "school" else ""
            domains = row.joined_ids("metadata.emailDomains", max_length=2000)
            org = Org(
                line=row.line,
                sourced_id=sourced_id,
                kind=kind,
                name=row.text("name"),
                parent=row.raw("parentSourcedId"),
                email_domains=domains if kind == "district" else "",
                year_group_names=parse_year_group_names(names) if names else {},
            )
        except FieldError as error:
            refusals.add(ORGS.name, row.line, str(error))
            continue
        orgs.valid[sourced_id] = org
    return orgs


def _district_of_orgs(orgs: Records[Org], refusals: Refusals) -> dict[str, str]:
    """Districts and schools by sourcedId → their district's sourcedId."""
    district_of = {sid: sid for sid, org in orgs.valid.items() if org.kind == "district"}
    # Said only when no org row was refused: a refused row may be the district.
    if not district_of and orgs.complete and len(orgs.valid) == len(orgs.seen):
        refusals.add(ORGS.name, None, "no org of type district: every school needs one")
    for org in orgs.valid.values():
        if org.kind != "school":
            continue
        if org.parent in district_of:
            district_of[org.sourced_id] = org.parent
        elif not org.parent:
            refusals.add(ORGS.name, org.line, "a school needs parentSourcedId naming its district")
        elif org.parent in orgs.valid or orgs.unknown(org.parent):
            refusals.add(
                ORGS.name, org.line, f"parentSourcedId {org.parent!r} is not a district in orgs.csv"
            )
    return district_of


def _read_sessions(
    directory: Path, refusals: Refusals, orgs: Records[Org], district_of: Mapping[str, str]
) -> Records[SessionRecord]:
    sessions: Records[SessionRecord] = Records(SESSIONS.name)
    every_district = tuple(sid for sid, org in orgs.valid.items() if org.kind == "district")
    for row in sessions.rows(SESSIONS, directory, refusals):
        sourced_id = sessions.claim(row, refusals)
        if sourced_id is None:
            continue
        org = row.raw("orgSourcedId")
        if org and org not in district_of:
            if org in orgs.valid:
                refusals.add(SESSIONS.name, row.line, f"org {org!r} is not a school or district")
            elif orgs.unknown(org):
                refusals.add(SESSIONS.name, row.line, f"orgSourcedId {org!r} is not in orgs.csv")
            continue
        try:
            start, end = row.date_range("startDate", "endDate")
            sessions.valid[sourced_id] = SessionRecord(
                sourced_id=sourced_id,
                districts=(district_of[org],) if org else every_district,
                title=row.text("title"),
                session_type=row.text("type", max_length=32),
                start_date=start,
                end_date=end,
            )
        except FieldError as error:
            refusals.add(SESSIONS.name, row.line, str(error))
    return sessions


def _read_classes(
    directory: Path,
    refusals: Refusals,
    orgs: Records[Org],
    district_of: Mapping[str, str],
    sessions: Records[SessionRecord],
) -> Records[SectionRecord]:
    sections: Records[SectionRecord] = Records(CLASSES.name)
    for row in sections.rows(CLASSES, directory, refusals):
        sourced_id = sections.claim(row, refusals)
        if sourced_id is None:
            continue
        try:
            school = row.text("schoolSourcedId")
            terms = row.ids("termSourcedIds")
            name = row.text("title")
            active = row.is_active()
        except FieldError as error:
            refusals.add(CLASSES.name, row.line, str(error))
            continue
        org = orgs.valid.get(school)
        if org is None or org.kind != "school":
            if org is not None or orgs.unknown(school):
                refusals.add(
                    CLASSES.name,
                    row.line,
                    f"schoolSourcedId {school!r} is not a school in orgs.csv",
                )
            continue
        district = district_of.get(school)
        if district is None:
            continue  # the school's own line was refused
        term = terms[0] if terms else None
        if term is not None:
            session = sessions.valid.get(term)
            if session is None:
                if sessions.unknown(term):
                    refusals.add(
                        CLASSES.name,
                        row.line,
                        f"termSourcedIds names {term!r}, not in academicSessions.csv",
                    )
                continue
            if district not in session.districts:
                refusals.add(CLASSES.name, row.line, f"term {term!r} belongs to another district")
                continue
        sections.valid[sourced_id] = SectionRecord(
            sourced_id=sourced_id,
            district=district,
            school=school,
            term=term,
            name=name,
            active=active,
        )
    return sections


# Enrolment roles that make no section link here.
_OTHER_ENROLMENT_ROLES = frozenset(
    {"administrator", "proctor", "aide", "guardian", "parent", "relative"}
)


_ENROLMENT_KINDS = {"teacher": Kind.STAFF, "student": Kind.STUDENT}


def _read_enrollments(
    directory: Path,
    refusals: Refusals,
    sections: Records[SectionRecord],
    users: Records[User],
    people: People,
) -> tuple[dict[tuple[str, str], str | None], dict[tuple[str, str], EnrolmentRecord]]:
    teachers: dict[tuple[str, str], str | None] = {}
    enrolments: dict[tuple[str, str], EnrolmentRecord] = {}
    for row in ENROLLMENTS.open(directory, refusals) or ():
        try:
            section_id = row.text("classSourcedId")
            user = row.text("userSourcedId")
            role = row.text("role").lower()
            active = row.is_active()
            sourced_id = row.optional_text("sourcedId")
        except FieldError as error:
            refusals.add(ENROLLMENTS.name, row.line, str(error))
            continue
        section = sections.valid.get(section_id)
        if section is None:
            if sections.unknown(section_id):
                refusals.add(
                    ENROLLMENTS.name,
                    row.line,
                    f"classSourcedId {section_id!r} is not in classes.csv",
                )
            continue
        if role in _OTHER_ENROLMENT_ROLES:
            continue
        expected = _ENROLMENT_KINDS.get(role)
        if expected is None:
            refusals.add(ENROLLMENTS.name, row.line, f"unknown role {role!r}")
            continue
        kind = people.kind_of.get(user)
        if kind is None:
            if users.unknown(user):
                refusals.add(
                    ENROLLMENTS.name, row.line, f"userSourcedId {user!r} is not in users.csv"
                )
            continue
        if kind is not expected:
            refusals.add(
                ENROLLMENTS.name,
                row.line,
                f"userSourcedId {user!r} is {KIND_NAMES[kind]}, not {KIND_NAMES[expected]}",
            )
            continue
        if people.district_of[user] != section.district:
            refusals.add(
                ENROLLMENTS.name,
                row.line,
                f"userSourcedId {user!r} and class {section_id!r} are in different districts",
            )
            continue
        key = (section_id, user)
        if kind is Kind.STAFF:
            if active:
                teachers.setdefault(key, sourced_id)
            continue
        # The same pair listed twice: an active row wins over a deleted one.
        previous = enrolments.get(key)
        if previous is None or (active and not previous.active):
            enrolments[key] = EnrolmentRecord(sourced_id, active)
    return teachers, enrolments


def _year_groups(
    orgs: Records[Org], students: Iterable[StudentRecord]
) -> dict[tuple[str, str], str]:
    """Every grade a school names or a student is in, with its name."""
    names = {
        (org.sourced_id, code): name
        for org in orgs.valid.values()
        for code, name in org.year_group_names.items()
    }
    for student in students:
        if student.grade is not None:
            names.setdefault((student.school, student.grade), student.grade)
    return names
