"""Writing a checked OneRoster file set, table by table in dependency order.

Each step syncs one table (``sync_table``) and keeps the sourcedId → id map
that the next steps need. What the SIS no longer lists is kept and marked,
never deleted: staff are deactivated, students withdrawn, guardians made
inactive, sections and enrolments made inactive. Links the file set fully
describes (SIS role grants, section teachers, and the contacts and schools
of people it lists) are replaced to match it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from permissions.roles import Role
from resolvers.oneroster.access import accounts_with_current_students, revoke_restricted_grants
from resolvers.oneroster.diff import Absent, Changes, Key, TableSync, Values, sync_table
from resolvers.oneroster.records import Existing, Roster
from resolvers.tables import (
    ACADEMIC_SESSIONS,
    CONTACTS,
    DISTRICTS,
    ENROLMENTS,
    GUARDIANS,
    ROLE_GRANTS,
    SCHOOLS,
    SECTION_TEACHERS,
    SECTIONS,
    STAFF,
    STAFF_SCHOOLS,
    STUDENTS,
    YEAR_GROUPS,
    EnrolmentStatus,
    RoleGrantSource,
)

Progress = Callable[[str], None]


class RosterImport:
    """One file set being written: the ids of what has been written so far."""

    def __init__(
        self, connection: AsyncConnection, roster: Roster, now: dt.datetime, say: Progress
    ) -> None:
        self.connection = connection
        self.roster = roster
        self.now = now
        self.say = say
        self.changes: dict[str, Changes] = {}
        # By district id: people (staff, students, guardians) active before
        # the sync, and those it deactivates (the mass-change guard).
        self.people_before: dict[int, int] = {}
        self.people_deactivated: dict[int, int] = {}
        self.district_id: dict[str, int] = {}
        self.school_id: dict[str, int] = {}
        self.year_group_id: dict[tuple[str, str], int] = {}
        self.student_id: dict[str, int] = {}
        # (district sourcedId, sourcedId) → id: a contact may be one in several districts.
        self.guardian_id: dict[tuple[str, str], int] = {}
        self.staff_id: dict[str, int] = {}
        self.section_id: dict[str, int] = {}
        # id → sourcedId of every row in scope, for what skipped rows keep
        self.staff_sid: dict[int, str] = {}
        self.student_sid: dict[int, str] = {}
        self.guardian_sid: dict[int, str] = {}
        self.section_sid: dict[int, str] = {}
        self.school_sid: dict[int, str] = {}
        self.student_keys: dict[Key, int] = {}
        self.section_district: dict[str, int] = {}

    async def sync(
        self, kind: str, spec: TableSync, desired: Mapping[Key, Values], **options: Any
    ) -> Mapping[Key, int]:
        synced = await sync_table(self.connection, spec, desired, **options)
        self.changes[kind] = synced.changes
        if kind in {"staff", "students", "guardians"}:
            for counts, found in (
                (self.people_before, synced.active_before),
                (self.people_deactivated, synced.deactivated_in),
            ):
                for district, count in found.items():
                    counts[district] = counts.get(district, 0) + count
        self.say(f"{kind}: {len(desired):,} in the files, {_described(synced.changes)}")
        return synced.ids

    async def write(self) -> int:
        """Write the file set; the number of accounts that would be revoked."""
        await self.districts()
        in_districts = list(self.district_id.values())
        accounts_before = await accounts_with_current_students(self.connection, in_districts)
        await self.schools()
        await self.sessions_and_sections()
        await self.staff()
        await self.students()
        await self.guardians_and_contacts()
        await self.section_links()
        revoked = await revoke_restricted_grants(self.connection, in_districts, self.now)
        self.changes["access_grants"] = Changes(deactivated=revoked)
        if revoked:
            self.say(f"access grants: {revoked:,} revoked (custody restriction)")
        if not accounts_before:
            return 0
        accounts_after = await accounts_with_current_students(self.connection, in_districts)
        return len(accounts_before - accounts_after)

    async def districts(self) -> None:
        sourced_ids = [district.sourced_id for district in self.roster.districts]
        ids = await self.sync(
            "districts",
            TableSync(DISTRICTS, ("sourced_id",), ("name", "email_domains")),
            {(d.sourced_id,): (d.name, d.email_domains) for d in self.roster.districts},
            scope=DISTRICTS.c.sourced_id.in_(sourced_ids),
        )
        self.district_id = {sourced_id: ids[(sourced_id,)] for sourced_id in sourced_ids}
        # A delta's records may be in districts it does not list: stored ones.
        others = sorted(self.roster.referenced_districts - set(sourced_ids))
        if others:
            stored = await self.connection.execute(
                sa.select(DISTRICTS.c.sourced_id, DISTRICTS.c.id).where(
                    DISTRICTS.c.sourced_id.in_(others)
                )
            )
            self.district_id.update({row.sourced_id: row.id for row in stored})

    def _in_districts(self, table: sa.Table) -> sa.ColumnElement[bool]:
        return table.c.district_id.in_(list(self.district_id.values()))

    def _by_sourced_id(self, ids: Mapping[Key, int], records: Iterable[Any]) -> dict[str, int]:
        """sourcedId → id of every row in scope (a delta names stored ones),
        the file set's own records by their district."""
        found = {key[1]: row_id for key, row_id in ids.items()}
        found.update(
            {r.sourced_id: ids[(self.district_id[r.district], r.sourced_id)] for r in records}
        )
        return found

    async def schools(self) -> None:
        roster, district_id = self.roster, self.district_id
        ids = await self.sync(
            "schools",
            TableSync(SCHOOLS, ("district_id", "sourced_id"), ("name",)),
            {(district_id[s.district], s.sourced_id): (s.name,) for s in roster.schools},
            scope=self._in_districts(SCHOOLS),
        )
        self.school_id = self._by_sourced_id(ids, roster.schools)
        self.school_sid = {row_id: key[1] for key, row_id in ids.items()}
        district_of_school = {key[1]: key[0] for key in ids}
        district_of_school.update({s.sourced_id: district_id[s.district] for s in roster.schools})
        listed_schools = {s.sourced_id for s in roster.schools}

        def keep_stored_names(stored: Values | None, wanted: Values, key: Key) -> Values:
            # A delta's student at a school it does not carry: the grade's
            # stored name stands (the school's yearGroupNames are not here).
            if stored is not None and self.school_sid.get(key[0]) not in listed_schools:
                return (wanted[0], stored[1])
            return wanted

        ids = await self.sync(
            "year_groups",
            TableSync(YEAR_GROUPS, ("school_id", "code"), ("district_id", "name")),
            {
                (self.school_id[school], code): (district_of_school[school], name)
                for (school, code), name in roster.year_groups.items()
            },
            scope=self._in_districts(YEAR_GROUPS),
            settle=keep_stored_names,
        )
        self.year_group_id = {
            (school, code): ids[(self.school_id[school], code)]
            for school, code in roster.year_groups
        }

    async def sessions_and_sections(self) -> None:
        roster, district_id = self.roster, self.district_id
        session_ids = await self.sync(
            "academic_sessions",
            TableSync(
                ACADEMIC_SESSIONS,
                ("district_id", "sourced_id"),
                ("title", "session_type", "start_date", "end_date", "active"),
            ),
            {
                (district_id[district], s.sourced_id): (
                    s.title,
                    s.session_type,
                    s.start_date,
                    s.end_date,
                    s.active,
                )
                for s in roster.sessions
                for district in s.districts
            },
            scope=self._in_districts(ACADEMIC_SESSIONS),
            # Like a section: a session a full export leaves out is kept, inactive.
            on_absent=lambda key, row: (
                Absent.KEEP if key[1] in roster.keep_sessions else (*row[:4], False)
            ),
            is_active=lambda row: bool(row[4]),
        )

        def term_id(district: int, term: str | None) -> int | None:
            return None if term is None else session_ids[(district, term)]

        ids = await self.sync(
            "sections",
            TableSync(
                SECTIONS, ("district_id", "sourced_id"), ("school_id", "term_id", "name", "active")
            ),
            {
                (district_id[s.district], s.sourced_id): (
                    self.school_id[s.school],
                    term_id(district_id[s.district], s.term),
                    s.name,
                    s.active,
                )
                for s in roster.sections
            },
            scope=self._in_districts(SECTIONS),
            on_absent=lambda key, row: (
                Absent.KEEP if key[1] in roster.keep_sections else (*row[:3], False)
            ),
            is_active=lambda row: bool(row[3]),
        )
        self.section_id = self._by_sourced_id(ids, roster.sections)
        self.section_district = {key[1]: key[0] for key in ids}
        self.section_sid = {row_id: key[1] for key, row_id in ids.items()}

    async def staff(self) -> None:
        roster, district_id, now = self.roster, self.district_id, self.now
        keep = roster.keep_users

        def settle(stored: Values | None, wanted: Values, _key: Key = ()) -> Values:
            # deactivated_at records when the SIS deactivated the record:
            # kept while the state holds, cleared when it comes back.
            active = wanted[3]
            if stored is not None and stored[3] == active:
                return (*wanted[:4], stored[4])
            return (*wanted[:4], None if active else now)

        ids = await self.sync(
            "staff",
            TableSync(
                STAFF,
                ("district_id", "sourced_id"),
                ("given_name", "family_name", "email", "active", "deactivated_at"),
            ),
            {
                (district_id[s.district], s.sourced_id): (
                    s.given_name,
                    s.family_name,
                    s.email,
                    s.active,
                    None,
                )
                for s in roster.staff
            },
            scope=self._in_districts(STAFF),
            settle=settle,
            on_absent=lambda key, row: (
                Absent.KEEP if key[1] in keep else settle(row, (*row[:3], False, None))
            ),
            is_active=lambda row: bool(row[3]),
        )
        self.staff_id = self._by_sourced_id(ids, roster.staff)
        self.staff_sid = {row_id: key[1] for key, row_id in ids.items()}
        listed = {self.staff_id[s.sourced_id] for s in roster.staff}
        kept = {row_id for (_, sourced_id), row_id in ids.items() if sourced_id in keep}

        def school_link_absent(key: Key, _: Values) -> Absent:
            if roster.delta:  # only what the delta ends
                pair = (self.staff_sid.get(key[0]), self.school_sid.get(key[1]))
                return Absent.REMOVE if pair in roster.ended_staff_schools else Absent.KEEP
            # Staff the SIS no longer lists keep their schools, so that a
            # deactivated record still shows where it belonged.
            return Absent.REMOVE if key[0] in listed and key[0] not in kept else Absent.KEEP

        def grant_absent(key: Key, _: Values) -> Absent:
            if roster.delta:
                school = None if key[2] is None else self.school_sid.get(key[2])
                ended = (self.staff_sid.get(key[0]), key[1], school) in roster.ended_roles
                return Absent.REMOVE if ended else Absent.KEEP
            # A skipped staff row keeps the grants it had.
            return Absent.KEEP if key[0] in kept else Absent.REMOVE

        await self.sync(
            "staff_schools",
            TableSync(STAFF_SCHOOLS, ("staff_member_id", "school_id"), ("district_id",)),
            {
                (self.staff_id[s.sourced_id], self.school_id[school]): (district_id[s.district],)
                for s in roster.staff
                for school in sorted(s.schools)
            },
            scope=self._in_districts(STAFF_SCHOOLS),
            on_absent=school_link_absent,
        )
        await self.sync(
            "role_grants",
            TableSync(
                ROLE_GRANTS,
                ("staff_member_id", "role", "school_id"),
                ("district_id",),
                constants={
                    "account_id": None,
                    "source": RoleGrantSource.SIS_SYNC,
                    "created_at": now,
                },
            ),
            {
                (
                    self.staff_id[s.sourced_id],
                    role.value,
                    None if school is None else self.school_id[school],
                ): (district_id[s.district],)
                for s in roster.staff
                for role, school in sorted(s.roles, key=_role_order)
            },
            scope=sa.and_(
                self._in_districts(ROLE_GRANTS),
                ROLE_GRANTS.c.source == RoleGrantSource.SIS_SYNC,
                ROLE_GRANTS.c.staff_member_id.is_not(None),
            ),
            on_absent=grant_absent,
        )

    async def students(self) -> None:
        roster, district_id, now = self.roster, self.district_id, self.now
        keep = roster.keep_users
        keep_birth_dates = roster.keep_birth_dates

        def settle(stored: Values | None, wanted: Values, key: Key = ((), "")) -> Values:
            status = wanted[6]
            birth_date = wanted[5]
            if stored is not None and key[1] in keep_birth_dates:
                birth_date = stored[5]
            if stored is None:
                changed_at = None if status == EnrolmentStatus.ENROLLED else now
            elif stored[6] == EnrolmentStatus.GRADUATED and status == EnrolmentStatus.WITHDRAWN:
                # Leaving the SIS after graduating is not a withdrawal.
                status, changed_at = EnrolmentStatus.GRADUATED, stored[7]
            elif stored[6] == status:
                changed_at = stored[7]
            else:
                changed_at = now
            return (*wanted[:5], birth_date, status, changed_at)

        ids = await self.sync(
            "students",
            TableSync(
                STUDENTS,
                ("district_id", "sourced_id"),
                (
                    "school_id",
                    "year_group_id",
                    "given_name",
                    "family_name",
                    "email",
                    "date_of_birth",
                    "status",
                    "status_changed_at",
                ),
            ),
            {
                (district_id[s.district], s.sourced_id): (
                    self.school_id[s.school],
                    None if s.grade is None else self.year_group_id[(s.school, s.grade)],
                    s.given_name,
                    s.family_name,
                    s.email,
                    s.birth_date,
                    EnrolmentStatus.ENROLLED if s.active else EnrolmentStatus.WITHDRAWN,
                    None,
                )
                for s in roster.students
            },
            scope=self._in_districts(STUDENTS),
            settle=settle,
            on_absent=lambda key, row: (
                Absent.KEEP
                if key[1] in keep
                else settle(row, (*row[:6], EnrolmentStatus.WITHDRAWN, None))
            ),
            is_active=lambda row: row[6] == EnrolmentStatus.ENROLLED,
        )
        self.student_id = self._by_sourced_id(ids, roster.students)
        self.student_keys = dict(ids)
        self.student_sid = {row_id: key[1] for key, row_id in ids.items()}

    async def guardians_and_contacts(self) -> None:
        roster, district_id = self.roster, self.district_id
        keep = roster.keep_users
        ids = await self.sync(
            "guardians",
            TableSync(
                GUARDIANS,
                ("district_id", "sourced_id"),
                ("given_name", "family_name", "email", "phone", "active"),
            ),
            {
                (district_id[g.district], g.sourced_id): (
                    g.given_name,
                    g.family_name,
                    g.email,
                    g.phone,
                    g.active,
                )
                for g in roster.guardians
            },
            scope=self._in_districts(GUARDIANS),
            on_absent=lambda key, row: Absent.KEEP if key[1] in keep else (*row[:4], False),
            is_active=lambda row: bool(row[4]),
        )
        self.guardian_sid = {row_id: key[1] for key, row_id in ids.items()}
        district_sid = {row_id: sid for sid, row_id in district_id.items()}
        self.guardian_id = {
            (district_sid[key[0]], key[1]): row_id
            for key, row_id in ids.items()
            if key[0] in district_sid
        }
        district_of_student = {s.sourced_id: s.district for s in roster.students}
        for district, sourced_id in self.student_keys:
            district_of_student.setdefault(sourced_id, district_sid[district])
        listed_students = {self.student_id[s.sourced_id] for s in roster.students}
        listed_guardians = {self.guardian_id[(g.district, g.sourced_id)] for g in roster.guardians}
        keep_contacts = roster.keep_contacts

        def on_absent(key: Key, _: Values) -> Absent:
            # A link the SIS dropped between two people it still lists is
            # gone; links of people it no longer lists stay on record, and
            # so do links a skipped row named.
            if key[0] not in listed_students or key[1] not in listed_guardians:
                return Absent.KEEP
            pair = (self.student_sid[key[0]], self.guardian_sid[key[1]])
            return Absent.KEEP if pair in keep_contacts else Absent.REMOVE

        await self.sync(
            "contacts",
            TableSync(
                CONTACTS,
                ("student_id", "guardian_id"),
                ("district_id", "contact_type", "portal_eligible", "restricted"),
            ),
            {
                (
                    self.student_id[student],
                    self.guardian_id[(district_of_student[student], guardian)],
                ): (
                    district_id[district_of_student[student]],
                    contact.contact_type,
                    contact.portal_eligible,
                    contact.restricted,
                )
                for (student, guardian), contact in roster.contacts.items()
            },
            scope=self._in_districts(CONTACTS),
            on_absent=on_absent,
        )

    async def section_links(self) -> None:
        roster = self.roster
        district_of_section = dict(self.section_district)
        district_of_section.update(
            {s.sourced_id: self.district_id[s.district] for s in roster.sections}
        )
        keep = roster.keep_enrolments
        keep_users, keep_sections = roster.keep_users, roster.keep_sections

        def kept(section_id: int, user: str | None) -> bool:
            section = self.section_sid.get(section_id)
            if section is None or user is None:
                return True  # outside what this file set lists
            return section in keep_sections or user in keep_users or (section, user) in keep

        def teacher_absent(key: Key, _: Values) -> Absent:
            if roster.delta:
                pair = (self.section_sid.get(key[0]), self.staff_sid.get(key[1]))
                return Absent.REMOVE if pair in roster.ended_section_teachers else Absent.KEEP
            return Absent.KEEP if kept(key[0], self.staff_sid.get(key[1])) else Absent.REMOVE

        await self.sync(
            "section_teachers",
            TableSync(
                SECTION_TEACHERS, ("section_id", "staff_member_id"), ("district_id", "sourced_id")
            ),
            {
                (self.section_id[section], self.staff_id[staff]): (
                    district_of_section[section],
                    sourced_id,
                )
                for (section, staff), sourced_id in roster.section_teachers.items()
            },
            scope=self._in_districts(SECTION_TEACHERS),
            on_absent=teacher_absent,
        )
        await self.sync(
            "enrolments",
            TableSync(
                ENROLMENTS, ("section_id", "student_id"), ("district_id", "sourced_id", "active")
            ),
            {
                (self.section_id[section], self.student_id[student]): (
                    district_of_section[section],
                    enrolment.sourced_id,
                    enrolment.active,
                )
                for (section, student), enrolment in roster.enrolments.items()
            },
            scope=self._in_districts(ENROLMENTS),
            on_absent=lambda key, row: (
                Absent.KEEP if kept(key[0], self.student_sid.get(key[1])) else (*row[:2], False)
            ),
            is_active=lambda row: bool(row[2]),
        )


def _role_order(role_at: tuple[Role, str | None]) -> tuple[str, str]:
    role, school = role_at
    return role.value, school or ""


def _described(changes: Changes) -> str:
    if not changes.total:
        return "no changes"
    parts = [
        f"{count:,} {label}"
        for count, label in (
            (changes.added, "added"),
            (changes.changed, "changed"),
            (changes.deactivated, "deactivated"),
            (changes.removed, "removed"),
        )
        if count
    ]
    return ", ".join(parts)


async def load_existing(connection: AsyncConnection) -> Existing:
    """What earlier syncs stored, by sourcedId, for reading a delta export.

    One query per table: the delta's references are checked against it
    without a statement per row.
    """

    async def rows(query: sa.Select[Any]) -> list[Any]:
        return list(await connection.execute(query))

    district = DISTRICTS.c.sourced_id.label("district")
    schools = await rows(
        sa.select(SCHOOLS.c.sourced_id, district).join(
            DISTRICTS, DISTRICTS.c.id == SCHOOLS.c.district_id
        )
    )
    sessions: dict[str, set[str]] = {}
    for row in await rows(
        sa.select(ACADEMIC_SESSIONS.c.sourced_id, district).join(
            DISTRICTS, DISTRICTS.c.id == ACADEMIC_SESSIONS.c.district_id
        )
    ):
        sessions.setdefault(row.sourced_id, set()).add(row.district)
    school = SCHOOLS.c.sourced_id.label("school")
    sections = await rows(
        sa.select(SECTIONS.c.sourced_id, district, school)
        .join(DISTRICTS, DISTRICTS.c.id == SECTIONS.c.district_id)
        .join(SCHOOLS, SCHOOLS.c.id == SECTIONS.c.school_id)
    )
    staff = await rows(
        sa.select(STAFF.c.sourced_id, district).join(
            DISTRICTS, DISTRICTS.c.id == STAFF.c.district_id
        )
    )
    students = await rows(
        sa.select(STUDENTS.c.sourced_id, district, school)
        .join(DISTRICTS, DISTRICTS.c.id == STUDENTS.c.district_id)
        .join(SCHOOLS, SCHOOLS.c.id == STUDENTS.c.school_id)
    )
    guardians: dict[str, set[str]] = {}
    for row in await rows(
        sa.select(GUARDIANS.c.sourced_id, district).join(
            DISTRICTS, DISTRICTS.c.id == GUARDIANS.c.district_id
        )
    ):
        guardians.setdefault(row.sourced_id, set()).add(row.district)
    districts = await rows(sa.select(DISTRICTS.c.sourced_id))
    return Existing(
        schools={row.sourced_id: row.district for row in schools},
        districts=frozenset(row.sourced_id for row in districts),
        sessions={sid: frozenset(found) for sid, found in sessions.items()},
        sections={row.sourced_id: (row.district, row.school) for row in sections},
        staff={row.sourced_id: row.district for row in staff},
        students={row.sourced_id: (row.district, row.school) for row in students},
        guardians={sid: frozenset(found) for sid, found in guardians.items()},
    )
