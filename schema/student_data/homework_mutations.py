"""``createHomework``: recorded as the viewer's linked staff record.

The field's guard (``staff_writes(HOMEWORK)``) already refused accounts
without an active linked staff record ("look, don't touch"); here the
section must be in scope (else NOT_FOUND) and the viewer must teach it or
administer its school or district (else FORBIDDEN).
"""

from __future__ import annotations

import datetime as dt

import strawberry

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from resolvers.student_data import homework_writes
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import text_errors
from schema.node import pk_of
from schema.restrictions import staff_writes
from schema.student_data.homework import Homework

MAX_TITLE_LENGTH = 255
MAX_DETAILS_LENGTH = 10_000


@strawberry.input
class CreateHomeworkInput:
    section_id: strawberry.ID
    title: str
    details: str | None = None
    due_on: dt.date


@strawberry.type
class CreateHomeworkPayload:
    homework: Homework | None
    user_errors: list[UserError]


@strawberry.type
class HomeworkMutations:
    @strawberry.mutation(
        description=(
            "Record homework for a section, as the viewer's linked staff record (a teacher of "
            "the section, or an administrator of its school or district)."
        ),
        extensions=staff_writes(Capability.HOMEWORK),
    )
    async def create_homework(
        self, info: Info, input: CreateHomeworkInput
    ) -> CreateHomeworkPayload:
        context = info.context
        viewer = context.viewer
        errors: list[UserError] = []
        section_id = pk_of(input.section_id, "Section")
        section = (
            None
            if section_id is None
            else await homework_writes.section_in_scope(context.db, viewer, section_id)
        )
        if section is None:
            errors.append(
                UserError(
                    code="NOT_FOUND", message="No such section.", field=["input", "sectionId"]
                )
            )
        title = input.title.strip()
        errors += text_errors(
            title, field="title", max_length=MAX_TITLE_LENGTH, missing="Give the homework a title."
        )
        details = input.details.strip() if input.details is not None else None
        errors += text_errors(details, field="details", max_length=MAX_DETAILS_LENGTH)
        if section is not None and not viewer.scope.may_record_for_section(
            section_id=section.id, school_id=section.school_id, district_id=section.district_id
        ):
            raise Forbidden(
                "Only the section's teachers and its school's administrators record homework."
            )
        if errors:
            return CreateHomeworkPayload(homework=None, user_errors=errors)
        assert section is not None
        assert viewer.staff_member_id is not None
        assert viewer.account_id is not None
        row = await homework_writes.create_homework(
            context.db,
            section=section,
            title=title,
            details=details or None,
            due_on=input.due_on,
            staff_member_id=viewer.staff_member_id,
            account_id=viewer.account_id,
            now=context.clock(),
        )
        await context.db.commit()
        return CreateHomeworkPayload(homework=Homework.from_row(row), user_errors=[])
