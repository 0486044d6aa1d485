"""Users of a OneRoster file set, resolved by their roles.

Staff, students and contacts (parents, guardians, relatives) are all users
in OneRoster; what a user is here, where, and with which roles comes from
roles.csv (1.2) or from the user's own row (1.1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from permissions.roles import Role
from resolvers.oneroster.csv_files import FieldError, Records, Refusals, Row
from resolvers.oneroster.records import (
    DEFAULT_CONTACT_TYPE,
    DEMOGRAPHICS,
    ROLES,
    USERS,
    USERS_1_1,
    ContactRecord,
    GuardianRecord,
    Kind,
    Org,
    StaffRecord,
    StudentRecord,
)

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


def read_users(directory: Path, refusals: Refusals) -> tuple[Records[User], list[RoleRow]]:
    """The users, and their roles when the file set has the 1.1 layout."""
    users: Records[User] = Records(USERS.name)
    roles_1_1: list[RoleRow] = []
    layout = USERS if ROLES.exists(directory) else USERS_1_1
    for row in users.rows(layout, directory, refusals):
        sourced_id = users.claim(row, refusals)
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
            refusals.add(USERS.name, row.line, str(error))
            continue
        users.valid[sourced_id] = user
    return users, roles_1_1


def _roles_of_1_1_user(row: Row, user: str) -> list[RoleRow]:
    """OneRoster 1.1 keeps a user's one role and their orgs on the users.csv row."""
    role = row.text("role").lower()
    orgs = row.ids("orgSourcedIds")
    if not orgs:
        raise FieldError("orgSourcedIds is empty")
    return [
        RoleRow(USERS.name, row.line, user, role, org, primary=index == 0, active=True)
        for index, org in enumerate(orgs)
    ]


def read_roles(
    directory: Path,
    refusals: Refusals,
    users: Records[User],
    orgs: Records[Org],
    district_of: Mapping[str, str],
    roles_1_1: list[RoleRow],
) -> dict[str, list[RoleRow]]:
    """Each user's checked role rows: a known role at a school or district."""
    rows: Iterable[RoleRow] = roles_1_1
    if ROLES.exists(directory):
        opened = ROLES.open(directory, refusals)
        if opened is None:
            # roles.csv was refused as a whole: its users are not refused again.
            return {user: [] for user in users.valid}
        rows = _role_rows(opened, refusals)
    # A user whose role rows were all refused maps to an empty list, so that
    # they are not refused a second time for having no role.
    by_user: dict[str, list[RoleRow]] = {}
    for role in rows:
        if role.user not in users.valid:
            if users.unknown(role.user):
                refusals.add(
                    role.file, role.line, f"userSourcedId {role.user!r} is not in users.csv"
                )
            continue
        held = by_user.setdefault(role.user, [])
        if role.role not in _ROLES:
            refusals.add(role.file, role.line, f"unknown role {role.role!r}")
        elif role.org in district_of:
            held.append(role)
        elif role.org in orgs.valid:
            kind = orgs.valid[role.org].kind
            refusals.add(
                role.file, role.line, f"org {role.org!r} is a {kind}, not a school or district"
            )
        elif orgs.unknown(role.org):
            refusals.add(role.file, role.line, f"org {role.org!r} is not in orgs.csv")
    return by_user


def _role_rows(rows: Iterable[Row], refusals: Refusals) -> Iterable[RoleRow]:
    for row in rows:
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
        except FieldError as error:
            refusals.add(ROLES.name, row.line, str(error))


def read_demographics(
    directory: Path, refusals: Refusals, users: Records[User]
) -> dict[str, dt.date]:
    birth_dates: dict[str, dt.date] = {}
    if not DEMOGRAPHICS.exists(directory):
        return birth_dates
    for row in DEMOGRAPHICS.open(directory, refusals) or ():
        sourced_id = row.raw("sourcedId")
        if users.unknown(sourced_id):
            refusals.add(DEMOGRAPHICS.name, row.line, f"sourcedId {sourced_id!r} is not a user")
            continue
        try:
            birth_date = row.optional_date("birthDate")
        except FieldError as error:
            refusals.add(DEMOGRAPHICS.name, row.line, str(error))
            continue
        if birth_date is not None:
            birth_dates[sourced_id] = birth_date
    return birth_dates


class People:
    """Users resolved by their roles into staff, students and contacts."""

    def __init__(self) -> None:
        self.kind_of: dict[str, Kind] = {}
        self.district_of: dict[str, str] = {}
        self.staff: dict[str, StaffRecord] = {}
        self.students: dict[str, StudentRecord] = {}
        self.guardians: dict[str, GuardianRecord] = {}

    @classmethod
    def resolve(
        cls,
        users: Records[User],
        role_rows: Mapping[str, list[RoleRow]],
        orgs: Records[Org],
        district_of: Mapping[str, str],
        birth_dates: Mapping[str, dt.date],
        refusals: Refusals,
    ) -> People:
        people = cls()
        for user in users.valid.values():
            rows = role_rows.get(user.sourced_id)
            if rows is None:
                refusals.add(USERS.name, user.line, "the user has no role")
            elif rows:
                people._add(user, rows, orgs, district_of, birth_dates, refusals)
        return people

    def _add(
        self,
        user: User,
        rows: list[RoleRow],
        orgs: Records[Org],
        district_of: Mapping[str, str],
        birth_dates: Mapping[str, dt.date],
        refusals: Refusals,
    ) -> None:
        kinds = {_ROLES[row.role][0] for row in rows}
        if len(kinds) > 1:
            names = " and ".join(sorted(KIND_NAMES[kind] for kind in kinds))
            refusals.add(USERS.name, user.line, f"the user's roles make them {names}")
            return
        districts = {district_of[row.org] for row in rows}
        if len(districts) > 1:
            refusals.add(
                USERS.name,
                user.line,
                f"the user's orgs are in more than one district: {', '.join(sorted(districts))}",
            )
            return
        kind, district = kinds.pop(), districts.pop()
        # A role the SIS is deleting no longer places the user at its org,
        # unless it is all the user has left.
        current = [row for row in rows if row.active] or rows
        school_orgs = [row.org for row in current if orgs.valid[row.org].kind == "school"]
        sourced_id = user.sourced_id
        if kind is Kind.STAFF:
            self.staff[sourced_id] = StaffRecord(
                sourced_id=sourced_id,
                district=district,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                active=user.active,
                schools=frozenset(school_orgs),
                # A deactivated staff member holds no role from the SIS.
                roles=frozenset(
                    grant
                    for row in rows
                    if user.active and row.active
                    for grant in [_grant(row, orgs)]
                    if grant is not None
                ),
            )
        elif kind is Kind.STUDENT:
            primary = [row.org for row in current if row.primary and row.org in school_orgs]
            school = next(iter(primary or school_orgs), None)
            if school is None:
                refusals.add(USERS.name, user.line, "a student needs a school among their orgs")
                return
            self.students[sourced_id] = StudentRecord(
                sourced_id=sourced_id,
                district=district,
                school=school,
                grade=user.grades[0] if user.grades else None,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                birth_date=birth_dates.get(sourced_id),
                active=user.active,
            )
        else:
            self.guardians[sourced_id] = GuardianRecord(
                sourced_id=sourced_id,
                district=district,
                given_name=user.given_name,
                family_name=user.family_name,
                email=user.email,
                phone=user.phone,
                active=user.active,
            )
        self.kind_of[sourced_id] = kind
        self.district_of[sourced_id] = district

    def contacts(
        self, users: Records[User], refusals: Refusals
    ) -> dict[tuple[str, str], ContactRecord]:
        """Guardian-student links, named on either side (agentSourcedIds).

        A restriction names a student and is itself a link: a restricted
        contact must be on record even when the SIS lists no other tie, so
        that any access the person holds is taken back.
        """
        links: dict[tuple[str, str], None] = {}
        for user in users.valid.values():
            kind = self.kind_of.get(user.sourced_id)
            if kind is Kind.CONTACT:
                for column, students in (
                    ("agentSourcedIds", user.agents),
                    ("metadata.restrictedStudentSourcedIds", user.restricted),
                ):
                    for student in students:
                        if self._linkable(user, column, student, Kind.STUDENT, users, refusals):
                            links[student, user.sourced_id] = None
            elif kind is Kind.STUDENT:
                for guardian in user.agents:
                    if self._linkable(
                        user, "agentSourcedIds", guardian, Kind.CONTACT, users, refusals
                    ):
                        links[user.sourced_id, guardian] = None
        contacts: dict[tuple[str, str], ContactRecord] = {}
        for student, guardian in links:
            contact = users.valid[guardian]
            contacts[student, guardian] = ContactRecord(
                contact_type=contact.contact_type,
                portal_eligible=contact.portal_eligible,
                restricted=student in contact.restricted,
            )
        return contacts

    def _linkable(
        self,
        user: User,
        column: str,
        other: str,
        expected: Kind,
        users: Records[User],
        refusals: Refusals,
    ) -> bool:
        kind = self.kind_of.get(other)
        if kind is None:
            if users.unknown(other):
                refusals.add(USERS.name, user.line, f"{column} names {other!r}, not in users.csv")
            return False
        if kind is not expected:
            refusals.add(
                USERS.name,
                user.line,
                f"{column} names {other!r}, {KIND_NAMES[kind]}, not {KIND_NAMES[expected]}",
            )
            return False
        if self.district_of[other] != self.district_of[user.sourced_id]:
            refusals.add(USERS.name, user.line, f"{column} names {other!r}, of another district")
            return False
        return True


def _grant(row: RoleRow, orgs: Records[Org]) -> tuple[Role, str | None] | None:
    """The role a role row grants, at a school or (None) its whole district."""
    role = _ROLES[row.role][1]
    if role is None:
        return None
    at_school = orgs.valid[row.org].kind == "school"
    if row.role == "administrator":
        role = Role.SCHOOL_ADMIN if at_school else Role.DISTRICT_ADMIN
    if role is Role.DISTRICT_ADMIN or not at_school:
        return role, None
    return role, row.org
