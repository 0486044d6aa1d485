"""A viewer's scope: what it may reach, computed once per request.

The scope holds ids, never rows. ``resolvers.scope`` turns it into SQL
(every list and lookup is filtered there); the predicates here answer the
field-level question "which capabilities does this viewer hold on this
student / at this school", from narrow values only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from permissions.capabilities import (
    CAPABILITIES,
    REACH,
    RECORD_DATA_RELATIONS,
    STUDENT_SECTION_CAPABILITIES,
    Capability,
    Reach,
)
from permissions.roles import Relation, Role, StudentSection

_EMPTY_ROLES: frozenset[Role] = frozenset()


@dataclass(frozen=True, slots=True)
class RoleAt:
    """A role held at one school, or (school_id None) across a district."""

    role: Role
    district_id: int
    school_id: int | None = None


@dataclass(frozen=True, slots=True)
class StudentRef:
    """Where a student sits: enough to decide capabilities without a row."""

    student_id: int
    school_id: int
    district_id: int


@dataclass(frozen=True, slots=True)
class Scope:
    roles: tuple[RoleAt, ...] = ()
    # Students in current enrolments of sections the linked staff member
    # teaches, at schools (or districts) where the viewer holds TEACHER.
    teacher_student_ids: frozenset[int] = frozenset()
    teacher_section_ids: frozenset[int] = frozenset()
    # Students with an active grant to the account (guardian or other).
    granted_students: tuple[StudentRef, ...] = ()
    # The viewer's own student record, only while logins are on for it.
    self_student: StudentRef | None = None
    self_visible_sections: frozenset[StudentSection] = frozenset()

    district_roles: Mapping[int, frozenset[Role]] = field(init=False)
    school_roles: Mapping[int, frozenset[Role]] = field(init=False)
    granted_student_ids: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        by_district: dict[int, set[Role]] = {}
        by_school: dict[int, set[Role]] = {}
        for grant in self.roles:
            if grant.school_id is None:
                by_district.setdefault(grant.district_id, set()).add(grant.role)
            else:
                by_school.setdefault(grant.school_id, set()).add(grant.role)
        object.__setattr__(
            self,
            "district_roles",
            MappingProxyType({k: frozenset(v) for k, v in by_district.items()}),
        )
        object.__setattr__(
            self, "school_roles", MappingProxyType({k: frozenset(v) for k, v in by_school.items()})
        )
        object.__setattr__(
            self, "granted_student_ids", frozenset(s.student_id for s in self.granted_students)
        )

    # ------------------------------------------------------------ sets for SQL

    def districts_where(self, roles: Iterable[Role]) -> frozenset[int]:
        wanted = frozenset(roles)
        return frozenset(d for d, held in self.district_roles.items() if held & wanted)

    def schools_where(self, roles: Iterable[Role]) -> frozenset[int]:
        wanted = frozenset(roles)
        return frozenset(s for s, held in self.school_roles.items() if held & wanted)

    @property
    def personal_student_ids(self) -> frozenset[int]:
        """Students reached one by one: taught, granted, or oneself."""
        ids = set(self.teacher_student_ids) | self.granted_student_ids
        if self.self_student is not None:
            ids.add(self.self_student.student_id)
        return frozenset(ids)

    @property
    def personal_school_ids(self) -> frozenset[int]:
        """Schools on the path to granted students and to oneself."""
        refs = list(self.granted_students)
        if self.self_student is not None:
            refs.append(self.self_student)
        return frozenset(r.school_id for r in refs)

    @property
    def personal_district_ids(self) -> frozenset[int]:
        refs = list(self.granted_students)
        if self.self_student is not None:
            refs.append(self.self_student)
        return frozenset(r.district_id for r in refs)

    @property
    def staff_school_ids(self) -> frozenset[int]:
        """Schools where the viewer holds any staff role."""
        return frozenset(self.school_roles)

    @property
    def staff_district_ids(self) -> frozenset[int]:
        """Districts where the viewer holds a district-wide role."""
        return frozenset(self.district_roles)

    @property
    def is_empty(self) -> bool:
        return not (self.roles or self.granted_students or self.self_student)

    # ------------------------------------------------------------ predicates

    def relations_to_student(
        self, *, student_id: int, school_id: int, district_id: int
    ) -> frozenset[Relation]:
        """Every way this viewer reaches the student (empty: out of scope),
        read from the reach table (``permissions.capabilities.REACH``)."""
        held = self.school_roles.get(school_id, _EMPTY_ROLES) | self.district_roles.get(
            district_id, _EMPTY_ROLES
        )
        held_relations = {Relation.of_role(r) for r in held}
        reached = {
            Reach.PLACE: True,
            Reach.TAUGHT_SECTIONS: student_id in self.teacher_student_ids,
            Reach.LIVE_GRANT: student_id in self.granted_student_ids,
            Reach.SELF: self.self_student is not None
            and self.self_student.student_id == student_id,
        }
        personal = {Reach.LIVE_GRANT, Reach.SELF}
        return frozenset(
            relation
            for relation, reach in REACH.items()
            if reached[reach] and (reach in personal or relation in held_relations)
        )

    def student_capabilities(
        self, *, student_id: int, school_id: int, district_id: int
    ) -> frozenset[Capability]:
        caps: set[Capability] = set()
        for relation in self.relations_to_student(
            student_id=student_id, school_id=school_id, district_id=district_id
        ):
            caps |= CAPABILITIES[relation]
            if relation is Relation.STUDENT_SELF:
                caps.update(STUDENT_SECTION_CAPABILITIES[s] for s in self.self_visible_sections)
        return frozenset(caps)

    def school_capabilities(self, *, school_id: int, district_id: int) -> frozenset[Capability]:
        """Capabilities at a school that do not concern one student (staff
        lists, login settings, forms): what the viewer's roles there grant."""
        held = self.school_roles.get(school_id, _EMPTY_ROLES) | self.district_roles.get(
            district_id, _EMPTY_ROLES
        )
        caps: set[Capability] = set()
        for role in held:
            caps |= CAPABILITIES[Relation.of_role(role)]
        return frozenset(caps)

    def district_capabilities(self, *, district_id: int) -> frozenset[Capability]:
        caps: set[Capability] = set()
        for role in self.district_roles.get(district_id, _EMPTY_ROLES):
            caps |= CAPABILITIES[Relation.of_role(role)]
        return frozenset(caps)

    def unlinked_staff_capabilities(self, *, district_id: int) -> frozenset[Capability]:
        """Capabilities on a staff account of the district not yet linked to
        a staff record: those of the viewer's roles in that district (at any
        of its schools) that manage accounts. Linking decides where it works."""
        caps: set[Capability] = set()
        for grant in self.roles:
            granted = CAPABILITIES[Relation.of_role(grant.role)]
            if grant.district_id == district_id and Capability.ACCOUNT_LIFECYCLE in granted:
                caps |= granted
        return frozenset(caps)

    def holds_anywhere(self, capability: Capability) -> bool:
        """Whether any relation the viewer has grants ``capability`` at all:
        the cheap first gate of a mutation, before its input is checked."""
        relations = {Relation.of_role(r.role) for r in self.roles}
        if self.granted_students:
            relations.add(Relation.GUARDIAN)
        if self.self_student is not None:
            relations.add(Relation.STUDENT_SELF)
            if capability in {STUDENT_SECTION_CAPABILITIES[s] for s in self.self_visible_sections}:
                return True
        return any(capability in CAPABILITIES[r] for r in relations)

    def may_record_for_section(self, *, section_id: int, school_id: int, district_id: int) -> bool:
        """TEACHER of that section, or an admin of its school or district."""
        held = self.school_roles.get(school_id, _EMPTY_ROLES) | self.district_roles.get(
            district_id, _EMPTY_ROLES
        )
        for role in held:
            relation = Relation.of_role(role)
            if relation not in RECORD_DATA_RELATIONS:
                continue
            if relation is not Relation.TEACHER or section_id in self.teacher_section_ids:
                return True
        return False


EMPTY_SCOPE = Scope()


def roles_holding(capability: Capability) -> frozenset[Role]:
    """The staff roles whose row of the capability table grants ``capability``."""
    return frozenset(r for r in Role if capability in CAPABILITIES[Relation.of_role(r)])


def self_holds(scope: Scope, capability: Capability) -> bool:
    """Whether a signed-in student holds ``capability`` on their own record
    (their school's visible sections included)."""
    if scope.self_student is None:
        return False
    if capability in CAPABILITIES[Relation.STUDENT_SELF]:
        return True
    return any(STUDENT_SECTION_CAPABILITIES[s] is capability for s in scope.self_visible_sections)


def managing_districts(scope: Scope) -> frozenset[int]:
    """Districts where the viewer holds a role that manages accounts
    (ACCOUNT_LIFECYCLE): whose unlinked staff accounts it reaches."""
    return frozenset(
        r.district_id
        for r in scope.roles
        if Capability.ACCOUNT_LIFECYCLE in CAPABILITIES[Relation.of_role(r.role)]
    )
