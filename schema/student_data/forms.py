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
from schema.relay import Connection, connection, page_request

if TYPE_CHECKING:
    from schema.directory.accounts import Account
    from schema.directory.students import Student


@strawberry.type
class FormQuestion:
    id: strawberry.ID
    prompt: str
    type: QuestionType
    required: bool
    choices: list[str] | None

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


@strawberry.type
class Form(Node):
    id: strawberry.ID
    title: str
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Form:
        return cls(id=to_global_id("Form", row.id), title=row.title, pk=row.id)

    @strawberry.field
    async def questions(self, info: Info) -> list[FormQuestion]:
        rows = await info.context.loaders.questions_by_form_id.load(self.pk)
        return [FormQuestion.from_row(row) for row in rows]


@strawberry.type
class FormAssignment(Node):
    id: strawberry.ID
    status: FormAssignmentStatus
    submitted_at: dt.datetime | None
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

    @strawberry.field
    async def form(self, info: Info) -> Form:
        row = await info.context.loaders.form_by_id.load(self.form_id)
        assert row is not None  # a foreign key; forms are not deleted
        return Form.from_row(row)

    @strawberry.field
    async def student(
        self, info: Info
    ) -> Annotated[Student, strawberry.lazy("schema.directory.students")]:
        row = await info.context.loaders.student_by_id.load(self.student_id)
        assert row is not None
        return students.Student.from_row(row)

    @strawberry.field
    async def assignee(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.directory.accounts")] | None:
        if self.assignee_account_id is None:
            return None
        row = await info.context.loaders.account_by_id.load(self.assignee_account_id)
        return accounts.Account.from_row(row) if row is not None else None


async def form_assignments(
    info: Info, first: int | None, after: str | None
) -> Connection[FormAssignment]:
    """``Query.formAssignments``: oldest first, cut to what the viewer may see."""
    request = page_request(info, first, after, data.ORDER)
    db, viewer = info.context.db, info.context.viewer
    page = await data.assignment_page(db, viewer, request)
    return connection(page, FormAssignment.from_row, lambda: data.assignment_count(db, viewer))
