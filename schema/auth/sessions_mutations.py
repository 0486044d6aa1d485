"""Mutations on who may sign in and as whom: ``terminateSessions`` and
``linkAccountToStaffMember``.

Both act on accounts, which are global: an account is reached only through
the places where the viewer holds the mutation's capability
(``resolvers.roles.narrowed``), never through its other relations.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from permissions.capabilities import Capability
from permissions.roles import AccountKind
from permissions.viewer import Viewer, narrowed
from resolvers import events
from resolvers.auth import sign_in as auth
from resolvers.auth import staff_links
from resolvers.auth.roles import account_reached_with, managed_account
from resolvers.directory import accounts as account_data
from resolvers.tables import AccessAction
from resolvers.writes import Refusal, not_found
from schema.directory.accounts import Account
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import finish, text_refusals, transaction, user_errors
from schema.node import pk_of
from schema.restrictions import staff_writes

# revoked_reason holds a short prefix and the reason; the full reason is in
# the audit trail (access_events.detail holds 1000).
MAX_REASON_LENGTH = 500


@strawberry.input(description="The input of terminateSessions.")
class TerminateSessionsInput:
    account_id: strawberry.ID = strawberry.field(description="The account (its global ID).")
    reason: str = strawberry.field(description="Why, for the audit log.")


@strawberry.type(description="What terminateSessions answers: the sessions ended.")
class TerminateSessionsPayload:
    terminated_sessions: int = strawberry.field(description="How many sessions were ended.")
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of linkAccountToStaffMember.")
class LinkAccountToStaffMemberInput:
    account_id: strawberry.ID = strawberry.field(description="The staff account (its global ID).")
    staff_member_id: strawberry.ID = strawberry.field(
        description="The staff record (its global ID)."
    )


@strawberry.type(description="What linkAccountToStaffMember answers: the account, linked.")
class LinkAccountToStaffMemberPayload:
    account: Account | None = strawberry.field(
        description="The account, now linked; null when refused."
    )
    email_mismatch: bool = strawberry.field(
        description=(
            "True when the account's email differs from the staff record's "
            "(an assistant recording for someone)."
        )
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


ACCOUNT_ID = ("input", "accountId")
STAFF_MEMBER_ID = ("input", "staffMemberId")


def _termination_events(
    viewer: Viewer, places: list[auth.AccountPlace], detail: str
) -> list[events.Event]:
    """One event per student of the account that the viewer may end
    sessions for; else one district-level event per district it was reached
    through (a staff account has no students)."""
    scope = viewer.scope
    capability = Capability.TERMINATE_SESSIONS
    students = sorted(
        {
            (p.district_id, p.student_id)
            for p in places
            if p.student_id is not None
            and p.school_id is not None
            and capability
            in scope.student_capabilities(
                student_id=p.student_id, school_id=p.school_id, district_id=p.district_id
            )
        }
    )
    if students:
        return [
            events.Event(
                district_id=d, student_id=s, action=AccessAction.SESSIONS_TERMINATED, detail=detail
            )
            for d, s in students
        ]
    districts = {
        p.district_id
        for p in places
        if capability
        in (
            scope.district_capabilities(district_id=p.district_id)
            if p.school_id is None
            else scope.school_capabilities(school_id=p.school_id, district_id=p.district_id)
        )
    }
    if not districts:
        # The account is the viewer's own: recorded where the viewer holds the role.
        districts = {r.district_id for r in narrowed(viewer, capability).scope.roles}
    return [
        events.Event(district_id=d, action=AccessAction.SESSIONS_TERMINATED, detail=detail)
        for d in sorted(districts)
    ]


@strawberry.type
class SessionMutations:
    @strawberry.mutation(
        description=(
            "End every session of an account now (the school's security contact only). "
            "Its access tokens fail on their next request and refresh is refused."
        ),
        extensions=staff_writes(Capability.TERMINATE_SESSIONS),
    )
    async def terminate_sessions(
        self,
        info: Info,
        input: Annotated[
            TerminateSessionsInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> TerminateSessionsPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        reason = input.reason.strip()
        ended = 0
        async with transaction(db):
            refusals = text_refusals(
                reason,
                field="reason",
                max_length=MAX_REASON_LENGTH,
                missing="Say why the sessions are ended; it goes into the audit trail.",
            )
            account_id = pk_of(input.account_id, "Account")
            account = (
                None
                if account_id is None
                else await account_reached_with(
                    db, viewer, account_id, Capability.TERMINATE_SESSIONS
                )
            )
            if account is None:
                refusals.append(not_found("account", ACCOUNT_ID))
            if account is not None and not refusals:
                now = context.clock()
                ended = await auth.end_account_sessions(
                    db, account_id=account.id, now=now, reason=f"terminated: {reason}"
                )
                places = await auth.places_of_account(db, account.id)
                detail = f"{ended} session(s) ended. Reason: {reason}"
                await events.record(
                    db,
                    events.Actor.of(viewer),
                    _termination_events(viewer, places, detail),
                    at=now,
                )
            await finish(db, refusals)
        return TerminateSessionsPayload(
            terminated_sessions=ended, user_errors=user_errors(refusals)
        )

    @strawberry.mutation(
        description=(
            "Link a login account to a staff record: the account then records data as "
            "that record and holds its SIS roles."
        ),
        extensions=staff_writes(Capability.ACCOUNT_LIFECYCLE),
    )
    async def link_account_to_staff_member(
        self,
        info: Info,
        input: Annotated[
            LinkAccountToStaffMemberInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> LinkAccountToStaffMemberPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        linked, mismatch = None, False
        async with transaction(db):
            account_id = pk_of(input.account_id, "Account")
            staff_member_id = pk_of(input.staff_member_id, "StaffMember")
            account = None if account_id is None else await managed_account(db, viewer, account_id)
            staff = (
                None
                if staff_member_id is None
                else await staff_links.managed_staff_member(db, viewer, staff_member_id)
            )
            refusals: list[Refusal] = []
            if account is None:
                refusals.append(not_found("account", ACCOUNT_ID))
            elif account.revoked_at is not None:
                refusals.append(
                    Refusal(
                        "ACCOUNT_REVOKED", "This account's credentials were revoked.", ACCOUNT_ID
                    )
                )
            elif account.kind != AccountKind.STAFF:
                refusals.append(
                    Refusal(
                        "NOT_A_STAFF_ACCOUNT",
                        "Only staff accounts are linked to staff records.",
                        ACCOUNT_ID,
                    )
                )
            if staff is None:
                refusals.append(not_found("staff member", STAFF_MEMBER_ID))
            elif not staff.active:
                refusals.append(
                    Refusal(
                        "STAFF_MEMBER_DEACTIVATED",
                        "The SIS deactivated this staff record; it cannot record data.",
                        STAFF_MEMBER_ID,
                    )
                )
            if account is not None and staff is not None and not refusals:
                # Linking hands out the record's SIS roles and takes away the
                # previous record's: both must be within what the viewer may grant.
                for record_id in {staff.id, account.staff_member_id} - {None}:
                    reach = await staff_links.reach_of_staff_member(db, record_id)
                    staff_links.require_may_link(viewer, reach, account_id=account.id)
                mismatch = staff_links.emails_differ(account.email, staff.email)
                if account.staff_member_id != staff.id:
                    now = context.clock()
                    await staff_links.link(db, account_id=account.id, staff_member_id=staff.id)
                    note = " The emails differ." if mismatch else ""
                    await events.record(
                        db,
                        events.Actor.of(viewer),
                        [
                            events.Event(
                                district_id=staff.district_id,
                                action=AccessAction.ACCOUNT_LINKED_TO_STAFF,
                                detail=(
                                    f"Account {account.id} ({account.display_name}) now records "
                                    f"as staff member {staff.id} ({staff.given_name} "
                                    f"{staff.family_name}).{note}"
                                ),
                            )
                        ],
                        at=now,
                    )
                linked = (await account_data.accounts_by_id(db, [account.id]))[0]
            await finish(db, refusals)
        return LinkAccountToStaffMemberPayload(
            account=Account.from_row(linked) if linked is not None else None,
            email_mismatch=mismatch,
            user_errors=user_errors(refusals),
        )
