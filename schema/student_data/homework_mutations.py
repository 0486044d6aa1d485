"""``createHomework``: recorded as the viewer's linked staff record.

The field's guard (``staff_writes(HOMEWORK)``) already refused accounts
without an active linked staff record ("look, don't touch"); here the
section must be in scope (else NOT_FOUND) and the viewer must teach it or
administer its school or district (else FORBIDDEN): ``section_for_homework``.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from permissions.capabilities import Capability
from resolvers.student_data import homework_writes
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import finish, text_refusals, transaction, user_errors
from schema.node import pk_of
from schema.restrictions import staff_writes
from schema.student_data.homework import Homework

MAX_TITLE_LENGTH = 255
MAX_DETAILS_LENGTH = 10_000


@strawberry.input(description="The input of createHomework.")
class CreateHomeworkInput:
    section_id: strawberry.ID = strawberry.field(description="The class (its global ID).")
    title: str = strawberry.field(description="The title (required, bounded).")
    details: str | None = strawberry.field(
        default=None, description="What to do (optional, bounded)."
    )
    due_on: dt.date = strawberry.field(description="The day it is due.")


@strawberry.type(description="What createHomework answers: the homework recorded.")
class CreateHomeworkPayload:
    homework: Homework | None = strawberry.field(description="The homework; null when refused.")
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


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
        self,
        info: Info,
        input: Annotated[
            CreateHomeworkInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> CreateHomeworkPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        title = input.title.strip()
        details = input.details.strip() if input.details is not None else None
        homework = None
        async with transaction(db):
            section, refusals = await homework_writes.section_for_homework(
                db, viewer, pk_of(input.section_id, "Section"), field=("input", "sectionId")
            )
            refusals += text_refusals(
                title,
                field="title",
                max_length=MAX_TITLE_LENGTH,
                missing="Give the homework a title.",
            )
            refusals += text_refusals(details, field="details", max_length=MAX_DETAILS_LENGTH)
            if section is not None and not refusals:
                assert viewer.staff_member_id is not None  # staff_writes
                assert viewer.account_id is not None
                homework = await homework_writes.create_homework(
                    db,
                    section=section,
                    title=title,
                    details=details or None,
                    due_on=input.due_on,
                    staff_member_id=viewer.staff_member_id,
                    account_id=viewer.account_id,
                    now=context.clock(),
                )
            await finish(db, refusals)
        return CreateHomeworkPayload(
            homework=Homework.from_row(homework) if homework is not None else None,
            user_errors=user_errors(refusals),
        )
