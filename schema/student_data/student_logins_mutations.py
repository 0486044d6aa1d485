"""``updateStudentLoginSettings``: a school's student logins, and the
accounts they imply, changed in one transaction.

The payload adds to the contract's (``settings``, ``userErrors``) what the
change did: how many logins were made and ended, and the students who should
have one but cannot, having no synced email (docs/architecture.md section 3: reported, never
skipped silently).
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from permissions.capabilities import Capability
from resolvers.auth.welcome import welcome_emails
from resolvers.events import Actor, Event, record
from resolvers.outbox import enqueue
from resolvers.student_data import student_logins_writes as data
from resolvers.tables import AccessAction
from schema.directory.schools import StudentLoginSettings
from schema.directory.students import Student
from schema.enums import StudentSection
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import finish, transaction, user_errors
from schema.node import pk_of
from schema.restrictions import staff_writes


@strawberry.input(description="The input of updateStudentLoginSettings.")
class UpdateStudentLoginSettingsInput:
    school_id: strawberry.ID = strawberry.field(description="The school (its global ID).")
    enabled: bool = strawberry.field(description="Student logins on or off.")
    enabled_year_group_ids: list[strawberry.ID] = strawberry.field(
        description="The year groups whose students get logins (global IDs)."
    )
    visible_sections: list[StudentSection] = strawberry.field(
        description="What students see of their own record."
    )


@strawberry.type(
    description="What updateStudentLoginSettings answers: the settings as they now are."
)
class UpdateStudentLoginSettingsPayload:
    settings: StudentLoginSettings | None = strawberry.field(
        description="The settings; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )
    student_logins_created: int = strawberry.field(
        description="Students who got a login with this change."
    )
    student_logins_ended: int = strawberry.field(
        description="Students whose login ended with this change: their sessions ended at once."
    )
    welcome_emails_sent: int = strawberry.field(
        default=0,
        description=(
            "Welcome emails sent to students who got a login with this change, each with a "
            "link to choose their password."
        ),
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


SCHOOL_ID = ("input", "schoolId")
ENABLED_YEAR_GROUP_IDS = ("input", "enabledYearGroupIds")


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
        self,
        info: Info,
        input: Annotated[
            UpdateStudentLoginSettingsInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> UpdateStudentLoginSettingsPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        settings, outcome, welcomes = None, None, []
        async with transaction(db):
            school, refusals = await data.school_for_settings(
                db, viewer, pk_of(input.school_id, "School"), field=SCHOOL_ID
            )
            year_group_ids: frozenset[int] = frozenset()
            if school is not None:
                year_group_ids, refusals = await data.year_groups_of_school(
                    db,
                    school,
                    [pk_of(y, "YearGroup") for y in input.enabled_year_group_ids],
                    field=ENABLED_YEAR_GROUP_IDS,
                )
            if school is not None and not refusals:
                now = context.clock()
                actor = Actor.of(viewer)
                await data.save_settings(
                    db,
                    school_id=school.id,
                    district_id=school.district_id,
                    enabled=input.enabled,
                    year_group_ids=year_group_ids,
                    visible_sections=input.visible_sections,
                )
                outcome = await data.reconcile_student_logins(
                    db, school_ids=[school.id], now=now, actor=actor
                )
                # Each new login's welcome email, with a link to choose a password.
                welcomes = await welcome_emails(
                    db,
                    await data.live_accounts_of_students(db, outcome.enabled_student_ids),
                    now=now,
                    lifetime=context.policy.welcome_link_lifetime,
                    public_url=context.policy.public_url,
                )
                await enqueue(db, welcomes, now=now)
                saved, year_groups = await data.school_with_year_groups(db, school.id)
                settings = StudentLoginSettings.from_row(saved, year_groups)
                await record(
                    db,
                    actor,
                    [
                        Event(
                            district_id=school.district_id,
                            action=AccessAction.STUDENT_LOGIN_SETTINGS_CHANGED,
                            detail=f"{school.name}: {_settings_detail(settings)}"[:DETAIL_MAX],
                        )
                    ],
                    at=now,
                )
            await finish(db, refusals)
        return UpdateStudentLoginSettingsPayload(
            settings=settings,
            user_errors=user_errors(refusals),
            student_logins_created=outcome.logins_created if outcome is not None else 0,
            student_logins_ended=outcome.logins_ended if outcome is not None else 0,
            welcome_emails_sent=len(welcomes),
            without_email_ids=outcome.students_without_email if outcome is not None else (),
        )
