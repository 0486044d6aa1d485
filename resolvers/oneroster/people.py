"""Users of a OneRoster file set, resolved by their roles.

Staff, students and contacts (parents, guardians, relatives) are all users
in OneRoster; what a user is here, where, and with which roles comes from
roles.csv (1.2) or from the user's own row (1.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from permissions.roles import Role
from resolvers.oneroster.csv_files import FieldError, Problem, Problems, Records, Row, Source
from resolvers.oneroster.records import (
    DEFAULT_CONTACT_TYPE,
    DEMOGRAPHICS,
    NOTHING_STORED,
    ROLES,
    USERS,
    USERS_1_1,
    ContactRecord,
    Existing,
    GuardianRecord,
    Keep,
    Kind,
    StaffRecord,
    StudentRecord,
)

if TYPE_CHECKING:
    from resolvers.oneroster.roster import OrgTree, Place

# OneRoster role → (kind of user, role granted at the role's org). None:
# a staff record without a role here (proctors, IT administrators).
# "administrator" is OneRoster 1.1's word; its grant depends on the org.
_ROLES: dict[str, tuple[Kind, Role | None]] = {
    "districtadministrator": (Kind.STAFF, Role.DISTRICT_ADMIN),
    "siteadministrator": (Kind.STAFF, Role.SCHOOL_ADMIN),
    "principal": (Kind.STAFF, Role.SCHOOL_ADMIN),
    "administrator": (Kind.STAFF, Role.SCHOOL_ADMIN),
    "teacher": (Kind.STAFF, Role.TEACHER),
    "aide": (Kind.STAFF, Role.SUPPORT_STAFF),
    "counselor": (Kind.STAFF, Role.SUPPORT_STAFF),
    "proctor": (Kind.STAFF, None),
    "systemadministrator": (Kind.STAFF, None),
    "student": (Kind.STUDENT, None),
    "parent": (Kind.CONTACT, None),
    "guardian": (Kind.CONTACT, None),
    "relative": (Kind.CONTACT, None),
}


@dataclass(frozen=True, slots=True)
class User:
    line: int
    sourced_id: str
    active: bool
    given_name: str
    family_name: str
    email: str | None
    phone: str | None
    grades: tuple[str, ...]
    agents: tuple[str, ...]
    contact_type: str
    portal_eligible: bool
    restricted: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoleRow:
    file: str
    line: int
    user: str
    role: str
    org: str
    primary: bool
    active: bool


KIND_NAMES = {
    Kind.STAFF: "a staff member",
    Kind.STUDENT: "a student",
    Kind.CONTACT: "a parent, guardian or relative",
}


def read_users(
    source: Source, problems: Problems, *, delta: bool = False
) -> tuple[Records[User], list[RoleRow], bool]:
    """The users, their roles when the file set has the 1.1 layout, and whether it has."""
    users: Records[User] = Records(USERS.name)
    roles_1_1: list[RoleRow] = []
    layout = USERS if has_roles_file(source, problems, delta=delta) else USERS_1_1
    for row in users.rows(layout, source, problems):
        sourced_id = users.claim(row, problems)
        if sourced_id is None:
            continue
        try:
            user = User(
                line=row.line,
                sourced_id=sourced_id,
                active=row.is_active() and row.boolean("enabledUser", default=True),
                given_name=row.text("givenName"),
                family_name=row.text("familyName"),
                email=row.optional_text("email", max_length=320),
                phone=row.optional_text("phone", max_length=64),
                grades=row.ids("grades", max_length=32),
                agents=row.ids("agentSourcedIds"),
                contact_type=row.optional_text("metadata.contactType", max_length=64)
                or DEFAULT_CONTACT_TYPE,
                portal_eligible=row.boolean("metadata.portalEligible", default=False),
                restricted=row.ids("metadata.restrictedStudentSourcedIds"),
            )
            if layout is USERS_1_1:
                roles_1_1.extend(_roles_of_1_1_user(row, sourced_id))
        except FieldError as error:
            users.skip(sourced_id, row.line, str(error), problems)
            continue
        users.valid[sourced_id] = user
    return users, roles_1_1, layout is USERS_1_1


def has_roles_file(source: Source, problems: Problems, *, delta: bool = False) -> bool:
    """Whether users.csv is read in the 1.2 layout (roles in roles.csv).

    A roles.csv of another version (its columns named otherwise) beside a
    users.csv that has the 1.1 role columns is left out with a warning. A
    1.2 delta whose roles did not change has no roles.csv.
    """
    if not ROLES.exists(source):
        return delta and USERS.exists(source) and USERS_1_1.missing_columns(source) != []
    missing = ROLES.missing_columns(source)
    if not missing or USERS_1_1.missing_columns(source) != []:
        return True  # read as 1.2: its own problems are said when it is opened
    problems.warn(
        f"{ROLES.name}: missing required column(s): {', '.join(missing)}; the file was left "
        f"out and the roles in {USERS.name} were read (OneRoster 1.1 layout)"
    )
    return False


def _roles_of_1_1_user(row: Row, user: str) -> list[RoleRow]:
    """OneRoster 1.1 keeps a user's roles and their orgs on the users.csv row.

    Some 1.1 exports list several roles (``teacher,parent``): each role is
    held at each of the user's orgs.
    """
    roles = [role.lower() for role in row.ids("role")]
    if not roles:
        raise FieldError("role is empty")
    orgs = row.ids("orgSourcedIds")
    if not orgs:
        raise FieldError("orgSourcedIds is empty")
    return [
        RoleRow(USERS.name, row.line, user, role, org, primary=index == 0, active=True)
        for role in roles
        for index, org in enumerate(orgs)
    ]


def read_roles(
    source: Source,
    problems: Problems,
    users: Records[User],
    tree: OrgTree,
    roles_1_1: list[RoleRow],
    *,
    users_1_1: bool,
    existing: Existing = NOTHING_STORED,
) -> dict[str, list[tuple[RoleRow, Place]]]:
    """Each user's usable role rows, placed at their district and school.

    A role row with a problem skips its user (the problem is listed once,
    at the role row); users of skipped rows are not listed again.
    """
    rows: Iterable[RoleRow] = roles_1_1
    unread: list[int] = []
    if not users_1_1 and ROLES.exists(source):
        opened = ROLES.open(source, problems)
        rows = _role_rows(opened or (), problems, users, unread)
    by_user: dict[str, list[tuple[RoleRow, Place]]] = {}
    for role in rows:
        if role.user not in users.valid:
            if role.user not in users.skipped:
                problems.skip(
                    role.file, role.line, users.why_missing(role.user, "userSourcedId"), role.user
                )
            continue
        if role.role not in _ROLES:
            _skip_user(users, role, f"unknown role {role.role!r}", None, problems)
            continue
        place = tree.place(role.org, "orgSourcedId")
        if isinstance(place, str):
            _skip_user(users, role, place, tree.cause(role.org), problems)
            continue
        by_user.setdefault(role.user, []).append((role, place))
    for user in list(users.valid.values()):
        # A delta's user may keep the roles earlier syncs stored.
        if user.sourced_id not in by_user and not existing.kinds(user.sourced_id):
            reason = "the user has no role"
            if unread:
                lines = ", ".join(str(line) for line in unread[:5])
                reason = (
                    f"the user has no readable role (roles.csv line(s) {lines} could not be read)"
                )
            users.skip(user.sourced_id, user.line, reason, problems)
    return by_user


def _skip_user(
    users: Records[User], role: RoleRow, reason: str, cause: Problem | None, problems: Problems
) -> None:
    """Skip a user for a problem of one of their role rows, listed at that row."""
    if role.user in users.skipped:
        problems.skip(role.file, role.line, reason, role.user)
        return
    users.valid.pop(role.user, None)
    problem = problems.skip(role.file, role.line, reason, role.user)
    users.skipped[role.user] = cause or problem


def _role_rows(
    rows: Iterable[Row], problems: Problems, users: Records[User], unread: list[int]
) -> Iterable[RoleRow]:
    for row in rows:
        user = row.raw("userSourcedId")
        reason = row.error
        if reason is None:
            try:
                yield RoleRow(
                    file=ROLES.name,
                    line=row.line,
                    user=row.text("userSourcedId"),
                    role=row.text("role").lower(),
                    org=row.text("orgSourcedId"),
                    primary=row.raw("roleType").lower() == "primary",
                    active=row.is_active(),
                )
                continue
            except FieldError as error:
                reason = str(error)
        if not user:
            unread.append(row.line)
            problems.skip(ROLES.name, row.line, reason)
        elif user in users.valid:
            users.valid.pop(user)
            users.skipped[user] = problems.skip(ROLES.name, row.line, reason, user)
        else:
            problems.skip(ROLES.name, row.line, reason, user)


def read_demographics(
    source: Source, problems: Problems, users: Records[User], *, delta: bool = False
) -> tuple[dict[str, dt.date], Keep]:
    """Dates of birth by user; the users whose stored date is kept (a skipped
    row's, or in a delta every user without a demographics row)."""
    birth_dates: dict[str, dt.date] = {}
    kept: set[str] = set()
    if not DEMOGRAPHICS.exists(source):
        return birth_dates, Keep(everything=True)
    rows = DEMOGRAPHICS.open(source, problems, optional=True)
    if rows is None:
        return birth_dates, Keep(everything=True)
    partial = False
    listed: set[str] = set()  # rows with no date: the date is cleared
    for row in rows:
        sourced_id = row.raw("sourcedId")
        if row.error is not None:
            partial = partial or not sourced_id
            kept.add(sourced_id)
            problems.skip(DEMOGRAPHICS.name, row.line, row.error, sourced_id)
            continue
        if sourced_id not in users.valid:
            if sourced_id not in users.skipped:
                problems.skip(
                    DEMOGRAPHICS.name,
                    row.line,
                    f"sourcedId {sourced_id!r} is not a user",
                    sourced_id,
                )
            continue
        try:
            birth_date = row.optional_date("birthDate")
        except FieldError as error:
            kept.add(sourced_id)
            problems.skip(DEMOGRAPHICS.name, row.line, str(error), sourced_id)
            continue
        if birth_date is not None:
            birth_dates[sourced_id] = birth_date
        else:
            listed.add(sourced_id)
    if delta:
        kept |= set(users.valid) - set(birth_dates) - listed
    return birth_dates, Keep(frozenset(kept), partial)


class People:
    """Users resolved by their roles into staff, students and contacts.

    One person may be several: a teacher who is also a parent is a staff
    record and a guardian record, each decided by its own role rows
    (docs/architecture.md section 4). A contact may be one at schools of
    several districts: one guardian record per district.
    """

    def __init__(self, existing: Existing = NOTHING_STORED, *, delta: bool = False) -> None:
        self.existing = existing
        self.delta = delta
        # Links a delta's tobedeleted role rows end: (staff, role, school or
        # None) and (staff, school).
        self.ended_roles: set[tuple[str, str, str | None]] = set()
        self.ended_staff_schools: set[tuple[str, str]] = set()
        self.kinds_of: dict[str, frozenset[Kind]] = {}
        self.staff: dict[str, StaffRecord] = {}
        self.students: dict[str, StudentRecord] = {}
        # (district, sourcedId) → record
        self.guardians: dict[tuple[str, str], GuardianRecord] = {}
        self._guardian_districts: dict[str, set[str]] = {}

    def kinds(self, user: str) -> frozenset[Kind]:
        """What the user is: from this file set, else (a delta) as stored."""
        kinds = self.kinds_of.get(user)
        return kinds if kinds is not None else self.existing.kinds(user)

    def staff_district(self, user: str) -> str:
        staff = self.staff.get(user)
        return staff.district if staff is not None else self.existing.staff[user]

    def student_district(self, user: str) -> str:
        student = self.students.get(user)
        return student.district if student is not None else self.existing.students[user][0]

    def guardian_districts(self, user: str) -> set[str] | frozenset[str]:
        found = self._guardian_districts.get(user)
        return found if found else self.existing.guardians.get(user, frozenset())

    @classmethod
    def resolve(
        cls,
        users: Records[User],
        role_rows: Mapping[str, list[tuple[RoleRow, Place]]],
        birth_dates: Mapping[str, dt.date],
        problems: Problems,
        existing: Existing = NOTHING_STORED,
        *,
        delta: bool = False,
    ) -> People:
        people = cls(existing, delta=delta)
        for user in list(users.valid.values()):
            reason = people._add(user, role_rows.get(user.sourced_id, []), birth_dates)
            if reason is not None:
                users.skip(user.sourced_id, user.line, reason, problems)
        for district, sourced_id in people.guardians:
            people._guardian_districts.setdefault(sourced_id, set()).add(district)
        return people

    def _add(
        self,
        user: User,
        rows: list[tuple[RoleRow, Place]],
        birth_dates: Mapping[str, dt.date],
    ) -> str | None:
        """Record the user's staff, student and contact records, or why not."""
        by_kind: dict[Kind, list[tuple[RoleRow, Place]]] = {}
        for row, place in rows:
            by_kind.setdefault(_ROLES[row.role][0], []).append((row, place))
        if self.delta:
            return self._add_delta(user, by_kind, birth_dates)
        for kind in (Kind.STAFF, Kind.STUDENT):
            districts = {place.district for _, place in by_kind.get(kind, ())}
            if len(districts) > 1:
                return (
                    f"the user's roles as {KIND_NAMES[kind]} are in more than one district: "
                    f"{', '.join(sorted(districts))}"
                )
        student_rows = by_kind.get(Kind.STUDENT)
        student_school: str | None = None
        if student_rows:
            current = [r for r in student_rows if r[0].active] or student_rows
            schools = [place.school for _, place in current if place.school is not None]
            primary = [p.school for r, p in current if r.primary and p.school is not None]
            student_school = next(iter(primary or schools), None)
            if student_school is None:
                return "a student needs a school among their orgs"
        sourced_id = user.sourced_id
        staff_rows = by_kind.get(Kind.STAFF)
        if staff_rows:
            # A role the SIS is deleting no longer places the user at its
            # org, unless it is all the user has left.
            active = user.active and any(row.active for row, _ in staff_rows)
            current = [r for r in staff_rows if r[0].active] or staff_rows
            self.staff[sourced_id] = StaffRecord(
                sourced_id=sourced_id,
                district=staff_rows[0][1].district,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                active=active,
                schools=frozenset(p.school for _, p in current if p.school is not None),
                # A deactivated staff member holds no role from the SIS.
                roles=frozenset(
                    grant
                    for row, place in staff_rows
                    if active and row.active
                    for grant in [_grant(row, place)]
                    if grant is not None
                ),
            )
        if student_rows and student_school is not None:
            self.students[sourced_id] = StudentRecord(
                sourced_id=sourced_id,
                district=student_rows[0][1].district,
                school=student_school,
                grade=user.grades[0] if user.grades else None,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                birth_date=birth_dates.get(sourced_id),
                active=user.active and any(row.active for row, _ in student_rows),
            )
        contact_rows = by_kind.get(Kind.CONTACT, [])
        for district in sorted({place.district for _, place in contact_rows}):
            here = [row for row, place in contact_rows if place.district == district]
            self.guardians[district, sourced_id] = GuardianRecord(
                sourced_id=sourced_id,
                district=district,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                phone=user.phone,
                active=user.active and any(row.active for row in here),
            )
        self.kinds_of[sourced_id] = frozenset(by_kind)
        return None

    def _add_delta(
        self,
        user: User,
        by_kind: dict[Kind, list[tuple[RoleRow, Place]]],
        birth_dates: Mapping[str, dt.date],
    ) -> str | None:
        """A delta's user: the parts its role rows name, and those stored.

        Only the records and links the delta carries change: a role row
        marked tobedeleted ends that role (and the school link it made), and
        the record itself is ended by the user row's own status.
        """
        sourced_id, stored = user.sourced_id, self.existing
        staff_rows = by_kind.get(Kind.STAFF, [])
        if staff_rows or sourced_id in stored.staff:
            current = [(r, p) for r, p in staff_rows if r.active]
            district = staff_rows[0][1].district if staff_rows else stored.staff[sourced_id]
            self.staff[sourced_id] = StaffRecord(
                sourced_id=sourced_id,
                district=district,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                active=user.active,
                schools=frozenset(p.school for _, p in current if p.school is not None),
                roles=frozenset(
                    grant
                    for row, place in current
                    if user.active
                    for grant in [_grant(row, place)]
                    if grant is not None
                ),
            )
            kept = {p.school for _, p in current}
            for row, place in staff_rows:
                grant = _grant(row, place)
                if not row.active and grant is not None:
                    self.ended_roles.add((sourced_id, grant[0].value, grant[1]))
                if not row.active and place.school is not None and place.school not in kept:
                    self.ended_staff_schools.add((sourced_id, place.school))
        student_rows = by_kind.get(Kind.STUDENT, [])
        if student_rows or sourced_id in stored.students:
            current = [r for r in student_rows if r[0].active] or student_rows
            schools = [p.school for r, p in current if p.school is not None]
            primary = [p.school for r, p in current if r.primary and p.school is not None]
            found: str | None = next(iter(primary or schools), None)
            at: str | None = current[0][1].district if current else None
            if found is None and sourced_id in stored.students:
                at, found = stored.students[sourced_id]
            if found is None or at is None:
                return "a student needs a school among their orgs"
            school = found
            self.students[sourced_id] = StudentRecord(
                sourced_id=sourced_id,
                district=at,
                school=school,
                grade=user.grades[0] if user.grades else None,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                birth_date=birth_dates.get(sourced_id),
                active=user.active,
            )
        contact_rows = by_kind.get(Kind.CONTACT, [])
        districts = {p.district for _, p in contact_rows} | set(
            stored.guardians.get(sourced_id, ())
        )
        for district in sorted(districts):
            self.guardians[district, sourced_id] = GuardianRecord(
                sourced_id=sourced_id,
                district=district,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                phone=user.phone,
                active=user.active,
            )
        kinds = frozenset(by_kind) | stored.kinds(sourced_id)
        self.kinds_of[sourced_id] = kinds
        return None

    def contacts(
        self, users: Records[User], problems: Problems
    ) -> tuple[dict[tuple[str, str], ContactRecord], Keep]:
        """Guardian-student links, named on either side (agentSourcedIds).

        A restriction names a student and is itself a link: a restricted
        contact must be on record even when the SIS lists no other tie, so
        that any access the person holds is taken back. A link that cannot
        be made is listed and the stored one, if any, is kept.
        """
        links: dict[tuple[str, str], None] = {}
        kept: set[tuple[str, str]] = set()
        for user in users.valid.values():
            kinds = self.kinds_of.get(user.sourced_id, frozenset())
            if Kind.CONTACT in kinds:
                for column, students in (
                    ("agentSourcedIds", user.agents),
                    ("metadata.restrictedStudentSourcedIds", user.restricted),
                ):
                    for student in students:
                        pair = (student, user.sourced_id)
                        if self._linkable(user, column, student, Kind.STUDENT, users, problems):
                            links[pair] = None
                        else:
                            kept.add(pair)
            if Kind.STUDENT in kinds:
                for guardian in user.agents:
                    pair = (user.sourced_id, guardian)
                    if self._linkable(
                        user, "agentSourcedIds", guardian, Kind.CONTACT, users, problems
                    ):
                        links[pair] = None
                    else:
                        kept.add(pair)
        contacts: dict[tuple[str, str], ContactRecord] = {}
        for student, guardian in links:
            contact = users.valid[guardian]
            contacts[student, guardian] = ContactRecord(
                contact_type=contact.contact_type,
                portal_eligible=contact.portal_eligible,
                restricted=student in contact.restricted,
            )
        return contacts, Keep(frozenset(kept), users.partial)

    def _linkable(
        self,
        user: User,
        column: str,
        other: str,
        expected: Kind,
        users: Records[User],
        problems: Problems,
    ) -> bool:
        kinds = self.kinds(other)
        if not kinds:
            if other not in users.skipped:  # else its own problem is listed
                problems.skip(
                    USERS.name, user.line, users.why_missing(other, column), user.sourced_id
                )
            return False
        if expected not in kinds:
            names = " and ".join(sorted(KIND_NAMES[kind] for kind in kinds))
            problems.skip(
                USERS.name,
                user.line,
                f"{column} names {other!r}, {names}, not {KIND_NAMES[expected]}",
                user.sourced_id,
            )
            return False
        student, guardian = (
            (other, user.sourced_id)
            if expected is Kind.STUDENT
            else (
                user.sourced_id,
                other,
            )
        )
        if self.student_district(student) not in self.guardian_districts(guardian):
            problems.skip(
                USERS.name,
                user.line,
                f"{column} names {other!r}, of another district",
                user.sourced_id,
            )
            return False
        return True


def _grant(row: RoleRow, place: Place) -> tuple[Role, str | None] | None:
    """The role a role row grants, at a school or (None) its whole district."""
    role = _ROLES[row.role][1]
    if role is None:
        return None
    at_school = place.school is not None
    if row.role == "administrator":
        role = Role.SCHOOL_ADMIN if at_school else Role.DISTRICT_ADMIN
    if role is Role.DISTRICT_ADMIN or place.school is None:
        return role, None
    return role, place.school
