"""``createForm``, ``assignForm`` and ``submitForm``.

Admins of a school (FORMS there) create and assign its forms; the assignee
submits: the student's own account for a student assignment, a guardian
with an active grant for a guardian assignment. For anyone else an
assignment does not exist (NOT_FOUND), whatever they may read of it. The
checks themselves live in ``resolvers.form_writes``; this module maps input
to them and their problems to user errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from permissions.roles import AccountKind
from permissions.viewer import Viewer
from resolvers.events import Actor, Event, record
from resolvers.student_data import forms_writes as data
from schema.enums import FormAssignmentStatus, QuestionType
from schema.errors import UserError
from schema.graphql_context import Info
from schema.node import pk_of
from schema.restrictions import signed_in_writes, staff_writes
from schema.student_data.forms import Form, FormAssignment


@strawberry.input
class FormQuestionInput:
    prompt: str
    type: QuestionType
    required: bool | None = False
    choices: list[str] | None = None


@strawberry.input
class CreateFormInput:
    school_id: strawberry.ID
    title: str
    questions: list[FormQuestionInput]


@strawberry.type
class CreateFormPayload:
    form: Form | None
    user_errors: list[UserError]


@strawberry.input
class AssignFormInput:
    form_id: strawberry.ID
    student_ids: list[strawberry.ID]
    assign_to_students: bool


@strawberry.type
class AssignFormPayload:
    assignments: list[FormAssignment]
    user_errors: list[UserError]


@strawberry.input
class FormAnswerInput:
    question_id: strawberry.ID
    value: str


@strawberry.input
class SubmitFormInput:
    assignment_id: strawberry.ID
    answers: list[FormAnswerInput]


@strawberry.type
class SubmitFormPayload:
    assignment: FormAssignment | None
    user_errors: list[UserError]


def _user_errors(problems: Sequence[data.Problem]) -> list[UserError]:
    return [UserError(code=p.code, message=p.message, field=list(p.field)) for p in problems]


def _not_found(message: str, *field: str) -> UserError:
    return UserError(code="NOT_FOUND", message=message, field=list(field))


def _require_forms_at(viewer: Viewer, *, school_id: int, district_id: int) -> None:
    """In scope through a staff role, but not one that administers forms."""
    held = viewer.scope.school_capabilities(school_id=school_id, district_id=district_id)
    if Capability.FORMS not in held:
        raise Forbidden("Your role does not allow managing this school's forms.")


@strawberry.type
class FormMutation:
    @strawberry.mutation(
        description="A custom form of a school, with its questions in order.",
        extensions=staff_writes(Capability.FORMS),
    )
    async def create_form(self, info: Info, input: CreateFormInput) -> CreateFormPayload:
        db, viewer = info.context.db, info.context.viewer
        school_pk = pk_of(input.school_id, "School")
        school = (
            await data.school_for_staff(db, viewer, school_pk) if school_pk is not None else None
        )
        if school is None:
            return CreateFormPayload(
                form=None, user_errors=[_not_found("No such school.", "input", "schoolId")]
            )
        _require_forms_at(viewer, school_id=school.id, district_id=school.district_id)
        questions = [
            data.NewQuestion(
                prompt=q.prompt,
                question_type=q.type.value,
                required=bool(q.required),
                choices=tuple(q.choices) if q.choices is not None else None,
            )
            for q in input.questions
        ]
        problems = data.check_new_form(input.title, questions)
        if problems:
            return CreateFormPayload(form=None, user_errors=_user_errors(problems))
        try:
            form = await data.create_form(
                db,
                school=school,
                title=input.title,
                questions=questions,
                staff_member_id=viewer.staff_member_id,
                now=info.context.clock(),
            )
            await db.commit()
        except BaseException:
            await db.rollback()  # the request commits at its end: leave nothing half-done
            raise
        return CreateFormPayload(form=Form.from_row(form), user_errors=[])

    @strawberry.mutation(
        description=(
            "Assign a form to students, or to their guardians. Assigning it again to a "
            "student for the same audience while it is not submitted returns the same "
            "assignment. Assigning to students needs each student's own login and a "
            "school that shows forms to its students."
        ),
        extensions=staff_writes(Capability.FORMS),
    )
    async def assign_form(self, info: Info, input: AssignFormInput) -> AssignFormPayload:
        db, viewer = info.context.db, info.context.viewer
        form_pk = pk_of(input.form_id, "Form")
        form = await data.form_for_staff(db, viewer, form_pk) if form_pk is not None else None
        if form is None:
            return AssignFormPayload(
                assignments=[], user_errors=[_not_found("No such form.", "input", "formId")]
            )
        _require_forms_at(viewer, school_id=form.school_id, district_id=form.district_id)
        to_students = input.assign_to_students
        pks = [pk_of(s, "Student") for s in input.student_ids]
        students = await data.students_for_staff(db, viewer, [p for p in pks if p is not None])
        errors: list[UserError] = []
        for index, pk in enumerate(pks):
            student = students.get(pk) if pk is not None else None
            at = ("input", "studentIds", str(index))
            if student is None:
                errors.append(_not_found("No such student.", *at))
                continue
            held = viewer.scope.student_capabilities(
                student_id=student.id, school_id=student.school_id, district_id=student.district_id
            )
            if Capability.FORMS not in held:
                raise Forbidden("Your role does not allow assigning forms to this student.")
            if student.school_id != form.school_id:
                errors.append(
                    UserError(
                        code="WRONG_SCHOOL",
                        message="This student is not at the form's school.",
                        field=list(at),
                    )
                )
        if to_students and form.has_guardian_question:
            errors.append(
                UserError(
                    code="GUARDIAN_ONLY_QUESTION",
                    message="This form has a guardian details question, so it cannot go to students.",
                    field=["input", "assignToStudents"],
                )
            )
        if to_students and not data.shows_forms_to_students(form):
            errors.append(
                UserError(
                    code="FORMS_NOT_SHOWN_TO_STUDENTS",
                    message=(
                        "The school does not show forms to students, so they could not see "
                        "or submit this one."
                    ),
                    field=["input", "assignToStudents"],
                )
            )
        accounts = await data.login_accounts(db, list(students)) if to_students else {}
        if to_students:
            errors.extend(
                UserError(
                    code="STUDENT_HAS_NO_LOGIN",
                    message="This student has no login of their own.",
                    field=["input", "studentIds", str(index)],
                )
                for index, pk in enumerate(pks)
                if pk in students and pk not in accounts
            )
        if errors:
            return AssignFormPayload(assignments=[], user_errors=errors)

        ordered = list(dict.fromkeys(p for p in pks if p is not None))
        now = info.context.clock()
        try:
            existing = await data.open_assignments(
                db, form_id=form.id, student_ids=ordered, to_students=to_students
            )
            created = await data.create_assignments(
                db,
                form=form,
                students=[students[p] for p in ordered if p not in existing],
                to_students=to_students,
                accounts=accounts,
                now=now,
            )
            made = {int(r.student_id) for r in created}
            raced = [p for p in ordered if p not in existing and p not in made]
            if raced:
                # A concurrent assignForm made these first: return its rows.
                existing.update(
                    await data.latest_assignments(
                        db, form_id=form.id, student_ids=raced, to_students=to_students
                    )
                )
            audience = "the student" if to_students else "the student's guardians"
            await record(
                db,
                Actor.of(viewer),
                [
                    Event(
                        district_id=row.district_id,
                        action="FORM_ASSIGNED",
                        student_id=row.student_id,
                        detail=f"Form '{form.title}' assigned to {audience}",
                    )
                    for row in created
                ],
                at=now,
            )
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        by_student = {**{int(r.student_id): r for r in created}, **existing}
        return AssignFormPayload(
            assignments=[FormAssignment.from_row(by_student[p]) for p in ordered], user_errors=[]
        )

    @strawberry.mutation(
        description="Submit the answers of an assignment, once, as its assignee.",
        extensions=signed_in_writes(),
    )
    async def submit_form(self, info: Info, input: SubmitFormInput) -> SubmitFormPayload:
        db, viewer = info.context.db, info.context.viewer
        assignment_pk = pk_of(input.assignment_id, "FormAssignment")
        assignment = (
            await data.assignment_for_assignee(db, viewer, assignment_pk)
            if assignment_pk is not None
            else None
        )
        if assignment is None:
            return SubmitFormPayload(
                assignment=None,
                user_errors=[_not_found("No such assignment.", "input", "assignmentId")],
            )
        already = UserError(
            code="ALREADY_SUBMITTED",
            message="This form has been submitted already.",
            field=["input", "assignmentId"],
        )
        if assignment.status == FormAssignmentStatus.SUBMITTED:
            return SubmitFormPayload(assignment=None, user_errors=[already])
        questions = await data.questions_of_form(db, assignment.form_id)
        answers = [
            data.Answer(question_id=pk_of(a.question_id, "FormQuestion"), value=a.value)
            for a in input.answers
        ]
        by_student = assignment.assigned_to_student or viewer.kind is AccountKind.STUDENT
        problems, stored = data.check_answers(questions, answers, by_student=by_student)
        if problems:
            return SubmitFormPayload(assignment=None, user_errors=_user_errors(problems))

        assert viewer.account_id is not None  # signed_in_writes
        now = info.context.clock()
        try:
            if not await data.submit(
                db, assignment=assignment, answers=stored, account_id=viewer.account_id, now=now
            ):
                return SubmitFormPayload(assignment=None, user_errors=[already])
            await record(
                db,
                Actor.of(viewer),
                [
                    Event(
                        district_id=assignment.district_id,
                        action="FORM_SUBMITTED",
                        student_id=assignment.student_id,
                        detail=f"Form assignment {assignment.id} submitted",
                    )
                ],
                at=now,
            )
            submitted = await data.assignment_by_id(db, assignment.id)
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        return SubmitFormPayload(assignment=FormAssignment.from_row(submitted), user_errors=[])
