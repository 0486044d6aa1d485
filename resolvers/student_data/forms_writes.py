"""Forms, the write side: creating a form, assigning it, submitting answers.

Who may do what (docs/architecture.md section 2 and 3): admins of a school (FORMS) create its
forms and assign them to its students, either to the students themselves or
to their guardians; the assignee completes it: the student's own account for
a student assignment, any guardian account with an active grant to the
student for a guardian assignment. A GUARDIAN_DETAILS question is for
guardians only: a form with one is never assigned to students, and no
student submission may answer one.

Lookups answer the row or a NOT_FOUND refusal, and raise Forbidden when the
viewer reaches the object without FORMS there; input checks are pure
functions returning ``Refusal``s (docs/mutations.md); nothing here commits.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.roles import AccountKind, StudentSection
from permissions.scope import Scope
from permissions.viewer import Viewer
from resolvers import tables
from resolvers.db import Db
from resolvers.scope import school_id_filter, student_filter
from resolvers.student_data.forms import assignment_filter
from resolvers.tables import (
    ACCOUNTS,
    FORM_ANSWERS,
    FORM_ASSIGNMENTS,
    FORM_QUESTIONS,
    FORMS,
    GRANTS,
    SCHOOLS,
    STUDENTS,
    FormAssignmentStatus,
    GrantSource,
    QuestionType,
)
from resolvers.writes import Refusal, not_found, require

TITLE_MAX = 255
PROMPT_MAX = 1000
CHOICE_MAX = 255
ANSWER_MAX = 10_000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class NewQuestion:
    prompt: str
    question_type: str  # TEXT, CHOICE, DATE or GUARDIAN_DETAILS
    required: bool
    choices: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer as given: ``question_id`` is None when the id was not a
    question id at all."""

    question_id: int | None
    value: str


# ---------------------------------------------------------------- lookups


def _require_forms_at(viewer: Viewer, *, school_id: int, district_id: int) -> None:
    """In scope through a staff role, but not one that administers forms."""
    held = viewer.scope.school_capabilities(school_id=school_id, district_id=district_id)
    require(Capability.FORMS in held, "Your role does not allow managing this school's forms.")


async def school_for_forms(
    db: Db, viewer: Viewer, school_id: int | None, *, field: tuple[str, ...]
) -> tuple[Row[Any] | None, list[Refusal]]:
    """The school, if a staff role of the viewer reaches it (else NOT_FOUND)
    and holds FORMS there (else Forbidden)."""
    school = None
    if school_id is not None:
        school = await db.first(
            sa.select(SCHOOLS).where(
                SCHOOLS.c.id == school_id,
                school_id_filter(
                    viewer.scope, SCHOOLS.c.id, SCHOOLS.c.district_id, staff_only=True
                ),
            )
        )
    if school is None:
        return None, [not_found("school", field)]
    _require_forms_at(viewer, school_id=school.id, district_id=school.district_id)
    return school, []


async def form_for_assigning(
    db: Db, viewer: Viewer, form_id: int | None, *, field: tuple[str, ...]
) -> tuple[Row[Any] | None, list[Refusal]]:
    """The form, if a staff role of the viewer reaches its school (else
    NOT_FOUND) and holds FORMS there (else Forbidden); with
    ``has_guardian_question`` (whether it may never go to students)."""
    if form_id is None:
        return None, [not_found("form", field)]
    guardian_question = sa.exists(
        sa.select(FORM_QUESTIONS.c.id).where(
            FORM_QUESTIONS.c.form_id == FORMS.c.id,
            FORM_QUESTIONS.c.question_type == QuestionType.GUARDIAN_DETAILS,
        )
    )
    form = await db.first(
        sa.select(
            FORMS,
            guardian_question.label("has_guardian_question"),
            SCHOOLS.c.student_visible_sections,
        )
        .join(SCHOOLS, SCHOOLS.c.id == FORMS.c.school_id)
        .where(
            FORMS.c.id == form_id,
            school_id_filter(viewer.scope, FORMS.c.school_id, FORMS.c.district_id, staff_only=True),
        )
    )
    if form is None:
        return None, [not_found("form", field)]
    _require_forms_at(viewer, school_id=form.school_id, district_id=form.district_id)
    return form, []


def shows_forms_to_students(form: Row[Any]) -> bool:
    """Whether the form's school shows forms to its students (a row of
    ``form_for_assigning``): without that, a student assignment could be
    neither seen nor submitted by its assignee."""
    return StudentSection.FORMS.value in (form.student_visible_sections or "").split()


async def students_for_assigning(
    db: Db,
    viewer: Viewer,
    ids: Sequence[int | None],
    *,
    school_id: int,
    field: tuple[str, ...],
) -> tuple[dict[int, Row[Any]], list[Refusal]]:
    """The students among ``ids`` that a staff role of the viewer reaches (a
    child of a staff member is not reached through that tie here), by index:
    NOT_FOUND for any other, Forbidden for one reached without FORMS,
    WRONG_SCHOOL for one not at ``school_id`` (the form's)."""
    wanted = sorted({pk for pk in ids if pk is not None})
    rows = (
        await db.all(
            sa.select(STUDENTS).where(
                STUDENTS.c.id.in_(wanted), student_filter(viewer.scope, staff_only=True)
            )
        )
        if wanted
        else []
    )
    found = {int(r.id): r for r in rows}
    refusals: list[Refusal] = []
    for index, pk in enumerate(ids):
        student = found.get(pk) if pk is not None else None
        at = (*field, str(index))
        if student is None:
            refusals.append(not_found("student", at))
            continue
        held = viewer.scope.student_capabilities(
            student_id=student.id, school_id=student.school_id, district_id=student.district_id
        )
        require(
            Capability.FORMS in held, "Your role does not allow assigning forms to this student."
        )
        if student.school_id != school_id:
            refusals.append(
                Refusal("WRONG_SCHOOL", "This student is not at the form's school.", at)
            )
    return found, refusals


async def login_accounts(db: Db, student_ids: Sequence[int]) -> dict[int, int]:
    """Student id → the account of their own live login: a STUDENT account,
    not revoked, with an active STUDENT_LOGIN grant to them."""
    if not student_ids:
        return {}
    rows = await db.all(
        sa.select(GRANTS.c.student_id, sa.func.min(ACCOUNTS.c.id).label("account_id"))
        .join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id)
        .where(
            GRANTS.c.student_id.in_(sorted(set(student_ids))),
            GRANTS.c.source == GrantSource.STUDENT_LOGIN,
            GRANTS.c.revoked_at.is_(None),
            ACCOUNTS.c.kind == AccountKind.STUDENT,
            ACCOUNTS.c.student_id == GRANTS.c.student_id,
            ACCOUNTS.c.revoked_at.is_(None),
        )
        .group_by(GRANTS.c.student_id)
    )
    return {int(r.student_id): int(r.account_id) for r in rows}


async def open_assignments(
    db: Db, *, form_id: int, student_ids: Sequence[int], to_students: bool
) -> dict[int, Row[Any]]:
    """Student id → their ASSIGNED (not yet submitted) assignment of this
    form for this audience (ux_form_assignments_open: at most one)."""
    if not student_ids:
        return {}
    rows = await db.all(
        sa.select(FORM_ASSIGNMENTS).where(
            FORM_ASSIGNMENTS.c.form_id == form_id,
            FORM_ASSIGNMENTS.c.student_id.in_(sorted(set(student_ids))),
            FORM_ASSIGNMENTS.c.assigned_to_student.is_(to_students),
            FORM_ASSIGNMENTS.c.status == FormAssignmentStatus.ASSIGNED,
        )
    )
    return {int(r.student_id): r for r in rows}


async def latest_assignments(
    db: Db, *, form_id: int, student_ids: Sequence[int], to_students: bool
) -> dict[int, Row[Any]]:
    """Student id → their newest assignment of this form for this audience,
    whatever its status: what a concurrent ``assignForm`` made while this
    one was inserting (it may even be submitted by now)."""
    if not student_ids:
        return {}
    rows = await db.all(
        sa.select(FORM_ASSIGNMENTS)
        .where(
            FORM_ASSIGNMENTS.c.form_id == form_id,
            FORM_ASSIGNMENTS.c.student_id.in_(sorted(set(student_ids))),
            FORM_ASSIGNMENTS.c.assigned_to_student.is_(to_students),
        )
        .order_by(FORM_ASSIGNMENTS.c.id)
    )
    return {int(r.student_id): r for r in rows}  # the newest wins: it comes last


def _completing_scope(viewer: Viewer) -> Scope:
    """The viewer's personal ties only (guardian grants, oneself): staff
    roles see assignments but never complete them."""
    return dataclasses.replace(
        viewer.scope, roles=(), teacher_student_ids=frozenset(), teacher_section_ids=frozenset()
    )


async def assignment_for_assignee(
    db: Db, viewer: Viewer, assignment_id: int | None, *, field: tuple[str, ...]
) -> tuple[Row[Any] | None, list[Refusal]]:
    """The assignment if the viewer is who completes it: the student (logins
    on, FORMS visible) for a student assignment, a guardian with an active
    grant for a guardian assignment. Anyone else: NOT_FOUND."""
    assignment = None
    if assignment_id is not None:
        assignment = await db.first(
            sa.select(FORM_ASSIGNMENTS)
            .join(STUDENTS, STUDENTS.c.id == FORM_ASSIGNMENTS.c.student_id)
            .where(
                FORM_ASSIGNMENTS.c.id == assignment_id,
                assignment_filter(_completing_scope(viewer)),
            )
        )
    if assignment is None:
        return None, [not_found("form assignment", field)]
    return assignment, []


async def questions_of_form(db: Db, form_id: int) -> list[Row[Any]]:
    rows = await db.all(
        sa.select(FORM_QUESTIONS)
        .where(FORM_QUESTIONS.c.form_id == form_id)
        .order_by(FORM_QUESTIONS.c.position, FORM_QUESTIONS.c.id)
    )
    return list(rows)


async def assignment_by_id(db: Db, assignment_id: int) -> Row[Any]:
    row = await db.first(sa.select(FORM_ASSIGNMENTS).where(FORM_ASSIGNMENTS.c.id == assignment_id))
    assert row is not None, "assignments are never deleted"
    return row


# ---------------------------------------------------------------- input checks


def check_new_form(title: str, questions: Sequence[NewQuestion]) -> list[Refusal]:
    refusals: list[Refusal] = []
    if not title.strip():
        refusals.append(Refusal("REQUIRED", "A form needs a title.", ("input", "title")))
    elif len(title.strip()) > TITLE_MAX:
        refusals.append(Refusal("TOO_LONG", f"At most {TITLE_MAX} characters.", ("input", "title")))
    if not questions:
        refusals.append(
            Refusal("REQUIRED", "A form needs at least one question.", ("input", "questions"))
        )
    for index, question in enumerate(questions):
        at = ("input", "questions", str(index))
        prompt = question.prompt.strip()
        if not prompt:
            refusals.append(Refusal("REQUIRED", "A question needs a prompt.", (*at, "prompt")))
        elif len(prompt) > PROMPT_MAX:
            refusals.append(
                Refusal("TOO_LONG", f"At most {PROMPT_MAX} characters.", (*at, "prompt"))
            )
        refusals.extend(_check_choices(question, at))
    return refusals


def _check_choices(question: NewQuestion, at: tuple[str, ...]) -> list[Refusal]:
    field = (*at, "choices")
    if question.question_type != QuestionType.CHOICE:
        if question.choices:
            return [Refusal("INVALID_CHOICES", "Only CHOICE questions have choices.", field)]
        return []
    if not question.choices:
        return [Refusal("CHOICES_REQUIRED", "A CHOICE question needs at least one choice.", field)]
    cleaned = [c.strip() for c in question.choices]
    for choice in cleaned:
        # Choices are stored one a line: a line break inside one would split it.
        if not choice or "\n" in choice or "\r" in choice or len(choice) > CHOICE_MAX:
            return [
                Refusal(
                    "INVALID_CHOICES",
                    f"Each choice is one line of 1 to {CHOICE_MAX} characters.",
                    field,
                )
            ]
    if len(set(cleaned)) != len(cleaned):
        return [Refusal("INVALID_CHOICES", "Each choice appears once.", field)]
    return []


def check_answers(
    questions: Sequence[Row[Any]], answers: Sequence[Answer], *, by_student: bool
) -> tuple[list[Refusal], list[tuple[int, str]]]:
    """Refusals of the answers, and the answers to store (question id,
    value; blank answers are not stored). A student submission never answers
    a GUARDIAN_DETAILS question, so such a question is never required of one."""
    by_id = {int(q.id): q for q in questions}
    refusals: list[Refusal] = []
    stored: list[tuple[int, str]] = []
    answered: set[int] = set()
    blank: set[int] = set()
    for index, answer in enumerate(answers):
        at = ("input", "answers", str(index))
        question = by_id.get(answer.question_id) if answer.question_id is not None else None
        if question is None:
            refusals.append(not_found("question", (*at, "questionId")))
            continue
        if question.id in answered or question.id in blank:
            refusals.append(
                Refusal("DUPLICATE_ANSWER", "This question is answered twice.", (*at, "questionId"))
            )
            continue
        if by_student and question.question_type == QuestionType.GUARDIAN_DETAILS:
            refusals.append(
                Refusal(
                    "GUARDIAN_ONLY_QUESTION",
                    "Only a guardian can answer this question.",
                    (*at, "questionId"),
                )
            )
            continue
        value = answer.value.strip()
        if not value:
            blank.add(question.id)
            if question.required:
                refusals.append(
                    Refusal("QUESTION_REQUIRED", "This question needs an answer.", (*at, "value"))
                )
            continue
        answered.add(question.id)
        refusal = _check_value(question, value, (*at, "value"))
        if refusal is not None:
            refusals.append(refusal)
        else:
            stored.append((int(question.id), value))
    for question in questions:
        if not question.required or question.id in answered or question.id in blank:
            continue
        if by_student and question.question_type == QuestionType.GUARDIAN_DETAILS:
            continue
        refusals.append(
            Refusal(
                "QUESTION_REQUIRED",
                f"The question '{question.prompt}' needs an answer.",
                ("input", "answers"),
            )
        )
    return refusals, stored


def _check_value(question: Row[Any], value: str, field: tuple[str, ...]) -> Refusal | None:
    if question.question_type == QuestionType.DATE:
        try:
            valid = _ISO_DATE.fullmatch(value) is not None and bool(dt.date.fromisoformat(value))
        except ValueError:
            valid = False
        if not valid:
            return Refusal("INVALID_ANSWER", "A date is written YYYY-MM-DD.", field)
        return None
    if question.question_type == QuestionType.CHOICE:
        if value not in (question.choices or "").splitlines():
            return Refusal("INVALID_ANSWER", "The answer must be one of the choices.", field)
        return None
    if len(value) > ANSWER_MAX:
        return Refusal("TOO_LONG", f"At most {ANSWER_MAX} characters.", field)
    return None


# ---------------------------------------------------------------- writes


async def create_form(
    db: Db,
    *,
    school: Row[Any],
    title: str,
    questions: Sequence[NewQuestion],
    staff_member_id: int | None,
    now: dt.datetime,
) -> Row[Any]:
    """The form and its questions: two INSERTs."""
    form = await db.first(
        sa.insert(FORMS)
        .values(
            district_id=school.district_id,
            school_id=school.id,
            title=title.strip(),
            created_by_staff_id=staff_member_id,
            created_at=now,
        )
        .returning(*FORMS.c)
    )
    assert form is not None
    await db.execute(
        sa.insert(FORM_QUESTIONS).values(
            [
                {
                    "district_id": school.district_id,
                    "form_id": form.id,
                    "position": position,
                    "prompt": q.prompt.strip(),
                    "question_type": q.question_type,
                    "required": q.required,
                    "choices": "\n".join(c.strip() for c in q.choices)
                    if q.question_type == QuestionType.CHOICE and q.choices
                    else None,
                }
                for position, q in enumerate(questions)
            ]
        )
    )
    return form


async def create_assignments(
    db: Db,
    *,
    form: Row[Any],
    students: Sequence[Row[Any]],
    to_students: bool,
    accounts: dict[int, int],
    now: dt.datetime,
) -> list[Row[Any]]:
    """One assignment per student, one INSERT; ``accounts`` are the
    students' own accounts (for student assignments).

    A student who meanwhile got an open assignment of this form for this
    audience from a concurrent request gets none here (ON CONFLICT DO
    NOTHING against ux_form_assignments_open: on PostgreSQL the insert waits
    for the other transaction, on SQLite for the writer lock) and is left
    out of the result."""
    if not students:
        return []
    insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
    rows = await db.all(
        insert(FORM_ASSIGNMENTS)
        .values(
            [
                {
                    "district_id": form.district_id,
                    "form_id": form.id,
                    "student_id": s.id,
                    "assigned_to_student": to_students,
                    "assignee_account_id": accounts[int(s.id)] if to_students else None,
                    "status": FormAssignmentStatus.ASSIGNED,
                    "created_at": now,
                }
                for s in students
            ]
        )
        .on_conflict_do_nothing(
            index_elements=[
                FORM_ASSIGNMENTS.c.form_id,
                FORM_ASSIGNMENTS.c.student_id,
                FORM_ASSIGNMENTS.c.assigned_to_student,
            ],
            index_where=sa.text(tables.OPEN_ASSIGNMENT),
        )
        .returning(*FORM_ASSIGNMENTS.c)
    )
    return sorted(rows, key=lambda r: r.id)


async def submit(
    db: Db,
    *,
    assignment: Row[Any],
    answers: Sequence[tuple[int, str]],
    account_id: int,
    now: dt.datetime,
) -> bool:
    """Mark the assignment SUBMITTED and store the answers. False (and
    nothing written) when it was submitted meanwhile."""
    result = await db.execute(
        sa.update(FORM_ASSIGNMENTS)
        .where(
            FORM_ASSIGNMENTS.c.id == assignment.id,
            FORM_ASSIGNMENTS.c.district_id == assignment.district_id,
            FORM_ASSIGNMENTS.c.status == FormAssignmentStatus.ASSIGNED,
        )
        .values(
            status=FormAssignmentStatus.SUBMITTED,
            submitted_at=now,
            submitted_by_account_id=account_id,
        )
    )
    if result.rowcount != 1:
        return False
    if answers:
        await db.execute(
            sa.insert(FORM_ANSWERS).values(
                [
                    {
                        "district_id": assignment.district_id,
                        "assignment_id": assignment.id,
                        "question_id": question_id,
                        "value": value,
                    }
                    for question_id, value in answers
                ]
            )
        )
    return True
