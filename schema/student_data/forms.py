"""Form, FormQuestion, FormAssignment and ``Query.formAssignments``.

Which assignments a viewer sees is the SQL filter of
``resolvers.forms.assignment_filter``; a form, its questions, its student
and assignee are on the path to a visible assignment.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from resolvers.student_data import forms as data
from schema.directory import accounts, students
from schema.enums import FormAssignmentStatus, QuestionType
from schema.graphql_context import Info
from schema.node import Node, to_global_id
from schema.relay import Connection, PageArgs, connection, page_request

if TYPE_CHECKING:
    from schema.directory.accounts import Account
    from schema.directory.students import Student


@strawberry.type(
    description="One question of a form, in the form's order. Not a Node: a question has no access rule of its own (whoever may see the form sees its questions), so it is reached through Form.questions, never by node(id); its id is what FormAnswerInput.questionId names."
)
class FormQuestion:
    id: strawberry.ID = strawberry.field(
        description="The question's ID, for FormAnswerInput.questionId."
    )
    prompt: str = strawberry.field(description="The question as shown.")
    type: QuestionType = strawberry.field(description="What kind of answer it takes.")
    required: bool = strawberry.field(description="Whether a submission must answer it.")
    choices: list[str] | None = strawberry.field(
        description="The choices of a CHOICE question; null for other types."
    )

    @classmethod
    def from_row(cls, row: Row[Any]) -> FormQuestion:
        # Stored one choice a line; null for questions without choices.
        choices = row.choices.splitlines() if row.choices is not None else None
        return cls(
            id=to_global_id("FormQuestion", row.id),
            prompt=row.prompt,
            type=QuestionType(row.question_type),
            required=row.required,
            choices=choices,
        )


@strawberry.type(description="A custom form of a school.")
class Form(Node):
    title: str = strawberry.field(description="The form's title.")
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Form:
        return cls(id=to_global_id("Form", row.id), title=row.title, pk=row.id)

    @strawberry.field(description="The questions, in order.")
    async def questions(self, info: Info) -> list[FormQuestion]:
        rows = await info.context.loaders.questions_by_form_id.load(self.pk)
        return [FormQuestion.from_row(row) for row in rows]


@strawberry.type(
    description="A form to be filled in about one student, by a guardian or the student."
)
class FormAssignment(Node):
    status: FormAssignmentStatus = strawberry.field(description="ASSIGNED until submitted.")
    submitted_at: dt.datetime | None = strawberry.field(
        description="When it was submitted; null until then."
    )
    pk: strawberry.Private[int]
    form_id: strawberry.Private[int]
    student_id: strawberry.Private[int]
    assignee_account_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: Row[Any]) -> FormAssignment:
        return cls(
            id=to_global_id("FormAssignment", row.id),
            status=FormAssignmentStatus(row.status),
            submitted_at=row.submitted_at,
            pk=row.id,
            form_id=row.form_id,
            student_id=row.student_id,
            assignee_account_id=row.assignee_account_id,
        )

    @strawberry.field(description="The form.")
    async def form(self, info: Info) -> Form:
        row = await info.context.loaders.form_by_id.load(self.form_id)
        assert row is not None  # a foreign key; forms are not deleted
        return Form.from_row(row)

    @strawberry.field(description="The student it is about.")
    async def student(
        self, info: Info
    ) -> Annotated[Student, strawberry.lazy("schema.directory.students")]:
        row = await info.context.loaders.student_by_id.load(self.student_id)
        assert row is not None
        return students.Student.from_row(row)

    @strawberry.field(
        description="The account that fills it in; null when assigned to the student's guardians as a group."
    )
    async def assignee(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.directory.accounts")] | None:
        if self.assignee_account_id is None:
            return None
        row = await info.context.loaders.account_by_id.load(self.assignee_account_id)
        return accounts.Account.from_row(row) if row is not None else None


async def form_assignments(info: Info, page_args: PageArgs) -> Connection[FormAssignment]:
    """``Query.formAssignments``: oldest first, cut to what the viewer may see."""
    request = page_request(info, page_args, data.ORDER)
    db, viewer = info.context.db, info.context.viewer
    page = await data.assignment_page(db, viewer, request)
    return connection(page, FormAssignment.from_row, lambda: data.assignment_count(db, viewer))
