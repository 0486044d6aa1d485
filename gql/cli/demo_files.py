"""The demo file set: a generated OneRoster 1.2 export of two districts.

Deterministic: a seeded generator and fixed dates, so the same number of
students gives the same bytes and the well-known people of ``gql.demo``
always exist. Riverside Unified has the number of students asked for,
schools that scale with it, and every special case the product handles:
siblings at different schools, a withdrawn student, a deactivated staff
member, a restricted contact. Lakeside County Schools is a second, small
district, so that cross-district denial can be shown.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from permissions.roles import Role
from resolvers.oneroster.importer import StaffRole

SEED = 20250901
MODIFIED = "2025-09-01T00:00:00.000Z"
SCHOOL_YEAR = 2025
STUDENTS_PER_SECTION = 28
SECTIONS_PER_TEACHER = 5
MAX_SCHOOLS = 200
LAKESIDE_STUDENTS = 24


def _words(text: str) -> tuple[str, ...]:
    """Long lists of short names, written as text to be read at a glance."""
    return tuple(text.split())


# The OneRoster 1.2 columns of each file, with the metadata.* extensions of docs/architecture.md section 4.
COLUMNS = {
    "orgs.csv": _words(
        "sourcedId status dateLastModified name type identifier parentSourcedId "
        "metadata.emailDomains metadata.yearGroupNames"
    ),
    "academicSessions.csv": _words(
        "sourcedId status dateLastModified title type startDate endDate parentSourcedId schoolYear"
    ),
    "classes.csv": _words(
        "sourcedId status dateLastModified title grades courseSourcedId classCode "
        "classType location schoolSourcedId termSourcedIds subjects subjectCodes periods"
    ),
    "users.csv": _words(
        "sourcedId status dateLastModified enabledUser username userIds givenName "
        "familyName middleName identifier email sms phone agentSourcedIds grades password "
        "metadata.contactType metadata.portalEligible "
        "metadata.restrictedStudentSourcedIds"
    ),
    "roles.csv": _words(
        "sourcedId status dateLastModified userSourcedId roleType role beginDate endDate "
        "orgSourcedId userProfileSourcedId"
    ),
    "enrollments.csv": _words(
        "sourcedId status dateLastModified classSourcedId schoolSourcedId userSourcedId "
        "role primary beginDate endDate"
    ),
    "demographics.csv": _words("sourcedId status dateLastModified birthDate sex"),
    "manifest.csv": _words("propertyName value"),
}

# Names of generated people and schools.
_GIVEN_NAMES_TEXT = """
Aaliyah Adam Aisha Alex Amara Amelia Aria Ava Ben Caleb Chloe Daniel Eden Eli Ella Emil
Erin Ethan Eva Finn Freya Gabriel Grace Hana Harper Isaac Isla Jack Jade Jonah Kai Layla
Leo Lily Luca Maya Mia Milo Nia Noah Nora Omar Oscar Priya Quinn Rafael Rosa Ruby Sami
Sara Theo Uma Victor Willow Yara Yusuf Zara Zoe
"""
GIVEN_NAMES = _words(_GIVEN_NAMES_TEXT)
_FAMILY_NAMES_TEXT = """
Abbott Ahmed Baker Bennett Brooks Campbell Chen Clarke Cohen Costa Davies Diaz Evans
Fischer Fraser Garcia Green Gupta Hall Hughes Ito Jensen Jones Kaur Khan Kim Lee Lewis
Lopez Martin Mensah Moreau Murphy Nakamura Nguyen Novak Okafor Patel Price Reyes Rossi
Santos Schmidt Shah Silva Singh Smith Sullivan Taylor Walker Wang Wright Young Zhang
"""
FAMILY_NAMES = _words(_FAMILY_NAMES_TEXT)
_PLACES_TEXT = """
Northfield Southbank Eastgate Westmoor Oakwood Ashford Brookside Cedar Elmhurst Fairview
Glenwood Hillcrest Kingsley Lakeview Maplewood Millbrook Newport Orchard Parkside
Queensway Redhill Riverside Rosewood Springfield Stonebridge Sunnyside Thornbury Valley
Willowbrook Woodland
"""
PLACES = _words(_PLACES_TEXT)
SECONDARY_GRADES = tuple((f"{g:02d}", f"Year {g}") for g in range(7, 12))
PRIMARY_GRADES = tuple((f"{g:02d}", f"Year {g}") for g in range(1, 7))
TERMS = (
    ("term-autumn-2025", "Autumn 2025", "2025-09-01", "2025-12-19"),
    ("term-spring-2026", "Spring 2026", "2026-01-05", "2026-03-27"),
    ("term-summer-2026", "Summer 2026", "2026-04-13", "2026-07-17"),
)
SUBJECTS = ("Tutor group", "Mathematics", "English")


@dataclass(frozen=True)
class DemoFiles:
    """What the generator wrote, beyond the files."""

    students: int
    # Roles OneRoster cannot express, granted after the import (MANUAL).
    manual_roles: tuple[StaffRole, ...]


@dataclass(frozen=True)
class _School:
    sourced_id: str
    domain: str
    grades: tuple[tuple[str, str], ...]


@dataclass
class _Student:
    sourced_id: str
    school: _School
    grade: str
    given_name: str
    family_name: str
    email: str = ""
    active: bool = True


class _Writer:
    """The open CSV files of one file set, written row by row."""

    def __init__(self, directory: Path) -> None:
        self._handles = {
            name: (directory / name).open("w", newline="", encoding="utf-8") for name in COLUMNS
        }
        self._writers = {name: csv.writer(handle) for name, handle in self._handles.items()}
        for name, columns in COLUMNS.items():
            self._writers[name].writerow(columns)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        for handle in self._handles.values():
            handle.close()

    def row(self, file: str, values: dict[str, str]) -> None:
        self._writers[file].writerow([values.get(column, "") for column in COLUMNS[file]])

    def user(self, sourced_id: str, role: str, orgs: Sequence[str], **values: str) -> None:
        self.row(
            "users.csv",
            {
                "sourcedId": sourced_id,
                "dateLastModified": MODIFIED,
                "enabledUser": "true",
                "username": values.get("email") or sourced_id,
                **values,
            },
        )
        for index, org in enumerate(orgs):
            self.row(
                "roles.csv",
                {
                    "sourcedId": f"{sourced_id}-role-{index + 1}",
                    "dateLastModified": MODIFIED,
                    "userSourcedId": sourced_id,
                    "roleType": "primary" if index == 0 else "secondary",
                    "role": role,
                    "orgSourcedId": org,
                },
            )


class _District:
    """One generated district: its schools, staff, families and classes."""

    def __init__(
        self,
        rng: random.Random,
        out: _Writer,
        *,
        sourced_id: str,
        prefix: str,
        name: str,
        domain: str,
    ) -> None:
        self.rng = rng
        self.out = out
        self.sourced_id = sourced_id
        # Starts every person's sourcedId: unique across the file set.
        self.prefix = prefix
        self.domain = domain
        self.schools: list[_School] = []
        self.students: list[_Student] = []
        self.guardians = 0
        self.manual_roles: list[StaffRole] = []
        out.row(
            "orgs.csv",
            {
                "sourcedId": sourced_id,
                "dateLastModified": MODIFIED,
                "name": name,
                "type": "district",
                "metadata.emailDomains": domain,
            },
        )

    def school(self, slug: str, name: str, grades: tuple[tuple[str, str], ...]) -> _School:
        school = _School(slug, f"{slug}.{self.domain}", grades)
        self.schools.append(school)
        self.out.row(
            "orgs.csv",
            {
                "sourcedId": school.sourced_id,
                "dateLastModified": MODIFIED,
                "name": name,
                "type": "school",
                "parentSourcedId": self.sourced_id,
                "metadata.yearGroupNames": " ".join(f"{code}={n}" for code, n in grades),
            },
        )
        return school

    def staff_member(
        self, local: str, role: str, orgs: Sequence[str], email: str, **values: str
    ) -> str:
        sourced_id = f"{self.prefix}-staff-{local}"
        given, family = self.rng.choice(GIVEN_NAMES), self.rng.choice(FAMILY_NAMES)
        values = {"givenName": given, "familyName": family, **values}
        self.out.user(sourced_id, role, orgs, email=email, **values)
        return sourced_id

    def school_staff(self, school: _School) -> None:
        domain, slug = school.domain, school.sourced_id
        self.staff_member(f"{slug}-head", "siteAdministrator", [slug], f"head@{domain}")
        self.staff_member(f"{slug}-support", "aide", [slug], f"support@{domain}")
        self.staff_member(f"{slug}-counselor", "counselor", [slug], f"counselor@{domain}")
        # OneRoster has no enrolment manager or security contact: their SIS
        # role grants nothing here, and the demo grants the role itself.
        for local, role in (
            ("enrolments", Role.ENROLMENT_MANAGER),
            ("security", Role.SECURITY_CONTACT),
        ):
            staff = self.staff_member(
                f"{slug}-{local}", "systemAdministrator", [slug], f"{local}@{domain}"
            )
            self.manual_roles.append(StaffRole(self.sourced_id, staff, role, slug))

    def student(
        self, school: _School, family_name: str, *, given_name: str = "", grade: str = ""
    ) -> _Student:
        number = len(self.students) + 1
        student = _Student(
            sourced_id=f"{self.prefix}-student-{number:07d}",
            school=school,
            grade=grade or self.rng.choice(school.grades)[0],
            given_name=given_name or self.rng.choice(GIVEN_NAMES),
            family_name=family_name,
        )
        # Secondary students have a school email: student logins need one.
        if int(student.grade) >= 7:
            local = f"{student.given_name}.{student.family_name}.{number}".lower()
            student.email = f"{local}@{school.domain}"
        self.students.append(student)
        return student

    def guardian(
        self,
        children: Sequence[_Student],
        contact_type: str,
        *,
        family_name: str,
        given_name: str = "",
        email: str = "",
        portal_eligible: bool = True,
        restricted_from: Sequence[_Student] = (),
    ) -> None:
        self.guardians += 1
        sourced_id = f"{self.prefix}-contact-{self.guardians:07d}"
        given = given_name or self.rng.choice(GIVEN_NAMES)
        local = f"{given}.{family_name}.{self.guardians}".lower()
        schools = list(dict.fromkeys(child.school.sourced_id for child in children))
        self.out.user(
            sourced_id,
            "guardian" if contact_type == "Caseworker" else "parent",
            schools,
            givenName=given,
            familyName=family_name,
            email=email or f"{local}@example.com",
            phone=f"555-{self.guardians % 10000:04d}",
            agentSourcedIds=",".join(child.sourced_id for child in children),
            **{
                "metadata.contactType": contact_type,
                "metadata.portalEligible": "true" if portal_eligible else "false",
                "metadata.restrictedStudentSourcedIds": " ".join(
                    child.sourced_id for child in restricted_from
                ),
            },
        )

    def random_families(self, students: int) -> None:
        """Families of one to three children and one or two guardians."""
        rng = self.rng
        while len(self.students) < students:
            family = rng.choice(FAMILY_NAMES)
            size = min(rng.choice((1, 1, 1, 2, 2, 3)), students - len(self.students))
            home = rng.choice(self.schools)
            children = [
                # One sibling in five goes to another school of the district.
                self.student(home if rng.random() < 0.8 else rng.choice(self.schools), family)
                for _ in range(size)
            ]
            first = rng.choice(("Mother", "Mother", "Father"))
            self.guardian(children, first, family_name=family, portal_eligible=rng.random() < 0.95)
            if rng.random() < 0.7:
                second = rng.choice(("Father", "Mother", "Stepmother", "Stepfather", "Grandmother"))
                self.guardian(
                    children,
                    second,
                    family_name=rng.choice((family, family, rng.choice(FAMILY_NAMES))),
                )
            if rng.random() < 0.01:
                self.guardian(
                    children,
                    rng.choice(("Uncle", "Aunt", "Caseworker")),
                    family_name=rng.choice(FAMILY_NAMES),
                    portal_eligible=False,
                )

    def write_people_and_classes(self) -> None:
        """Students, sections of each year group, their teachers, enrolments."""
        for student in self.students:
            self.out.user(
                student.sourced_id,
                "student",
                [student.school.sourced_id],
                status="" if student.active else "tobedeleted",
                givenName=student.given_name,
                familyName=student.family_name,
                email=student.email,
                grades=student.grade,
            )
            year = SCHOOL_YEAR - int(student.grade) - 5
            birth = dt.date(year, 9, 1) + dt.timedelta(days=self.rng.randrange(365))
            self.out.row(
                "demographics.csv",
                {
                    "sourcedId": student.sourced_id,
                    "dateLastModified": MODIFIED,
                    "birthDate": birth.isoformat(),
                },
            )
        by_year: dict[tuple[str, str], list[_Student]] = {}
        for student in self.students:
            by_year.setdefault((student.school.sourced_id, student.grade), []).append(student)
        for school in self.schools:
            self._classes(school, by_year)

    def _classes(self, school: _School, by_year: dict[tuple[str, str], list[_Student]]) -> None:
        slug = school.sourced_id
        sections: list[tuple[str, list[_Student]]] = []
        for code, year_name in school.grades:
            year = by_year.get((school.sourced_id, code), [])
            for index in range(math.ceil(len(year) / STUDENTS_PER_SECTION)):
                members = year[index * STUDENTS_PER_SECTION : (index + 1) * STUDENTS_PER_SECTION]
                letter = chr(ord("A") + index % 26) + ("" if index < 26 else str(index // 26))
                for subject in SUBJECTS:
                    sourced_id = f"{school.sourced_id}-{code}{letter}-{subject.split()[0].lower()}"
                    self.out.row(
                        "classes.csv",
                        {
                            "sourcedId": sourced_id,
                            "dateLastModified": MODIFIED,
                            "title": f"{year_name} {letter} {subject}",
                            "grades": code,
                            "classCode": f"{code}{letter}-{subject[:3].upper()}",
                            "classType": "homeroom" if subject == SUBJECTS[0] else "scheduled",
                            "schoolSourcedId": school.sourced_id,
                            "termSourcedIds": TERMS[0][0],
                            "subjects": subject,
                        },
                    )
                    sections.append((sourced_id, members))
        teachers = max(1, math.ceil(len(sections) / SECTIONS_PER_TEACHER))
        teacher_ids = [
            self.staff_member(
                f"{slug}-teacher-{number + 1}",
                "teacher",
                [school.sourced_id],
                f"teacher@{school.domain}"
                if number == 0
                else f"teacher{number + 1}@{school.domain}",
            )
            for number in range(teachers)
        ]
        for index, (section, members) in enumerate(sections):
            self._enrol(school, section, teacher_ids[index // SECTIONS_PER_TEACHER], "teacher")
            for student in members:
                self._enrol(school, section, student.sourced_id, "student")

    def _enrol(self, school: _School, section: str, user: str, role: str) -> None:
        self.out.row(
            "enrollments.csv",
            {
                "sourcedId": f"{section}:{user}",
                "dateLastModified": MODIFIED,
                "classSourcedId": section,
                "schoolSourcedId": school.sourced_id,
                "userSourcedId": user,
                "role": role,
                "primary": "true" if role == "teacher" else "false",
            },
        )

    def special_cases(self) -> None:
        """The people the README and the tests rely on (Riverside only)."""
        north, south = self.schools[0], self.schools[1]
        # A guardian with children at two schools: the revoke view's example.
        alex = self.student(north, "Parker", given_name="Alex", grade="09")
        alex.email = f"student@{north.domain}"
        bailey = self.student(south, "Parker", given_name="Bailey", grade="07")
        self.guardian(
            [alex, bailey],
            "Mother",
            family_name="Parker",
            given_name="Pat",
            email="parent@example.com",
        )
        self.guardian([alex, bailey], "Father", family_name="Parker", given_name="Chris")
        # A contact under a custody restriction for the child they are listed with.
        riley = self.student(north, "Morgan", given_name="Riley", grade="10")
        self.guardian([riley], "Mother", family_name="Morgan", given_name="Jordan")
        self.guardian(
            [riley],
            "Father",
            family_name="Morgan",
            given_name="Casey",
            email="restricted@example.com",
            restricted_from=[riley],
        )
        # A student the SIS is withdrawing, and a staff member it deactivated.
        drew = self.student(north, "Ellis", given_name="Drew", grade="11")
        drew.active = False
        self.guardian([drew], "Mother", family_name="Ellis")
        self.staff_member(
            f"{north.sourced_id}-former-teacher",
            "teacher",
            [north.sourced_id],
            f"former.teacher@{north.domain}",
            enabledUser="false",
        )


def _school(index: int) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """The index-th school of Riverside: its slug, name and year groups."""
    if index == 0:
        return "northfield", "Northfield High School", SECONDARY_GRADES
    if index == 1:
        return "southbank", "Southbank Academy", SECONDARY_GRADES
    place, round_ = PLACES[index % len(PLACES)], index // len(PLACES)
    slug = place.lower() + (f"-{round_ + 1}" if round_ else "")
    name = place + (f" {round_ + 1}" if round_ else "")
    if index % 3 == 2:
        return slug, f"{name} Primary School", PRIMARY_GRADES
    return slug, f"{name} High School", SECONDARY_GRADES


def _calendar(out: _Writer) -> None:
    out.row(
        "academicSessions.csv",
        {
            "sourcedId": f"schoolyear-{SCHOOL_YEAR}",
            "dateLastModified": MODIFIED,
            "title": f"{SCHOOL_YEAR}-{SCHOOL_YEAR + 1}",
            "type": "schoolYear",
            "startDate": TERMS[0][2],
            "endDate": TERMS[-1][3],
            "schoolYear": str(SCHOOL_YEAR + 1),
        },
    )
    for sourced_id, title, start, end in TERMS:
        out.row(
            "academicSessions.csv",
            {
                "sourcedId": sourced_id,
                "dateLastModified": MODIFIED,
                "title": title,
                "type": "term",
                "startDate": start,
                "endDate": end,
                "parentSourcedId": f"schoolyear-{SCHOOL_YEAR}",
                "schoolYear": str(SCHOOL_YEAR + 1),
            },
        )


def _manifest(out: _Writer) -> None:
    for name, value in (
        ("manifest.version", "1.0"),
        ("oneroster.version", "1.2"),
        ("file.academicSessions", "bulk"),
        ("file.classes", "bulk"),
        ("file.demographics", "bulk"),
        ("file.enrollments", "bulk"),
        ("file.orgs", "bulk"),
        ("file.roles", "bulk"),
        ("file.users", "bulk"),
        ("file.courses", "absent"),
        ("source.systemName", "Access Graph demo generator"),
    ):
        out.row("manifest.csv", {"propertyName": name, "value": value})


def write_demo_files(directory: Path, *, students: int) -> DemoFiles:
    """Write the demo file set (OneRoster 1.2 CSV) into ``directory``."""
    if students < 4:
        raise ValueError("the demo district needs at least 4 students")
    # Demo data, not secrets: a seeded generator is the point (same input, same bytes).
    rng = random.Random(SEED)  # noqa: S311
    directory.mkdir(parents=True, exist_ok=True)
    with _Writer(directory) as out:
        _manifest(out)
        _calendar(out)
        riverside = _District(
            rng,
            out,
            sourced_id="district-1",
            prefix="riverside",
            name="Riverside Unified",
            domain="riverside.example.edu",
        )
        for index in range(min(max(3, students // 2000), MAX_SCHOOLS)):
            riverside.school(*_school(index))
        riverside.staff_member(
            "admin", "districtAdministrator", ["district-1"], "admin@riverside.example.edu"
        )
        for school in riverside.schools:
            riverside.school_staff(school)
        riverside.special_cases()
        riverside.random_families(students)
        riverside.write_people_and_classes()

        lakeside = _District(
            rng,
            out,
            sourced_id="district-2",
            prefix="lakeside",
            name="Lakeside County Schools",
            domain="lakeside.example.edu",
        )
        lakeside.school("lakeside-middle", "Lakeside Middle School", SECONDARY_GRADES)
        lakeside.staff_member(
            "admin", "districtAdministrator", ["district-2"], "admin@lakeside.example.edu"
        )
        lakeside.school_staff(lakeside.schools[0])
        lakeside.random_families(LAKESIDE_STUDENTS)
        lakeside.write_people_and_classes()
    return DemoFiles(
        students=len(riverside.students) + len(lakeside.students),
        manual_roles=(*riverside.manual_roles, *lakeside.manual_roles),
    )
