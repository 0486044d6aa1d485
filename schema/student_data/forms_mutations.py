"""``createForm``, ``assignForm`` and ``submitForm``.

Admins of a school (FORMS there) create and assign its forms; the assignee
submits: the student's own account for a student assignment, a guardian
with an active grant for a guardian assignment. For anyone else an
assignment does not exist (NOT_FOUND), whatever they may read of it. The
lookups and checks live in ``resolvers.student_data.forms_writes``; this
module maps input to them (docs/mutations.md).
"""

from __future__ import annotations

from typing import Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.roles import AccountKind
from resolvers.events import Actor, Event, record
from resolvers.student_data import forms_writes as data
from resolvers.tables import AccessAction
from resolvers.writes import Refusal
from schema.enums import FormAssignmentStatus, QuestionType
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import finish, transaction, user_errors
from schema.node import pk_of
from schema.restrictions import signed_in_writes, staff_writes
from schema.student_data.forms import Form, FormAssignment


@strawberry.input(description="One question of a new form.")
class FormQuestionInput:
    prompt: str = strawberry.field(description="The question as shown.")
    type: QuestionType = strawberry.field(description="What kind of answer it takes.")
    required: bool | None = strawberry.field(
        default=False, description="Whether a submission must answer it."
    )
    choices: list[str] | None = strawberry.field(
        default=None, description="The choices, for a CHOICE question only."
    )


@strawberry.input(description="The input of createForm.")
class CreateFormInput:
    school_id: strawberry.ID = strawberry.field(description="The school (its global ID).")
    title: str = strawberry.field(description="The form's title.")
    questions: list[FormQuestionInput] = strawberry.field(description="The questions, in order.")


@strawberry.type(description="What createForm answers: the form made.")
class CreateFormPayload:
    form: Form | None = strawberry.field(description="The form; null when refused.")
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of assignForm.")
class AssignFormInput:
    form_id: strawberry.ID = strawberry.field(description="The form (its global ID).")
    student_ids: list[strawberry.ID] = strawberry.field(
        description="The students it is about (global IDs)."
    )
    assign_to_students: bool = strawberry.field(
        description="True: the students fill it in; false: their guardians."
    )


@strawberry.type(description="What assignForm answers: the assignments.")
class AssignFormPayload:
    assignments: list[FormAssignment] = strawberry.field(
        description="One assignment per student (an open one is returned as it is)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The answer to one question.")
class FormAnswerInput:
    question_id: strawberry.ID = strawberry.field(description="The question (FormQuestion.id).")
    value: str = strawberry.field(description="The answer, as text (a date as YYYY-MM-DD).")


@strawberry.input(description="The input of submitForm.")
class SubmitFormInput:
    assignment_id: strawberry.ID = strawberry.field(description="The assignment (its global ID).")
    answers: list[FormAnswerInput] = strawberry.field(
        description="One answer per question answered."
    )


@strawberry.type(description="What submitForm answers: the assignment, submitted.")
class SubmitFormPayload:
    assignment: FormAssignment | None = strawberry.field(
        description="The assignment; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


SCHOOL_ID = ("input", "schoolId")
FORM_ID = ("input", "formId")
STUDENT_IDS = ("input", "studentIds")
ASSIGN_TO_STUDENTS = ("input", "assignToStudents")
ASSIGNMENT_ID = ("input", "assignmentId")
GUARDIAN_ONLY_QUESTION = Refusal(
    "GUARDIAN_ONLY_QUESTION",
    "This form has a guardian details question, so it cannot go to students.",
    ASSIGN_TO_STUDENTS,
)
FORMS_NOT_SHOWN_TO_STUDENTS = Refusal(
    "FORMS_NOT_SHOWN_TO_STUDENTS",
    "The school does not show forms to students, so they could not see or submit this one.",
    ASSIGN_TO_STUDENTS,
)
ALREADY_SUBMITTED = Refusal(
    "ALREADY_SUBMITTED", "This form has been submitted already.", ASSIGNMENT_ID
)


@strawberry.type
class FormMutation:
    @strawberry.mutation(
        description="A custom form of a school, with its questions in order.",
        extensions=staff_writes(Capability.FORMS),
    )
    async def create_form(
        self,
        info: Info,
        input: Annotated[
            CreateFormInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> CreateFormPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        questions = [
            data.NewQuestion(
                prompt=q.prompt,
                question_type=q.type.value,
                required=bool(q.required),
                choices=tuple(q.choices) if q.choices is not None else None,
            )
            for q in input.questions
        ]
        async with transaction(db):
            school, refusals = await data.school_for_forms(
                db, viewer, pk_of(input.school_id, "School"), field=SCHOOL_ID
            )
            if school is not None:
                refusals = data.check_new_form(input.title, questions)
            form = None
            if school is not None and not refusals:
                form = await data.create_form(
                    db,
                    school=school,
                    title=input.title,
                    questions=questions,
                    staff_member_id=viewer.staff_member_id,
                    now=context.clock(),
                )
            await finish(db, refusals)
        return CreateFormPayload(
            form=Form.from_row(form) if form is not None else None,
            user_errors=user_errors(refusals),
        )

    @strawberry.mutation(
        description=(
            "Assign a form to students, or to their guardians. Assigning it again to a "
            "student for the same audience while it is not submitted returns the same "
            "assignment. Assigning to students needs each student's own login and a "
            "school that shows forms to its students."
        ),
        extensions=staff_writes(Capability.FORMS),
    )
    async def assign_form(
        self,
        info: Info,
        input: Annotated[
            AssignFormInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> AssignFormPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        to_students = input.assign_to_students
        pks = [pk_of(s, "Student") for s in input.student_ids]
        ordered = list(dict.fromkeys(p for p in pks if p is not None))
        assignments: list[FormAssignment] = []
        async with transaction(db):
            form, refusals = await data.form_for_assigning(
                db, viewer, pk_of(input.form_id, "Form"), field=FORM_ID
            )
            students: dict[int, Row[Any]] = {}
            accounts: dict[int, int] = {}
            if form is not None:
                students, refusals = await data.students_for_assigning(
                    db, viewer, pks, school_id=form.school_id, field=STUDENT_IDS
                )
                if to_students and form.has_guardian_question:
                    refusals.append(GUARDIAN_ONLY_QUESTION)
                if to_students and not data.shows_forms_to_students(form):
                    refusals.append(FORMS_NOT_SHOWN_TO_STUDENTS)
                if to_students:
                    accounts = await data.login_accounts(db, list(students))
                    refusals += [
                        Refusal(
                            "STUDENT_HAS_NO_LOGIN",
                            "This student has no login of their own.",
                            (*STUDENT_IDS, str(index)),
                        )
                        for index, pk in enumerate(pks)
                        if pk in students and pk not in accounts
                    ]
            if form is not None and not refusals:
                now = context.clock()
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
                            action=AccessAction.FORM_ASSIGNED,
                            student_id=row.student_id,
                            detail=f"Form '{form.title}' assigned to {audience}",
                        )
                        for row in created
                    ],
                    at=now,
                )
                by_student = {**{int(r.student_id): r for r in created}, **existing}
                assignments = [FormAssignment.from_row(by_student[p]) for p in ordered]
            await finish(db, refusals)
        return AssignFormPayload(assignments=assignments, user_errors=user_errors(refusals))

    @strawberry.mutation(
        description="Submit the answers of an assignment, once, as its assignee.",
        extensions=signed_in_writes(),
    )
    async def submit_form(
        self,
        info: Info,
        input: Annotated[
            SubmitFormInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> SubmitFormPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        assert viewer.account_id is not None  # signed_in_writes
        submitted = None
        async with transaction(db):
            assignment, refusals = await data.assignment_for_assignee(
                db, viewer, pk_of(input.assignment_id, "FormAssignment"), field=ASSIGNMENT_ID
            )
            if assignment is not None and assignment.status == FormAssignmentStatus.SUBMITTED:
                refusals = [ALREADY_SUBMITTED]
            stored: list[tuple[int, str]] = []
            if assignment is not None and not refusals:
                questions = await data.questions_of_form(db, assignment.form_id)
                answers = [
                    data.Answer(question_id=pk_of(a.question_id, "FormQuestion"), value=a.value)
                    for a in input.answers
                ]
                by_student = assignment.assigned_to_student or viewer.kind is AccountKind.STUDENT
                refusals, stored = data.check_answers(questions, answers, by_student=by_student)
            if assignment is not None and not refusals:
                now = context.clock()
                if await data.submit(
                    db, assignment=assignment, answers=stored, account_id=viewer.account_id, now=now
                ):
                    await record(
                        db,
                        Actor.of(viewer),
                        [
                            Event(
                                district_id=assignment.district_id,
                                action=AccessAction.FORM_SUBMITTED,
                                student_id=assignment.student_id,
                                detail=f"Form assignment {assignment.id} submitted",
                            )
                        ],
                        at=now,
                    )
                    submitted = await data.assignment_by_id(db, assignment.id)
                else:
                    refusals = [ALREADY_SUBMITTED]  # submitted meanwhile
            await finish(db, refusals)
        return SubmitFormPayload(
            assignment=FormAssignment.from_row(submitted) if submitted is not None else None,
            user_errors=user_errors(refusals),
        )
