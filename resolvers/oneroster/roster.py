"""A OneRoster file set, read and checked before anything is written.

``read_roster`` reads every file of docs/architecture.md section 4, checks every field and
every reference, and resolves each record to its district, without touching
the database. A row with a problem is skipped, with its file, line and
reason; a record naming a skipped one is skipped too, citing the first
cause. Only a missing required file or an unreadable one refuses the file
set as a whole (``Problems.fatal``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from resolvers.oneroster.csv_files import (
    FieldError,
    Problem,
    Problems,
    Records,
    Row,
    Source,
    parse_year_group_names,
)
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
    NOTHING_STORED,
    ORG_TYPES,
    ORGS,
    REQUIRED_FILES,
    SESSIONS,
    DistrictRecord,
    EnrolmentRecord,
    Existing,
    Keep,
    Kind,
    Org,
    Roster,
    SchoolRecord,
    SectionRecord,
    SessionRecord,
    StudentRecord,
    implicit_district_id,
)


def read_manifest(source: Source, problems: Problems) -> dict[str, str]:
    """manifest.csv's ``file.X`` modes by lower-case file stem: bulk, delta or absent."""
    modes: dict[str, str] = {}
    if not MANIFEST.exists(source):
        return modes
    for row in MANIFEST.open(source, problems) or ():
        if row.error is not None:
            problems.refuse(MANIFEST.name, row.line, row.error)
            continue
        name, value = row.raw("propertyName"), row.raw("value").lower()
        if not name.startswith("file."):
            continue
        if value not in _FILE_MODES:
            problems.refuse(
                MANIFEST.name, row.line, f"{name} must be bulk, delta or absent, not {value!r}"
            )
            continue
        modes[name.removeprefix("file.").lower()] = value
    return modes


_FILE_MODES = ("bulk", "delta", "absent")


def is_delta(modes: dict[str, str]) -> bool:
    """A delta export: one file at least is delta (docs/architecture.md section 4)."""
    return "delta" in modes.values()


def read_roster(
    source: Source,
    problems: Problems,
    *,
    modes: dict[str, str] | None = None,
    existing: Existing = NOTHING_STORED,
) -> Roster | None:
    """The file set in ``source``, or None when ``problems.fatal`` refuses it.

    ``modes`` are the manifest's (``read_manifest``); a delta export's
    references may name what ``existing`` holds.
    """
    modes = read_manifest(source, problems) if modes is None else modes
    delta = is_delta(modes)
    # A file the manifest says is absent is not read, even when present.
    source.hide(
        name for name in source.names() if modes.get(name.lower().removesuffix(".csv")) == "absent"
    )
    if not delta:
        existing = NOTHING_STORED
        for required in REQUIRED_FILES:
            if not required.exists(source):
                problems.refuse(required.name, None, "required file is missing")
    if problems.fatal:
        return None
    orgs = _read_orgs(source, problems)
    tree = OrgTree.resolve(orgs, problems, existing)
    sessions = _read_sessions(source, problems, tree, existing)
    users, roles_1_1, users_1_1 = read_users(source, problems, delta=delta)
    if problems.fatal:
        # Reading on would list every reference into an unreadable file.
        return None
    role_rows = read_roles(
        source, problems, users, tree, roles_1_1, users_1_1=users_1_1, existing=existing
    )
    if problems.fatal:
        return None
    birth_dates, keep_birth_dates = read_demographics(source, problems, users, delta=delta)
    people = People.resolve(users, role_rows, birth_dates, problems, existing, delta=delta)
    sections = _read_classes(source, problems, tree, sessions, existing)
    contacts, keep_contacts = people.contacts(users, problems)
    teachers, enrolments, keep_enrolments, ended_teachers = _read_enrollments(
        source, problems, sections, users, people, existing
    )
    if problems.fatal:
        return None
    everything = Keep(everything=True)
    return Roster(
        districts=tuple(tree.districts.values()),
        schools=tuple(tree.schools.values()),
        year_groups=_year_groups(tree, people.students.values()),
        sessions=tuple(sessions.valid.values()),
        sections=tuple(sections.valid.values()),
        staff=tuple(people.staff.values()),
        students=tuple(people.students.values()),
        guardians=tuple(people.guardians.values()),
        contacts=contacts,
        section_teachers=teachers,
        enrolments=enrolments,
        has_birth_dates=DEMOGRAPHICS.exists(source),
        keep_users=everything if delta else Keep(frozenset(users.skipped), users.partial),
        keep_sections=everything if delta else Keep(frozenset(sections.skipped), sections.partial),
        keep_sessions=everything if delta else Keep(frozenset(sessions.skipped), sessions.partial),
        keep_enrolments=everything if delta else keep_enrolments,
        keep_contacts=keep_contacts,
        keep_birth_dates=keep_birth_dates,
        delta=delta,
        referenced_districts=frozenset(
            [place.district for place in tree.places.values()]
            + [district for session in sessions.valid.values() for district in session.districts]
        ),
        ended_roles=frozenset(people.ended_roles),
        ended_staff_schools=frozenset(people.ended_staff_schools),
        ended_section_teachers=frozenset(ended_teachers),
    )


# ---------------------------------------------------------------- orgs


def _read_orgs(source: Source, problems: Problems) -> Records[Org]:
    orgs: Records[Org] = Records(ORGS.name)
    for row in orgs.rows(ORGS, source, problems):
        sourced_id = orgs.claim(row, problems)
        if sourced_id is None:
            continue
        try:
            kind = _org_type(row)
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
            orgs.skip(sourced_id, row.line, str(error), problems)
            continue
        orgs.valid[sourced_id] = org
    return orgs


def _org_type(row: Row) -> str:
    kind = row.text("type").lower()
    if kind not in ORG_TYPES:
        raise FieldError(f"type must be one of {', '.join(ORG_TYPES)}, not {kind!r}")
    return kind


@dataclass
class Place:
    """Where an org reference puts a record: a district, and a school or None."""

    district: str
    school: str | None


@dataclass
class OrgTree:
    """Districts and schools as written; every usable org's place.

    A school names its district as parent. A school without one, or whose
    parent is not a district (a local or state org, another school), stands
    alone in an implicit district of its own (``implicit_district_id``). A
    department belongs to its school: users and classes placed in it are
    placed at that school.
    """

    orgs: Records[Org]
    districts: dict[str, DistrictRecord] = field(default_factory=dict)
    schools: dict[str, SchoolRecord] = field(default_factory=dict)
    places: dict[str, Place] = field(default_factory=dict)

    @classmethod
    def resolve(
        cls, orgs: Records[Org], problems: Problems, existing: Existing = NOTHING_STORED
    ) -> OrgTree:
        tree = cls(orgs)
        # A delta's rows may name districts and schools stored by earlier syncs.
        for district in existing.districts:
            tree.places[district] = Place(district, None)
        for school, district in existing.schools.items():
            tree.places[school] = Place(district, school)
        for org in list(orgs.valid.values()):
            if org.kind == "district":
                tree.districts[org.sourced_id] = DistrictRecord(
                    org.sourced_id, org.name, org.email_domains
                )
                tree.places[org.sourced_id] = Place(org.sourced_id, None)
        for org in list(orgs.valid.values()):
            if org.kind == "school":
                tree._place_school(org, problems)
        for org in list(orgs.valid.values()):
            if org.kind == "department":
                tree._place_department(org, problems, set())
        return tree

    def _place_school(self, org: Org, problems: Problems) -> None:
        parent = self.orgs.valid.get(org.parent) if org.parent else None
        stored = self.places.get(org.parent) if parent is None and org.parent else None
        if parent is not None and parent.kind == "district":
            district = parent.sourced_id
        elif stored is not None and stored.school is None:
            district = stored.district  # a stored district (a delta export)
        elif org.parent and parent is None:
            reason = self.orgs.why_missing(org.parent, "parentSourcedId")
            cause = self.orgs.skipped.get(org.parent)
            self.orgs.skip_because(org.sourced_id, org.line, reason, cause, problems)
            return
        else:
            if parent is not None:
                problems.warn(
                    f"{ORGS.name} line {org.line}: school {org.sourced_id!r} has parentSourcedId "
                    f"{org.parent!r}, a {parent.kind}, not a district: it is imported as a "
                    f"standalone school in a district of its own"
                )
            district = implicit_district_id(org.sourced_id)
            self.districts[district] = DistrictRecord(district, org.name, "")
        self.schools[org.sourced_id] = SchoolRecord(org.sourced_id, district, org.name)
        self.places[org.sourced_id] = Place(district, org.sourced_id)

    def _place_department(self, org: Org, problems: Problems, visiting: set[str]) -> Place | None:
        place = self.places.get(org.sourced_id)
        if place is not None or org.sourced_id not in self.orgs.valid:
            return place
        parent = self.orgs.valid.get(org.parent) if org.parent else None
        if parent is not None and parent.kind == "department" and org.sourced_id not in visiting:
            place = self._place_department(parent, problems, visiting | {org.sourced_id})
        else:
            place = self.places.get(org.parent) if org.parent else None
        cause = self.orgs.skipped.get(org.parent)
        if cause is not None:
            reason = self.orgs.why_missing(org.parent, "parentSourcedId")
            self.orgs.skip_because(org.sourced_id, org.line, reason, cause, problems)
            return None
        if place is None or place.school is None:
            if not org.parent:
                reason = "a department needs parentSourcedId naming its school"
            elif parent is None:
                reason = f"parentSourcedId {org.parent!r} is not in {ORGS.name}"
            else:
                reason = f"parentSourcedId {org.parent!r} is a {parent.kind}: a department's parent is a school"
            self.orgs.skip(org.sourced_id, org.line, reason, problems)
            return None
        self.places[org.sourced_id] = place
        return place

    def place(self, org: str, column: str) -> Place | str:
        """Where ``org`` puts a record, or why it cannot be followed."""
        place = self.places.get(org)
        if place is not None:
            return place
        found = self.orgs.valid.get(org)
        if found is not None:
            return f"{column} {org!r} is a {found.kind}: not a district, school or department"
        return self.orgs.why_missing(org, column)

    def cause(self, org: str) -> Problem | None:
        """The skipped org row a reference to ``org`` depends on, if any."""
        return self.orgs.skipped.get(org)


# ---------------------------------------------------------------- sessions and classes


def _read_sessions(
    source: Source, problems: Problems, tree: OrgTree, existing: Existing
) -> Records[SessionRecord]:
    sessions: Records[SessionRecord] = Records(SESSIONS.name)
    every_district = tuple(tree.districts) + tuple(sorted(existing.districts - set(tree.districts)))
    for row in sessions.rows(SESSIONS, source, problems):
        sourced_id = sessions.claim(row, problems)
        if sourced_id is None:
            continue
        org = row.raw("orgSourcedId")
        districts = every_district
        if org:
            place = tree.place(org, "orgSourcedId")
            if isinstance(place, str):
                sessions.skip_because(sourced_id, row.line, place, tree.cause(org), problems)
                continue
            districts = (place.district,)
        try:
            start, end = row.date_range("startDate", "endDate")
            sessions.valid[sourced_id] = SessionRecord(
                sourced_id=sourced_id,
                districts=districts,
                title=row.text("title"),
                session_type=row.text("type", max_length=32),
                start_date=start,
                end_date=end,
                active=row.is_active(),
            )
        except FieldError as error:
            sessions.skip(sourced_id, row.line, str(error), problems)
    return sessions


def _read_classes(
    source: Source,
    problems: Problems,
    tree: OrgTree,
    sessions: Records[SessionRecord],
    existing: Existing,
) -> Records[SectionRecord]:
    sections: Records[SectionRecord] = Records(CLASSES.name)
    for row in sections.rows(CLASSES, source, problems):
        sourced_id = sections.claim(row, problems)
        if sourced_id is None:
            continue
        try:
            school = row.text("schoolSourcedId")
            terms = row.ids("termSourcedIds")
            name = row.text("title")
            active = row.is_active()
        except FieldError as error:
            sections.skip(sourced_id, row.line, str(error), problems)
            continue
        place = tree.place(school, "schoolSourcedId")
        if isinstance(place, str) or place.school is None:
            reason = (
                place
                if isinstance(place, str)
                else f"schoolSourcedId {school!r} is a district, not a school"
            )
            sections.skip_because(sourced_id, row.line, reason, tree.cause(school), problems)
            continue
        term = terms[0] if terms else None
        if term is not None:
            session = sessions.valid.get(term)
            term_districts = (
                session.districts if session is not None else existing.sessions.get(term)
            )
            if term_districts is None:
                reason = sessions.why_missing(term, "termSourcedIds")
                sections.skip_because(
                    sourced_id, row.line, reason, sessions.skipped.get(term), problems
                )
                continue
            if place.district not in term_districts:
                sections.skip(
                    sourced_id, row.line, f"term {term!r} belongs to another district", problems
                )
                continue
        sections.valid[sourced_id] = SectionRecord(
            sourced_id=sourced_id,
            district=place.district,
            school=place.school,
            term=term,
            name=name,
            active=active,
        )
    return sections


# ---------------------------------------------------------------- enrolments


# Enrolment roles that make no section link here.
_OTHER_ENROLMENT_ROLES = frozenset(
    {"administrator", "proctor", "aide", "guardian", "parent", "relative"}
)


_ENROLMENT_KINDS = {"teacher": Kind.STAFF, "student": Kind.STUDENT}


def _read_enrollments(
    source: Source,
    problems: Problems,
    sections: Records[SectionRecord],
    users: Records[User],
    people: People,
    existing: Existing,
) -> tuple[
    dict[tuple[str, str], str | None],
    dict[tuple[str, str], EnrolmentRecord],
    Keep,
    set[tuple[str, str]],
]:
    teachers: dict[tuple[str, str], str | None] = {}
    enrolments: dict[tuple[str, str], EnrolmentRecord] = {}
    ended_teachers: set[tuple[str, str]] = set()
    kept: set[tuple[str, str]] = set()
    partial = False
    rows = ENROLLMENTS.open(source, problems) if ENROLLMENTS.exists(source) else iter(())
    for row in rows or ():
        pair = (row.raw("classSourcedId"), row.raw("userSourcedId"))
        outcome = _enrolment(row, sections, users, people, existing)
        if isinstance(outcome, _Kept):
            kept.add(pair)  # what it names was skipped, and is listed
        elif isinstance(outcome, str):
            problems.skip(ENROLLMENTS.name, row.line, outcome, row.raw("sourcedId"))
            kept.add(pair)
            partial = partial or not all(pair)
        elif outcome is not None:
            kind, active, sourced_id = outcome
            if kind is Kind.STAFF:
                if active:
                    teachers.setdefault(pair, sourced_id)
                else:
                    ended_teachers.add(pair)
                continue
            # The same pair listed twice: an active row wins over a deleted one.
            previous = enrolments.get(pair)
            if previous is None or (active and not previous.active):
                enrolments[pair] = EnrolmentRecord(sourced_id, active)
    ended_teachers -= set(teachers)
    return teachers, enrolments, Keep(frozenset(kept), partial or rows is None), ended_teachers


class _Kept:
    """An enrolment naming a skipped class or user: kept as stored, not listed again."""


def _enrolment(
    row: Row,
    sections: Records[SectionRecord],
    users: Records[User],
    people: People,
    existing: Existing,
) -> tuple[Kind, bool, str | None] | str | _Kept | None:
    """An enrolment row's link (kind, active, sourcedId), why it is skipped,
    or None for a role that makes no link here."""
    if row.error is not None:
        return row.error
    try:
        section_id = row.text("classSourcedId")
        user = row.text("userSourcedId")
        role = row.text("role").lower()
        active = row.is_active()
        sourced_id = row.optional_text("sourcedId")
    except FieldError as error:
        return str(error)
    section = sections.valid.get(section_id)
    stored = existing.sections.get(section_id)
    if section is None and stored is None:
        if section_id in sections.skipped:
            return _Kept()
        return sections.why_missing(section_id, "classSourcedId")
    section_district = section.district if section is not None else stored[0] if stored else ""
    if role in _OTHER_ENROLMENT_ROLES:
        return None
    expected = _ENROLMENT_KINDS.get(role)
    if expected is None:
        return f"unknown role {role!r}"
    kinds = people.kinds(user)
    if not kinds:
        if user in users.skipped:
            return _Kept()
        return users.why_missing(user, "userSourcedId")
    if expected not in kinds:
        names = " and ".join(KIND_NAMES[kind] for kind in sorted(kinds, key=_kind_order))
        return f"userSourcedId {user!r} is {names}, not {KIND_NAMES[expected]}"
    if expected is Kind.STAFF:
        district = people.staff_district(user)
    else:
        district = people.student_district(user)
    if district != section_district:
        return f"userSourcedId {user!r} and class {section_id!r} are in different districts"
    return expected, active, sourced_id


def _kind_order(kind: Kind) -> str:
    return kind.value


def _year_groups(tree: OrgTree, students: Iterable[StudentRecord]) -> dict[tuple[str, str], str]:
    """Every grade a school names or a student is in, with its name."""
    names = {
        (school, code): name
        for school in tree.schools
        for code, name in tree.orgs.valid[school].year_group_names.items()
    }
    for student in students:
        if student.grade is not None:
            names.setdefault((student.school, student.grade), student.grade)
    return names
