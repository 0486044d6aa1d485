"""CrossSchoolLink: an account reaching students at several schools of a
district (``District.crossSchoolLinks``, restricted to its admins)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy.engine import Row

from resolvers.common import split_prefixed
from resolvers.directory import cross_school as data
from resolvers.directory.accounts import ACCOUNT_PREFIX
from schema.directory import accounts, schools, students
from schema.graphql_context import Info
from schema.relay import Connection, PageArgs, connection, page_request

if TYPE_CHECKING:
    from schema.directory.accounts import Account
    from schema.directory.schools import School
    from schema.directory.students import Student


@strawberry.type(
    description="One account with active access to students at two or more schools of a district, for the district dashboard."
)
class CrossSchoolLink:
    account_id: strawberry.Private[int]
    district_id: strawberry.Private[int]

    async def _student_rows(self, info: Info) -> list[Row[Any]]:
        loader = info.context.loaders.linked_students_by_account_id
        return await loader.load((self.account_id, self.district_id))

    @strawberry.field(description="The account holding the access.")
    async def account(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("schema.directory.accounts")]:
        row = await info.context.loaders.account_by_id.load(self.account_id)
        assert row is not None  # the page was made from this account's grants
        return accounts.Account.from_row(row)

    @strawberry.field(description="The schools its students attend, by name.")
    async def schools(
        self, info: Info
    ) -> list[Annotated[School, strawberry.lazy("schema.directory.schools")]]:
        school_ids = list(dict.fromkeys(row.school_id for row in await self._student_rows(info)))
        rows = await info.context.loaders.school_by_id.load_many(school_ids)
        found = [schools.School.from_row(row) for row in rows if row is not None]
        return sorted(found, key=lambda school: (school.name, school.pk))

    @strawberry.field(description="The students it has access to in the district.")
    async def students(
        self, info: Info
    ) -> list[Annotated[Student, strawberry.lazy("schema.directory.students")]]:
        return [students.Student.from_row(row) for row in await self._student_rows(info)]


async def cross_school_links(
    info: Info, district_id: int, page_args: PageArgs
) -> Connection[CrossSchoolLink]:
    request = page_request(info, page_args, data.ORDER)
    db, viewer = info.context.db, info.context.viewer
    page, total = await data.link_page(db, viewer, district_id, request)
    loaders = info.context.loaders
    for row in page.rows:  # the page carries its accounts
        loaders.account_by_id.prime(row.account_id, split_prefixed(row, ACCOUNT_PREFIX))  # type: ignore[arg-type]

    async def count_total() -> int:
        return total if total is not None else await data.link_count(db, viewer, district_id)

    return connection(
        page,
        lambda row: CrossSchoolLink(account_id=row.account_id, district_id=district_id),
        count_total,
    )
