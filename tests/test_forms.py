"""``createForm``, ``assignForm`` and ``submitForm`` on SQLite and PostgreSQL,
each test in a fresh copy of the world (tests/world.py) with two forms of
Northfield (school A) added by ``forms``:

- trip: consent (CHOICE Yes/No, required), return date (DATE), notes (TEXT)
- details: guardian details (GUARDIAN_DETAILS, required), allergies (TEXT)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.migrations import alembic_config
from permissions.errors import NOT_LINKED_MESSAGE
from resolvers import tables
from resolvers.tables import (
    ACCESS_EVENTS,
    FORM_ANSWERS,
    FORM_ASSIGNMENTS,
    FORM_QUESTIONS,
    FORMS,
    SCHOOLS,
)
from tests.client import GraphQLRunner, Result, StatementCounter, gid
from tests.clock import NOW
from tests.snapshots import snapshot
from tests.world import World, build_world

pytestmark = pytest.mark.asyncio(loop_scope="session")


SUBMITTED_AT = "2026-11-03T09:00:00+00:00"  # tests.clock.NOW
# Long enough for a blocked statement to show that it is blocked.
RACE_SETTLE_SECONDS = 0.3


async def _insert(engine: AsyncEngine, table: Any, **values: Any) -> int:
    t = table.__table__
    async with engine.begin() as c:
        result = await c.execute(sa.insert(t).values(**values).returning(t.c.id))
        return int(result.scalar_one())


async def _rows(engine: AsyncEngine, query: sa.Select[Any]) -> list[tuple[Any, ...]]:
    async with engine.connect() as c:
        return [tuple(r) for r in (await c.execute(query)).all()]


async def _show_forms_to_students(engine: AsyncEngine, w: World, sections: str) -> None:
    async with engine.begin() as c:
        await c.execute(
            sa.update(SCHOOLS)
            .where(SCHOOLS.c.id == w["school_a"])
            .values(student_visible_sections=sections)
        )


@pytest.fixture
async def world(engine: AsyncEngine) -> World:
    w = await build_world(engine)
    Question = tuple[str, str, str, bool, str | None]
    forms: list[tuple[str, list[Question]]] = [
        (
            "trip",
            [
                ("q_consent", "May your child go on the trip?", "CHOICE", True, "Yes\nNo"),
                ("q_date", "Return date", "DATE", False, None),
                ("q_notes", "Anything we should know?", "TEXT", False, None),
            ],
        ),
        (
            "details",
            [
                ("q_guardian", "Your details", "GUARDIAN_DETAILS", True, None),
                ("q_allergies", "Allergies", "TEXT", False, None),
            ],
        ),
    ]
    for form, questions in forms:
        w.ids[form] = await _insert(
            engine,
            tables.Form,
            district_id=w["north"],
            school_id=w["school_a"],
            title=form.capitalize(),
            created_at=NOW,
        )
        for position, (key, prompt, kind, required, choices) in enumerate(questions):
            w.ids[key] = await _insert(
                engine,
                tables.FormQuestion,
                district_id=w["north"],
                form_id=w[form],
                position=position,
                prompt=prompt,
                question_type=kind,
                required=required,
                choices=choices,
            )
    return w


@pytest.fixture
def runner(engine: AsyncEngine, world: World) -> GraphQLRunner:
    return GraphQLRunner(engine, world.sessions)


async def _assignment(
    engine: AsyncEngine, w: World, form: str, student: str, *, to_student: bool
) -> int:
    """An assignment written directly (as an earlier release could have)."""
    return await _insert(
        engine,
        tables.FormAssignment,
        district_id=w["north"],
        form_id=w[form],
        student_id=w[student],
        assigned_to_student=to_student,
        assignee_account_id=w["student_s1"] if to_student else None,
        created_at=NOW,
    )


ROLE = ("FORBIDDEN", "Your role does not allow this.")
NOT_LINKED = ("FORBIDDEN", NOT_LINKED_MESSAGE)
UNAUTHENTICATED = ("UNAUTHENTICATED", "Sign in to see this.")


def _outcome(result: Result, field: str) -> Any:
    """The payload, or the one error's code and message."""
    if result.errors:
        assert len(result.errors) == 1
        assert result.data is None
        assert result.errors[0]["path"] == [field]
        return (result.errors[0]["extensions"]["code"], result.errors[0]["message"])
    assert result.data is not None
    return result.data[field]


def _error(code: str, message: str, *field: str) -> dict[str, Any]:
    return {"code": code, "message": message, "field": list(field)}


# ---------------------------------------------------------------- createForm

CREATE = """
mutation Create($input: CreateFormInput!) {
  createForm(input: $input) {
    form { title questions { prompt type required choices } }
    userErrors { code message field }
  }
}
"""


async def test_an_admin_creates_a_form_with_its_questions_in_order(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    result = await runner.run(
        "admin_a",
        CREATE,
        input={
            "schoolId": gid("School", w["school_a"]),
            "title": "  Sports day ",
            "questions": [
                {
                    "prompt": "Which race?",
                    "type": "CHOICE",
                    "required": True,
                    "choices": [" Sprint", "Relay "],
                },
                {"prompt": "Date of birth", "type": "DATE"},
                {"prompt": "Emergency contact", "type": "GUARDIAN_DETAILS", "required": True},
            ],
        },
    )

    assert result.errors == []
    assert result.data == {
        "createForm": {
            "form": {
                "title": "Sports day",
                "questions": [
                    {
                        "prompt": "Which race?",
                        "type": "CHOICE",
                        "required": True,
                        "choices": ["Sprint", "Relay"],
                    },
                    {"prompt": "Date of birth", "type": "DATE", "required": False, "choices": None},
                    {
                        "prompt": "Emergency contact",
                        "type": "GUARDIAN_DETAILS",
                        "required": True,
                        "choices": None,
                    },
                ],
            },
            "userErrors": [],
        }
    }
    [(form_id, school_id, staff_id)] = await _rows(
        engine,
        sa.select(FORMS.c.id, FORMS.c.school_id, FORMS.c.created_by_staff_id).where(
            FORMS.c.title == "Sports day"
        ),
    )
    assert (school_id, staff_id) == (w["school_a"], w["admin_a_staff"])
    assert await _rows(
        engine,
        sa.select(
            FORM_QUESTIONS.c.position, FORM_QUESTIONS.c.question_type, FORM_QUESTIONS.c.choices
        )
        .where(FORM_QUESTIONS.c.form_id == form_id)
        .order_by(FORM_QUESTIONS.c.position),
    ) == [(0, "CHOICE", "Sprint\nRelay"), (1, "DATE", None), (2, "GUARDIAN_DETAILS", None)]


async def test_a_form_needs_a_title_prompts_and_choices_and_nothing_is_made_otherwise(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    before = await snapshot(engine)
    result = await runner.run(
        "admin_a",
        CREATE,
        input={
            "schoolId": gid("School", w["school_a"]),
            "title": " ",
            "questions": [
                {"prompt": "", "type": "TEXT"},
                {"prompt": "Pick one", "type": "CHOICE"},
                {"prompt": "Pick one", "type": "CHOICE", "choices": ["A", " a ", "a"]},
                # (A line break in a choice is refused before the mutation
                # runs: tests/test_control_characters.py.)
                {"prompt": "Pick one", "type": "CHOICE", "choices": ["A", "B" * 256]},
                {"prompt": "Free text", "type": "TEXT", "choices": ["A"]},
                {"prompt": "x" * 1001, "type": "DATE"},
            ],
        },
    )

    assert result.errors == []
    assert result.data == {
        "createForm": {
            "form": None,
            "userErrors": [
                _error("REQUIRED", "A form needs a title.", "input", "title"),
                _error(
                    "REQUIRED", "A question needs a prompt.", "input", "questions", "0", "prompt"
                ),
                _error(
                    "CHOICES_REQUIRED",
                    "A CHOICE question needs at least one choice.",
                    "input",
                    "questions",
                    "1",
                    "choices",
                ),
                _error(
                    "INVALID_CHOICES",
                    "Each choice appears once.",
                    "input",
                    "questions",
                    "2",
                    "choices",
                ),
                _error(
                    "INVALID_CHOICES",
                    "Each choice is one line of 1 to 255 characters.",
                    "input",
                    "questions",
                    "3",
                    "choices",
                ),
                _error(
                    "INVALID_CHOICES",
                    "Only CHOICE questions have choices.",
                    "input",
                    "questions",
                    "4",
                    "choices",
                ),
                _error("TOO_LONG", "At most 1000 characters.", "input", "questions", "5", "prompt"),
            ],
        }
    }
    no_questions = await runner.run(
        "admin_a",
        CREATE,
        input={"schoolId": gid("School", w["school_a"]), "title": "Empty", "questions": []},
    )
    assert no_questions.data == {
        "createForm": {
            "form": None,
            "userErrors": [
                _error("REQUIRED", "A form needs at least one question.", "input", "questions")
            ],
        }
    }
    assert await snapshot(engine) == before


SCHOOL_NOT_FOUND = {
    "form": None,
    "userErrors": [_error("NOT_FOUND", "No school with this id.", "input", "schoolId")],
}


async def test_only_admins_of_the_school_or_its_district_create_its_forms(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    expected: dict[str | None, Any] = {
        None: UNAUTHENTICATED,
        "t_maths": ROLE,
        "enrol_a": ROLE,
        "support_a": ROLE,
        "security_a": ROLE,
        "unlinked": NOT_LINKED,
        "deactivated": NOT_LINKED,
        "admin_b": SCHOOL_NOT_FOUND,
        "admin_c": SCHOOL_NOT_FOUND,
        "da_other": SCHOOL_NOT_FOUND,
        "parent": ROLE,
        "lonely_parent": ROLE,
        "student_s1": ROLE,
    }
    form = {
        "schoolId": gid("School", w["school_a"]),
        "title": "Trip",
        "questions": [{"prompt": "Ok?", "type": "TEXT"}],
    }
    before = await snapshot(engine)
    outcomes = {
        who: _outcome(await runner.run(who, CREATE, input=form), "createForm") for who in expected
    }
    assert outcomes == expected
    assert await snapshot(engine) == before
    # A malformed school id, or another type's, is not found either.
    for school_id in ["nope", gid("Student", w["s1"])]:
        result = await runner.run("admin_a", CREATE, input={**form, "schoolId": school_id})
        assert _outcome(result, "createForm") == SCHOOL_NOT_FOUND
    assert await snapshot(engine) == before


# ---------------------------------------------------------------- assignForm

ASSIGN = """
mutation Assign($input: AssignFormInput!) {
  assignForm(input: $input) {
    assignments { id status student { displayName } assignee { displayName } submittedAt }
    userErrors { code message field }
  }
}
"""


def _assign(w: World, form: str, students: list[str], *, to_students: bool) -> dict[str, Any]:
    return {
        "formId": gid("Form", w[form]),
        "studentIds": [gid("Student", w[s]) for s in students],
        "assignToStudents": to_students,
    }


def _assigned(student: str, assignee: str | None) -> dict[str, Any]:
    return {
        "status": "ASSIGNED",
        "student": {"displayName": student},
        "assignee": {"displayName": assignee} if assignee else None,
        "submittedAt": None,
    }


def _without_ids(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        **payload,
        "assignments": [{k: v for k, v in a.items() if k != "id"} for a in payload["assignments"]],
    }


async def test_assigning_to_guardians_makes_one_assignment_per_student_and_again_returns_it(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    first = await runner.run(
        "admin_a", ASSIGN, input=_assign(w, "details", ["s1", "s4", "s1"], to_students=False)
    )

    assert first.errors == []
    assert first.data is not None
    payload = first.data["assignForm"]
    assert _without_ids(payload) == {
        "assignments": [_assigned("Ada Lovelace", None), _assigned("Dora Withdrawn", None)],
        "userErrors": [],
    }
    assert await _rows(
        engine,
        sa.select(
            FORM_ASSIGNMENTS.c.student_id,
            FORM_ASSIGNMENTS.c.assigned_to_student,
            FORM_ASSIGNMENTS.c.assignee_account_id,
            FORM_ASSIGNMENTS.c.created_at,
        ).order_by(FORM_ASSIGNMENTS.c.id),
    ) == [(w["s1"], False, None, NOW), (w["s4"], False, None, NOW)]
    assert await _rows(
        engine,
        sa.select(
            ACCESS_EVENTS.c.action,
            ACCESS_EVENTS.c.student_id,
            ACCESS_EVENTS.c.actor_name,
            ACCESS_EVENTS.c.detail,
        )
        .where(ACCESS_EVENTS.c.action == "FORM_ASSIGNED")
        .order_by(ACCESS_EVENTS.c.id),
    ) == [
        (
            "FORM_ASSIGNED",
            w["s1"],
            "Anna Head",
            "Form 'Details' assigned to the student's guardians",
        ),
        (
            "FORM_ASSIGNED",
            w["s4"],
            "Anna Head",
            "Form 'Details' assigned to the student's guardians",
        ),
    ]

    before = await snapshot(engine)
    again = await runner.run(
        "da_north", ASSIGN, input=_assign(w, "details", ["s4", "s1"], to_students=False)
    )
    assert again.data == {
        "assignForm": {
            "assignments": [payload["assignments"][1], payload["assignments"][0]],
            "userErrors": [],
        }
    }
    assert await snapshot(engine) == before


async def test_assigning_to_students_needs_each_student_to_have_their_own_login(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    await _show_forms_to_students(engine, w, "HOMEWORK FORMS")
    before = await snapshot(engine)
    refused = await runner.run(
        "admin_a", ASSIGN, input=_assign(w, "trip", ["s1", "s3", "s4"], to_students=True)
    )
    assert refused.data == {
        "assignForm": {
            "assignments": [],
            "userErrors": [
                _error(
                    "STUDENT_HAS_NO_LOGIN",
                    "This student has no login of their own.",
                    "input",
                    "studentIds",
                    index,
                )
                for index in ("1", "2")
            ],
        }
    }
    assert await snapshot(engine) == before

    assigned = await runner.run(
        "admin_a", ASSIGN, input=_assign(w, "trip", ["s1"], to_students=True)
    )
    assert assigned.errors == []
    assert assigned.data is not None
    assert _without_ids(assigned.data["assignForm"]) == {
        "assignments": [_assigned("Ada Lovelace", "Ada Lovelace")],
        "userErrors": [],
    }
    assert await _rows(
        engine,
        sa.select(FORM_ASSIGNMENTS.c.assigned_to_student, FORM_ASSIGNMENTS.c.assignee_account_id),
    ) == [(True, w["student_s1"])]


async def test_a_form_with_a_guardian_details_question_never_goes_to_students(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    await _show_forms_to_students(engine, w, "FORMS")
    before = await snapshot(engine)
    result = await runner.run(
        "admin_a", ASSIGN, input=_assign(w, "details", ["s1"], to_students=True)
    )
    assert result.data == {
        "assignForm": {
            "assignments": [],
            "userErrors": [
                _error(
                    "GUARDIAN_ONLY_QUESTION",
                    "This form has a guardian details question, so it cannot go to students.",
                    "input",
                    "assignToStudents",
                )
            ],
        }
    }
    assert await snapshot(engine) == before


FORMS_NOT_SHOWN = _error(
    "FORMS_NOT_SHOWN_TO_STUDENTS",
    "The school does not show forms to students, so they could not see or submit this one.",
    "input",
    "assignToStudents",
)


@pytest.mark.parametrize("who", ["admin_a", "da_north"])
async def test_assigning_to_students_needs_a_school_that_shows_forms_to_them(
    engine: AsyncEngine, world: World, runner: GraphQLRunner, who: str
) -> None:
    w = world
    # The world's default: HOMEWORK TIMETABLE, not FORMS. s1 has a login.
    before = await snapshot(engine)
    hidden = await runner.run(who, ASSIGN, input=_assign(w, "trip", ["s1"], to_students=True))
    assert hidden.errors == []
    assert hidden.data == {"assignForm": {"assignments": [], "userErrors": [FORMS_NOT_SHOWN]}}
    # With the other problems of the input, every one is reported.
    both = await runner.run(
        who, ASSIGN, input=_assign(w, "details", ["s1", "s3"], to_students=True)
    )
    assert both.data == {
        "assignForm": {
            "assignments": [],
            "userErrors": [
                _error(
                    "GUARDIAN_ONLY_QUESTION",
                    "This form has a guardian details question, so it cannot go to students.",
                    "input",
                    "assignToStudents",
                ),
                FORMS_NOT_SHOWN,
                _error(
                    "STUDENT_HAS_NO_LOGIN",
                    "This student has no login of their own.",
                    "input",
                    "studentIds",
                    "1",
                ),
            ],
        }
    }
    assert await snapshot(engine) == before

    # Guardians see forms whatever the school shows its students.
    to_guardians = await runner.run(
        who, ASSIGN, input=_assign(w, "trip", ["s1"], to_students=False)
    )
    assert to_guardians.errors == []
    assert to_guardians.data is not None
    assert _without_ids(to_guardians.data["assignForm"]) == {
        "assignments": [_assigned("Ada Lovelace", None)],
        "userErrors": [],
    }

    await _show_forms_to_students(engine, w, "FORMS")
    shown = await runner.run(who, ASSIGN, input=_assign(w, "trip", ["s1"], to_students=True))
    assert shown.errors == []
    assert shown.data is not None
    assert _without_ids(shown.data["assignForm"]) == {
        "assignments": [_assigned("Ada Lovelace", "Ada Lovelace")],
        "userErrors": [],
    }
    assert await _rows(
        engine,
        sa.select(
            FORM_ASSIGNMENTS.c.student_id,
            FORM_ASSIGNMENTS.c.assigned_to_student,
            FORM_ASSIGNMENTS.c.assignee_account_id,
        ).order_by(FORM_ASSIGNMENTS.c.id),
    ) == [(w["s1"], False, None), (w["s1"], True, w["student_s1"])]


async def test_a_hidden_forms_section_is_no_hint_to_those_who_may_not_assign(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    """The school's setting is checked only for those who may assign the
    form: everyone else gets the answer they get for any assignment."""
    w = world
    expected: dict[str | None, Any] = {
        None: UNAUTHENTICATED,
        "t_maths": ROLE,
        "enrol_a": ROLE,
        "support_a": ROLE,
        "security_a": ROLE,
        "unlinked": NOT_LINKED,
        "deactivated": NOT_LINKED,
        "admin_b": FORM_NOT_FOUND,
        "admin_c": FORM_NOT_FOUND,
        "da_other": FORM_NOT_FOUND,
        "parent": ROLE,
        "lonely_parent": ROLE,
        "student_s1": ROLE,
        "admin_a": {"assignments": [], "userErrors": [FORMS_NOT_SHOWN]},
        "da_north": {"assignments": [], "userErrors": [FORMS_NOT_SHOWN]},
    }
    assignment = _assign(w, "trip", ["s1"], to_students=True)
    before = await snapshot(engine)
    outcomes = {
        who: _outcome(await runner.run(who, ASSIGN, input=assignment), "assignForm")
        for who in expected
    }
    assert outcomes == expected
    assert await snapshot(engine) == before


async def test_students_out_of_scope_are_not_found_and_nothing_is_assigned(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    before = await snapshot(engine)
    wrong = _assign(w, "trip", ["s1", "s2", "s5"], to_students=False)
    wrong["studentIds"] += ["nope", gid("Guardian", w["g_mother"])]

    result = await runner.run("admin_a", ASSIGN, input=wrong)

    assert result.data == {
        "assignForm": {
            "assignments": [],
            "userErrors": [
                _error("NOT_FOUND", "No student with this id.", "input", "studentIds", index)
                for index in ("1", "2", "3", "4")
            ],
        }
    }
    # The district admin sees s2 (school B): not a student of the form's school.
    other_school = await runner.run(
        "da_north", ASSIGN, input=_assign(w, "trip", ["s1", "s2"], to_students=False)
    )
    assert other_school.data == {
        "assignForm": {
            "assignments": [],
            "userErrors": [
                _error(
                    "WRONG_SCHOOL",
                    "This student is not at the form's school.",
                    "input",
                    "studentIds",
                    "1",
                )
            ],
        }
    }
    assert await snapshot(engine) == before


FORM_NOT_FOUND = {
    "assignments": [],
    "userErrors": [_error("NOT_FOUND", "No form with this id.", "input", "formId")],
}


async def test_only_admins_of_the_forms_school_or_district_assign_it(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    expected: dict[str | None, Any] = {
        None: UNAUTHENTICATED,
        "t_maths": ROLE,
        "enrol_a": ROLE,
        "support_a": ROLE,
        "security_a": ROLE,
        "unlinked": NOT_LINKED,
        "deactivated": NOT_LINKED,
        "admin_b": FORM_NOT_FOUND,
        "admin_c": FORM_NOT_FOUND,
        "da_other": FORM_NOT_FOUND,
        "parent": ROLE,
        "lonely_parent": ROLE,
        "student_s1": ROLE,
    }
    assignment = _assign(w, "trip", ["s1"], to_students=False)
    before = await snapshot(engine)
    outcomes = {
        who: _outcome(await runner.run(who, ASSIGN, input=assignment), "assignForm")
        for who in expected
    }
    assert outcomes == expected
    assert await snapshot(engine) == before


async def test_the_statements_of_an_assignment_do_not_grow_with_the_students(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    for n in range(6):
        w.ids[f"pupil{n}"] = await _insert(
            engine,
            tables.Student,
            district_id=w["north"],
            school_id=w["school_a"],
            year_group_id=w["a_y10"],
            sourced_id=f"pupil{n}",
            given_name=f"Pupil{n}",
            family_name="Pupil",
        )
    counter = StatementCounter(engine)
    counts = []
    for students in [["pupil0"], ["pupil1", "pupil2", "pupil3", "pupil4", "pupil5"]]:
        with counter.counting() as statements:
            result = await runner.run(
                "admin_a", ASSIGN, input=_assign(w, "trip", students, to_students=False)
            )
        assert result.errors == []
        assert result.data is not None
        assert len(result.data["assignForm"]["assignments"]) == len(students)
        counts.append(len(statements))
    assert counts[0] == counts[1]


async def test_two_assignments_of_one_form_at_once_make_one_assignment(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    assignment = _assign(w, "trip", ["s1", "s3"], to_students=False)
    first, second = await asyncio.gather(
        runner.run("admin_a", ASSIGN, input=assignment),
        runner.run("da_north", ASSIGN, input=assignment),
    )
    assert first.errors == second.errors == []
    assert first.data is not None
    assert second.data is not None
    assert first.data == second.data
    assert _without_ids(first.data["assignForm"]) == {
        "assignments": [_assigned("Ada Lovelace", None), _assigned("Charles Babbage", None)],
        "userErrors": [],
    }
    assert await _rows(
        engine, sa.select(FORM_ASSIGNMENTS.c.student_id).order_by(FORM_ASSIGNMENTS.c.student_id)
    ) == sorted([(w["s1"],), (w["s3"],)])
    # Each assignment made is audited once, by whoever made it.
    assert await _rows(
        engine,
        sa.select(ACCESS_EVENTS.c.student_id)
        .where(ACCESS_EVENTS.c.action == "FORM_ASSIGNED")
        .order_by(ACCESS_EVENTS.c.student_id),
    ) == sorted([(w["s1"],), (w["s3"],)])


async def test_an_assignment_racing_another_waits_for_it_and_returns_its_row(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    """The other request has inserted but not committed when this one looks
    for open assignments (and finds none): its insert waits for the other
    transaction (PostgreSQL: the conflicting row; SQLite: the writer lock),
    then does nothing, and the other request's row is the answer."""
    w = world
    async with engine.connect() as other:
        transaction = await other.begin()
        inserted = await other.execute(
            sa.insert(FORM_ASSIGNMENTS)
            .values(
                district_id=w["north"],
                form_id=w["trip"],
                student_id=w["s1"],
                assigned_to_student=False,
                status="ASSIGNED",
                created_at=NOW,
            )
            .returning(FORM_ASSIGNMENTS.c.id)
        )
        racing_id = int(inserted.scalar_one())
        assign = asyncio.create_task(
            runner.run("admin_a", ASSIGN, input=_assign(w, "trip", ["s1"], to_students=False))
        )
        await asyncio.sleep(RACE_SETTLE_SECONDS)
        assert not assign.done(), "the insert must wait for the other transaction"
        await transaction.commit()
    result = await assign
    assert result.errors == []
    assert result.data is not None
    assert [a["id"] for a in result.data["assignForm"]["assignments"]] == [
        gid("FormAssignment", racing_id)
    ]
    assert result.data["assignForm"]["userErrors"] == []
    assert await _rows(engine, sa.select(FORM_ASSIGNMENTS.c.id)) == [(racing_id,)]
    # This request made nothing, so it audited nothing.
    assert (
        await _rows(
            engine, sa.select(ACCESS_EVENTS.c.id).where(ACCESS_EVENTS.c.action == "FORM_ASSIGNED")
        )
        == []
    )


async def test_an_open_assignment_is_unique_per_form_student_and_audience_in_the_database(
    engine: AsyncEngine, world: World
) -> None:
    w = world
    guardians = await _assignment(engine, w, "trip", "s1", to_student=False)
    await _assignment(engine, w, "trip", "s1", to_student=True)  # another audience
    with pytest.raises(sa.exc.IntegrityError):
        await _assignment(engine, w, "trip", "s1", to_student=False)
    # Once submitted, the student may be given the form again.
    async with engine.begin() as c:
        await c.execute(
            sa.update(FORM_ASSIGNMENTS)
            .where(FORM_ASSIGNMENTS.c.id == guardians)
            .values(status="SUBMITTED", submitted_at=NOW)
        )
    await _assignment(engine, w, "trip", "s1", to_student=False)


async def test_the_migration_to_one_open_assignment_keeps_the_oldest_of_duplicates(
    engine: AsyncEngine, world: World
) -> None:
    w = world

    def to(revision: str) -> Callable[[sa.Connection], None]:
        def run(connection: sa.Connection) -> None:
            config = alembic_config(connection)
            if revision == "head":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)

        return run

    async with engine.begin() as c:
        await c.run_sync(to("0003"))
    # What concurrent assignForm calls could leave before the index.
    oldest = await _assignment(engine, w, "trip", "s1", to_student=False)
    await _assignment(engine, w, "trip", "s1", to_student=False)
    await _assignment(engine, w, "trip", "s1", to_student=False)
    for_student = await _assignment(engine, w, "trip", "s1", to_student=True)
    submitted = await _assignment(engine, w, "trip", "s1", to_student=False)
    async with engine.begin() as c:
        await c.execute(
            sa.update(FORM_ASSIGNMENTS)
            .where(FORM_ASSIGNMENTS.c.id == submitted)
            .values(status="SUBMITTED", submitted_at=NOW)
        )
    async with engine.begin() as c:
        await c.run_sync(to("head"))
    assert await _rows(
        engine, sa.select(FORM_ASSIGNMENTS.c.id).order_by(FORM_ASSIGNMENTS.c.id)
    ) == [
        (oldest,),
        (for_student,),
        (submitted,),
    ]


# ---------------------------------------------------------------- submitForm

SUBMIT = """
mutation Submit($input: SubmitFormInput!) {
  submitForm(input: $input) {
    assignment { status submittedAt form { title } student { displayName } }
    userErrors { code message field }
  }
}
"""


def _submit(assignment_id: int, *answers: tuple[int | str, str]) -> dict[str, Any]:
    return {
        "assignmentId": gid("FormAssignment", assignment_id),
        "answers": [
            {"questionId": q if isinstance(q, str) else gid("FormQuestion", q), "value": v}
            for q, v in answers
        ],
    }


def _submitted(form: str, student: str = "Ada Lovelace") -> dict[str, Any]:
    return {
        "submitForm": {
            "assignment": {
                "status": "SUBMITTED",
                "submittedAt": SUBMITTED_AT,
                "form": {"title": form},
                "student": {"displayName": student},
            },
            "userErrors": [],
        }
    }


def _refused(*errors: dict[str, Any]) -> dict[str, Any]:
    return {"submitForm": {"assignment": None, "userErrors": list(errors)}}


ALREADY_SUBMITTED = _error(
    "ALREADY_SUBMITTED", "This form has been submitted already.", "input", "assignmentId"
)
ASSIGNMENT_NOT_FOUND = _error(
    "NOT_FOUND", "No form assignment with this id.", "input", "assignmentId"
)


async def test_a_guardian_submits_their_childs_form_once(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    assignment = await _assignment(engine, w, "details", "s1", to_student=False)
    answers = _submit(
        assignment, (w["q_guardian"], " Mary Lovelace, 555-0100 "), (w["q_allergies"], "")
    )

    result = await runner.run("parent", SUBMIT, input=answers)

    assert result.errors == []
    assert result.data == _submitted("Details")
    assert await _rows(
        engine,
        sa.select(
            FORM_ASSIGNMENTS.c.status,
            FORM_ASSIGNMENTS.c.submitted_at,
            FORM_ASSIGNMENTS.c.submitted_by_account_id,
        ),
    ) == [("SUBMITTED", NOW, w["parent"])]
    assert await _rows(
        engine,
        sa.select(FORM_ANSWERS.c.assignment_id, FORM_ANSWERS.c.question_id, FORM_ANSWERS.c.value),
    ) == [(assignment, w["q_guardian"], "Mary Lovelace, 555-0100")]
    assert await _rows(
        engine,
        sa.select(
            ACCESS_EVENTS.c.action,
            ACCESS_EVENTS.c.student_id,
            ACCESS_EVENTS.c.actor_name,
            ACCESS_EVENTS.c.actor_kind,
        ).where(ACCESS_EVENTS.c.action == "FORM_SUBMITTED"),
    ) == [("FORM_SUBMITTED", w["s1"], "Mary Lovelace", "GUARDIAN")]

    before = await snapshot(engine)
    again = await runner.run("parent", SUBMIT, input=answers)
    assert again.data == _refused(ALREADY_SUBMITTED)
    assert await snapshot(engine) == before


async def test_answers_are_checked_and_nothing_is_stored_when_one_is_wrong(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    assignment = await _assignment(engine, w, "trip", "s1", to_student=False)
    before = await snapshot(engine)
    cases: list[tuple[list[tuple[int | str, str]], list[dict[str, Any]]]] = [
        (
            # The required consent is not answered at all.
            [(w["q_notes"], "Peanuts")],
            [
                _error(
                    "QUESTION_REQUIRED",
                    "The question 'May your child go on the trip?' needs an answer.",
                    "input",
                    "answers",
                )
            ],
        ),
        (
            [(w["q_consent"], "  ")],
            [
                _error(
                    "QUESTION_REQUIRED",
                    "This question needs an answer.",
                    "input",
                    "answers",
                    "0",
                    "value",
                )
            ],
        ),
        (
            [(w["q_consent"], "Maybe"), (w["q_date"], "3/11/2026")],
            [
                _error(
                    "INVALID_ANSWER",
                    "The answer must be one of the choices.",
                    "input",
                    "answers",
                    "0",
                    "value",
                ),
                _error(
                    "INVALID_ANSWER",
                    "A date is written YYYY-MM-DD.",
                    "input",
                    "answers",
                    "1",
                    "value",
                ),
            ],
        ),
        (
            [(w["q_consent"], "Yes"), (w["q_date"], "2026-02-30")],
            [
                _error(
                    "INVALID_ANSWER",
                    "A date is written YYYY-MM-DD.",
                    "input",
                    "answers",
                    "1",
                    "value",
                )
            ],
        ),
        (
            # A question of another form, a malformed id, the same question twice.
            [
                (w["q_consent"], "Yes"),
                (w["q_allergies"], "None"),
                ("nope", "x"),
                (w["q_consent"], "No"),
            ],
            [
                _error(
                    "NOT_FOUND",
                    "No question with this id.",
                    "input",
                    "answers",
                    "1",
                    "questionId",
                ),
                _error(
                    "NOT_FOUND",
                    "No question with this id.",
                    "input",
                    "answers",
                    "2",
                    "questionId",
                ),
                _error(
                    "DUPLICATE_ANSWER",
                    "This question is answered twice.",
                    "input",
                    "answers",
                    "3",
                    "questionId",
                ),
            ],
        ),
    ]
    for answers, errors in cases:
        result = await runner.run("parent", SUBMIT, input=_submit(assignment, *answers))
        assert result.data == _refused(*errors)
    assert await snapshot(engine) == before

    accepted = await runner.run(
        "parent",
        SUBMIT,
        input=_submit(assignment, (w["q_consent"], "Yes"), (w["q_date"], "2026-11-20")),
    )
    assert accepted.data == _submitted("Trip")
    assert await _rows(
        engine,
        sa.select(FORM_ANSWERS.c.question_id, FORM_ANSWERS.c.value).order_by(FORM_ANSWERS.c.id),
    ) == [(w["q_consent"], "Yes"), (w["q_date"], "2026-11-20")]


async def test_a_student_submits_their_own_assignment_only_while_forms_are_visible_to_them(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    assignment = await _assignment(engine, w, "trip", "s1", to_student=True)
    answers = _submit(assignment, (w["q_consent"], "No"))
    before = await snapshot(engine)
    hidden = await runner.run("student_s1", SUBMIT, input=answers)  # HOMEWORK TIMETABLE only
    assert hidden.data == _refused(ASSIGNMENT_NOT_FOUND)
    assert await snapshot(engine) == before

    await _show_forms_to_students(engine, w, "HOMEWORK FORMS")
    shown = await runner.run("student_s1", SUBMIT, input=answers)

    assert shown.errors == []
    assert shown.data == _submitted("Trip")
    assert await _rows(engine, sa.select(FORM_ASSIGNMENTS.c.submitted_by_account_id)) == [
        (w["student_s1"],)
    ]


async def test_no_student_submission_answers_a_guardian_details_question(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    await _show_forms_to_students(engine, w, "FORMS")
    # Written before assignForm refused such forms for students.
    assignment = await _assignment(engine, w, "details", "s1", to_student=True)
    before = await snapshot(engine)

    refused = await runner.run(
        "student_s1",
        SUBMIT,
        input=_submit(assignment, (w["q_guardian"], "Ada, 555-0100"), (w["q_allergies"], "None")),
    )

    assert refused.data == _refused(
        _error(
            "GUARDIAN_ONLY_QUESTION",
            "Only a guardian can answer this question.",
            "input",
            "answers",
            "0",
            "questionId",
        )
    )
    assert await snapshot(engine) == before
    # Never required of a student either.
    accepted = await runner.run(
        "student_s1", SUBMIT, input=_submit(assignment, (w["q_allergies"], "None"))
    )
    assert accepted.data == _submitted("Details")
    assert await _rows(engine, sa.select(FORM_ANSWERS.c.question_id, FORM_ANSWERS.c.value)) == [
        (w["q_allergies"], "None")
    ]


async def test_only_the_assignee_submits_for_everyone_else_the_assignment_does_not_exist(
    engine: AsyncEngine, world: World, runner: GraphQLRunner
) -> None:
    w = world
    await _show_forms_to_students(engine, w, "FORMS")
    for_guardians = await _assignment(engine, w, "trip", "s1", to_student=False)
    for_student = await _assignment(engine, w, "trip", "s1", to_student=True)
    not_found = {"assignment": None, "userErrors": [ASSIGNMENT_NOT_FOUND]}
    viewers: list[str | None] = [
        None,
        "t_maths",
        "admin_a",
        "da_north",
        "admin_b",
        "da_other",
        "enrol_a",
        "support_a",
        "security_a",
        "unlinked",
        "deactivated",
        "lonely_parent",
    ]
    before = await snapshot(engine)
    outcomes = {}
    for assignment, assignee in [(for_guardians, "parent"), (for_student, "student_s1")]:
        other = "student_s1" if assignee == "parent" else "parent"
        answers = _submit(assignment, (w["q_consent"], "Yes"))
        for who in [*viewers, other]:
            outcomes[(assignment, who)] = _outcome(
                await runner.run(who, SUBMIT, input=answers), "submitForm"
            )
    assert outcomes == {
        (assignment, who): UNAUTHENTICATED if who is None else not_found
        for assignment in (for_guardians, for_student)
        for who in [*viewers, "student_s1" if assignment == for_guardians else "parent"]
    }
    assert await snapshot(engine) == before
