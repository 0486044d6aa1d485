"""``updateStudentLoginSettings``: a school's student logins, and the
accounts they imply, changed in one transaction.

The payload adds to the contract's (``settings``, ``userErrors``) what the
change did: how many logins were made and ended, and the students who should
have one but cannot, having no synced email (docs/architecture.md section 3: reported, never
skipped silently).
"""

from __future__ import annotations

import strawberry

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from resolvers.events import Actor, Event, record
from resolvers.student_data import student_logins_writes as data
from schema.directory.schools import StudentLoginSettings
from schema.directory.students import Student
from schema.enums import StudentSection
from schema.errors import UserError
from schema.graphql_context import Info
from schema.node import pk_of
from schema.restrictions import staff_writes


@strawberry.input
class UpdateStudentLoginSettingsInput:
    school_id: strawberry.ID
    enabled: bool
    enabled_year_group_ids: list[strawberry.ID]
    visible_sections: list[StudentSection]


@strawberry.type
class UpdateStudentLoginSettingsPayload:
    settings: StudentLoginSettings | None
    user_errors: list[UserError]
    student_logins_created: int = strawberry.field(
        description="Students who got a login with this change."
    )
    student_logins_ended: int = strawberry.field(
        description="Students whose login ended with this change: their sessions ended at once."
    )
    without_email_ids: strawberry.Private[tuple[int, ...]] = ()

    @strawberry.field(
        description=(
            "Enrolled students in an enabled year group who cannot have a login because "
            "the SIS has no email for them."
        )
    )
    async def students_without_email(self, info: Info) -> list[Student]:
        rows = await info.context.loaders.student_by_id.load_many(list(self.without_email_ids))
        return [Student.from_row(row) for row in rows if row is not None]


# access_events.detail holds at most this many characters.
DETAIL_MAX = 1000


def _refused(*errors: UserError) -> UpdateStudentLoginSettingsPayload:
    return UpdateStudentLoginSettingsPayload(
        settings=None, user_errors=list(errors), student_logins_created=0, student_logins_ended=0
    )


def _settings_detail(settings: StudentLoginSettings) -> str:
    year_groups = ", ".join(y.name for y in settings.enabled_year_groups) or "none"
    sections = " ".join(s.value for s in settings.visible_sections) or "none"
    state = "on" if settings.enabled else "off"
    return f"Student logins {state}; year groups: {year_groups}; visible: {sections}"


@strawberry.type
class StudentLoginMutation:
    @strawberry.mutation(
        description=(
            "Turn student logins on or off for a school, choose its year groups and what "
            "students see. Student accounts are made and ended to match, at once."
        ),
        extensions=staff_writes(Capability.STUDENT_LOGIN_SETTINGS),
    )
    async def update_student_login_settings(
        self, info: Info, input: UpdateStudentLoginSettingsInput
    ) -> UpdateStudentLoginSettingsPayload:
        db, viewer = info.context.db, info.context.viewer
        school_pk = pk_of(input.school_id, "School")
        school = (
            await data.school_for_settings(db, viewer, school_pk) if school_pk is not None else None
        )
        if school is None:
            return _refused(
                UserError(code="NOT_FOUND", message="No such school.", field=["input", "schoolId"])
            )
        held = viewer.scope.school_capabilities(school_id=school.id, district_id=school.district_id)
        if Capability.STUDENT_LOGIN_SETTINGS not in held:
            raise Forbidden("Your role does not allow changing this school's student logins.")
        pks = [pk_of(y, "YearGroup") for y in input.enabled_year_group_ids]
        found = await data.year_group_ids_of_school(
            db,
            school_id=school.id,
            district_id=school.district_id,
            year_group_ids=[p for p in pks if p is not None],
        )
        missing = [
            UserError(
                code="NOT_FOUND",
                message="No such year group at this school.",
                field=["input", "enabledYearGroupIds", str(index)],
            )
            for index, pk in enumerate(pks)
            if pk is None or pk not in found
        ]
        if missing:
            return _refused(*missing)

        now = info.context.clock()
        actor = Actor.of(viewer)
        try:
            await data.save_settings(
                db,
                school_id=school.id,
                district_id=school.district_id,
                enabled=input.enabled,
                year_group_ids=found,
                visible_sections=input.visible_sections,
            )
            outcome = await data.reconcile_student_logins(
                db, school_ids=[school.id], now=now, actor=actor
            )
            saved, year_groups = await data.school_with_year_groups(db, school.id)
            settings = StudentLoginSettings.from_row(saved, year_groups)
            await record(
                db,
                actor,
                [
                    Event(
                        district_id=school.district_id,
                        action="STUDENT_LOGIN_SETTINGS_CHANGED",
                        detail=f"{school.name}: {_settings_detail(settings)}"[:DETAIL_MAX],
                    )
                ],
                at=now,
            )
            await db.commit()
        except BaseException:
            await db.rollback()  # the request commits at its end: leave nothing half-done
            raise
        return UpdateStudentLoginSettingsPayload(
            settings=settings,
            user_errors=[],
            student_logins_created=outcome.logins_created,
            student_logins_ended=outcome.logins_ended,
            without_email_ids=outcome.students_without_email,
        )
