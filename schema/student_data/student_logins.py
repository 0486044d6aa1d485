"""StudentLoginBill and ``Query.studentLoginBill``.

The school id comes from the client: a school out of scope does not exist
(null); a school in scope without STUDENT_LOGIN_SETTINGS there is FORBIDDEN.
The check sits here rather than on a field because the school is an
argument, not the object being resolved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import strawberry

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from resolvers.student_data import student_logins as data
from schema.directory import schools
from schema.graphql_context import Info
from schema.node import pk_of
from schema.relay import BadUserInput

if TYPE_CHECKING:
    from schema.directory.schools import School


@strawberry.type(description="What a school's student logins cost for one term.")
class StudentLoginBill:
    school: Annotated[School, strawberry.lazy("schema.directory.schools")] = strawberry.field(
        description="The school billed."
    )
    term_name: str = strawberry.field(description="The term.")
    students_with_logins: int = strawberry.field(
        description="Students who had a login during the term."
    )
    amount: int = strawberry.field(description="In minor units of the currency (50 = 50p).")
    currency: str = strawberry.field(description="The amount's currency (ISO 4217).")


async def student_login_bill(
    info: Info, school_id: strawberry.ID, term_name: str
) -> StudentLoginBill | None:
    db, viewer = info.context.db, info.context.viewer
    pk = pk_of(school_id, "School")
    school = await data.school_in_scope(db, viewer, pk) if pk is not None else None
    if school is None:
        return None
    held = viewer.scope.school_capabilities(school_id=school.id, district_id=school.district_id)
    if Capability.STUDENT_LOGIN_SETTINGS not in held:
        raise Forbidden("Your role does not allow seeing a school's student login bill.")
    term = await data.term_by_title(db, school.district_id, term_name)
    if term is None:
        raise BadUserInput("unknown term", "termName")
    students = await data.students_with_logins(
        db,
        school_id=school.id,
        district_id=school.district_id,
        first_day=term.start_date,
        last_day=term.end_date,
    )
    return StudentLoginBill(
        school=schools.School.from_row(school),
        term_name=term.title,
        students_with_logins=students,
        amount=students * school.price_per_student_per_term,
        currency=school.currency,
    )
