"""The capability table and the scope predicates, with no database."""

from __future__ import annotations

import pytest

from permissions.capabilities import CAPABILITIES, REACH, SCHOOL_WIDE_ROLES, Capability, Reach
from permissions.roles import AccountKind, Relation, Role, StudentSection
from permissions.scope import RoleAt, Scope, StudentRef
from permissions.viewer import Viewer

C = Capability
SCHOOL_A, SCHOOL_B, DISTRICT = 10, 20, 1
S_A, S_B = 100, 200


def caps(scope: Scope, student: int = S_A, school: int = SCHOOL_A) -> frozenset[Capability]:
    return scope.student_capabilities(student_id=student, school_id=school, district_id=DISTRICT)


# docs/architecture.md section 2, row by row: (capability, relations that hold it)
TABLE = {
    C.DIRECTORY: set(Relation),
    C.CONTACT_DETAILS: {
        Relation.DISTRICT_ADMIN,
        Relation.SCHOOL_ADMIN,
        Relation.ENROLMENT_MANAGER,
        Relation.GUARDIAN,
        Relation.STUDENT_SELF,
    },
    C.PORTAL_VIEW: {
        Relation.DISTRICT_ADMIN,
        Relation.SCHOOL_ADMIN,
        Relation.ENROLMENT_MANAGER,
        Relation.TEACHER,
        Relation.SECURITY_CONTACT,
    },
    C.REVOKE_GRANT: {
        Relation.DISTRICT_ADMIN,
        Relation.SCHOOL_ADMIN,
        Relation.ENROLMENT_MANAGER,
        Relation.TEACHER,
    },
    C.MANAGE_ACCESS_CODES: {
        Relation.DISTRICT_ADMIN,
        Relation.SCHOOL_ADMIN,
        Relation.ENROLMENT_MANAGER,
    },
    C.ACCOUNT_LIFECYCLE: {Relation.DISTRICT_ADMIN, Relation.SCHOOL_ADMIN},
    C.TERMINATE_SESSIONS: {Relation.SECURITY_CONTACT},
    C.STUDENT_LOGIN_SETTINGS: {Relation.DISTRICT_ADMIN, Relation.SCHOOL_ADMIN},
    C.HOMEWORK: {
        Relation.DISTRICT_ADMIN,
        Relation.SCHOOL_ADMIN,
        Relation.ENROLMENT_MANAGER,
        Relation.TEACHER,
        Relation.SUPPORT_STAFF,
        Relation.GUARDIAN,
    },
    C.TIMETABLE: {
        Relation.DISTRICT_ADMIN,
        Relation.SCHOOL_ADMIN,
        Relation.ENROLMENT_MANAGER,
        Relation.TEACHER,
        Relation.SUPPORT_STAFF,
        Relation.GUARDIAN,
    },
    C.ACCESS_REVIEW: {Relation.DISTRICT_ADMIN, Relation.SCHOOL_ADMIN, Relation.GUARDIAN},
    C.FORMS: {Relation.DISTRICT_ADMIN, Relation.SCHOOL_ADMIN, Relation.GUARDIAN},
    C.STAFF_DIRECTORY: {
        Relation.DISTRICT_ADMIN,
        Relation.SCHOOL_ADMIN,
        Relation.ENROLMENT_MANAGER,
        Relation.TEACHER,
        Relation.SUPPORT_STAFF,
        Relation.SECURITY_CONTACT,
    },
    C.CROSS_SCHOOL_LINKS: {Relation.DISTRICT_ADMIN},
    C.SIS_IDS: {Relation.DISTRICT_ADMIN, Relation.SCHOOL_ADMIN},
}


@pytest.mark.parametrize("capability", sorted(TABLE, key=lambda c: c.value))
def test_the_capability_table_matches_the_design_row_by_row(capability: Capability) -> None:
    holders = {relation for relation, held in CAPABILITIES.items() if capability in held}
    assert holders == TABLE[capability]


def test_a_school_role_reaches_every_student_of_that_school_only() -> None:
    scope = Scope(roles=(RoleAt(Role.SCHOOL_ADMIN, DISTRICT, SCHOOL_A),))
    assert C.CONTACT_DETAILS in caps(scope)
    assert caps(scope, S_B, SCHOOL_B) == frozenset()


def test_a_teacher_reaches_only_the_students_of_their_sections() -> None:
    scope = Scope(
        roles=(RoleAt(Role.TEACHER, DISTRICT, SCHOOL_A),), teacher_student_ids=frozenset({S_A})
    )
    assert caps(scope) == CAPABILITIES[Relation.TEACHER]
    assert caps(scope, student=S_A + 1) == frozenset()


def test_a_teacher_role_at_another_school_does_not_reach_a_taught_student() -> None:
    scope = Scope(
        roles=(RoleAt(Role.TEACHER, DISTRICT, SCHOOL_B),), teacher_student_ids=frozenset({S_A})
    )
    assert caps(scope) == frozenset()


def test_a_district_admin_reaches_every_school_of_the_district() -> None:
    scope = Scope(roles=(RoleAt(Role.DISTRICT_ADMIN, DISTRICT),))
    assert caps(scope, S_B, SCHOOL_B) == CAPABILITIES[Relation.DISTRICT_ADMIN]
    assert (
        scope.student_capabilities(student_id=1, school_id=1, district_id=DISTRICT + 1)
        == frozenset()
    )


def test_a_guardian_reaches_granted_students_with_guardian_capabilities() -> None:
    scope = Scope(granted_students=(StudentRef(S_A, SCHOOL_A, DISTRICT),))
    assert caps(scope) == CAPABILITIES[Relation.GUARDIAN]
    assert caps(scope, S_B, SCHOOL_B) == frozenset()


def test_a_student_sees_only_the_sections_their_school_made_visible() -> None:
    scope = Scope(
        self_student=StudentRef(S_A, SCHOOL_A, DISTRICT),
        self_visible_sections=frozenset({StudentSection.HOMEWORK}),
    )
    assert caps(scope) == {C.DIRECTORY, C.CONTACT_DETAILS, C.HOMEWORK}


def test_several_relations_to_one_student_hold_the_union() -> None:
    scope = Scope(
        roles=(RoleAt(Role.SUPPORT_STAFF, DISTRICT, SCHOOL_A),),
        granted_students=(StudentRef(S_A, SCHOOL_A, DISTRICT),),
    )
    assert caps(scope) == CAPABILITIES[Relation.SUPPORT_STAFF] | CAPABILITIES[Relation.GUARDIAN]


def test_recording_needs_teacher_of_the_section_or_an_admin() -> None:
    teacher = Scope(
        roles=(RoleAt(Role.TEACHER, DISTRICT, SCHOOL_A),), teacher_section_ids=frozenset({7})
    )
    assert teacher.may_record_for_section(section_id=7, school_id=SCHOOL_A, district_id=DISTRICT)
    assert not teacher.may_record_for_section(
        section_id=8, school_id=SCHOOL_A, district_id=DISTRICT
    )
    support = Scope(roles=(RoleAt(Role.SUPPORT_STAFF, DISTRICT, SCHOOL_A),))
    assert not support.may_record_for_section(
        section_id=7, school_id=SCHOOL_A, district_id=DISTRICT
    )
    admin = Scope(roles=(RoleAt(Role.SCHOOL_ADMIN, DISTRICT, SCHOOL_A),))
    assert admin.may_record_for_section(section_id=8, school_id=SCHOOL_A, district_id=DISTRICT)


def test_only_a_staff_account_linked_to_an_active_record_can_record_data() -> None:
    assert Viewer(
        account_id=1, kind=AccountKind.STAFF, staff_member_id=5, staff_member_active=True
    ).can_record_data
    assert not Viewer(
        account_id=1, kind=AccountKind.STAFF, staff_member_id=5, staff_member_active=False
    ).can_record_data
    assert not Viewer(account_id=1, kind=AccountKind.STAFF).can_record_data
    assert not Viewer(
        account_id=1, kind=AccountKind.GUARDIAN, staff_member_id=5, staff_member_active=True
    ).can_record_data


def test_the_reach_table_names_every_relation_and_teaching_is_the_one_staff_reach_by_section() -> (
    None
):

    assert set(REACH) == set(Relation)
    assert frozenset(Role) - {Role.TEACHER} == SCHOOL_WIDE_ROLES
    assert REACH[Relation.GUARDIAN] is Reach.LIVE_GRANT
    assert REACH[Relation.STUDENT_SELF] is Reach.SELF
