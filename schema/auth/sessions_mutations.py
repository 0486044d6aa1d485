"""Mutations on who may sign in and as whom: ``terminateSessions`` and
``linkAccountToStaffMember``.

Both act on accounts, which are global: an account is reached only through
the places where the viewer holds the mutation's capability
(``resolvers.roles.narrowed``), never through its other relations.
"""

from __future__ import annotations

import strawberry

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from permissions.roles import AccountKind
from permissions.viewer import Viewer
from resolvers import events
from resolvers.auth import sign_in as auth
from resolvers.auth import staff_links
from resolvers.auth.roles import account_reached_with, managed_account, narrowed
from resolvers.directory import accounts as account_data
from schema.directory.accounts import Account
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import text_errors
from schema.node import pk_of
from schema.restrictions import staff_writes

# revoked_reason holds a short prefix and the reason; the full reason is in
# the audit trail (access_events.detail holds 1000).
MAX_REASON_LENGTH = 500


@strawberry.input
class TerminateSessionsInput:
    account_id: strawberry.ID
    reason: str


@strawberry.type
class TerminateSessionsPayload:
    terminated_sessions: int
    user_errors: list[UserError]


@strawberry.input
class LinkAccountToStaffMemberInput:
    account_id: strawberry.ID
    staff_member_id: strawberry.ID


@strawberry.type
class LinkAccountToStaffMemberPayload:
    account: Account | None
    email_mismatch: bool = strawberry.field(
        description=(
            "True when the account's email differs from the staff record's "
            "(an assistant recording for someone)."
        )
    )
    user_errors: list[UserError]


def _not_found(field: str, what: str) -> UserError:
    return UserError(code="NOT_FOUND", message=f"No such {what}.", field=["input", field])


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
            events.Event(district_id=d, student_id=s, action="SESSIONS_TERMINATED", detail=detail)
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
        events.Event(district_id=d, action="SESSIONS_TERMINATED", detail=detail)
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
        self, info: Info, input: TerminateSessionsInput
    ) -> TerminateSessionsPayload:
        context = info.context
        viewer = context.viewer
        reason = input.reason.strip()
        errors = text_errors(
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
                context.db, viewer, account_id, Capability.TERMINATE_SESSIONS
            )
        )
        if account is None:
            errors.append(_not_found("accountId", "account"))
        if errors:
            return TerminateSessionsPayload(terminated_sessions=0, user_errors=errors)
        assert account_id is not None
        now = context.clock()
        ended = await auth.end_account_sessions(
            context.db, account_id=account_id, now=now, reason=f"terminated: {reason}"
        )
        places = await auth.places_of_account(context.db, account_id)
        detail = f"{ended} session(s) ended. Reason: {reason}"
        await events.record(
            context.db,
            events.Actor.of(viewer),
            _termination_events(viewer, places, detail),
            at=now,
        )
        await context.db.commit()
        return TerminateSessionsPayload(terminated_sessions=ended, user_errors=[])

    @strawberry.mutation(
        description=(
            "Link a login account to a staff record: the account then records data as "
            "that record and holds its SIS roles."
        ),
        extensions=staff_writes(Capability.ACCOUNT_LIFECYCLE),
    )
    async def link_account_to_staff_member(
        self, info: Info, input: LinkAccountToStaffMemberInput
    ) -> LinkAccountToStaffMemberPayload:
        context = info.context
        viewer = context.viewer
        db = context.db
        account_id = pk_of(input.account_id, "Account")
        staff_member_id = pk_of(input.staff_member_id, "StaffMember")
        account = None if account_id is None else await managed_account(db, viewer, account_id)
        staff = (
            None
            if staff_member_id is None
            else await staff_links.managed_staff_member(db, viewer, staff_member_id)
        )
        errors: list[UserError] = []
        if account is None:
            errors.append(_not_found("accountId", "account"))
        elif account.revoked_at is not None:
            errors.append(
                UserError(
                    code="ACCOUNT_REVOKED",
                    message="This account's credentials were revoked.",
                    field=["input", "accountId"],
                )
            )
        elif account.kind != AccountKind.STAFF:
            errors.append(
                UserError(
                    code="NOT_A_STAFF_ACCOUNT",
                    message="Only staff accounts are linked to staff records.",
                    field=["input", "accountId"],
                )
            )
        if staff is None:
            errors.append(_not_found("staffMemberId", "staff member"))
        elif not staff.active:
            errors.append(
                UserError(
                    code="STAFF_MEMBER_DEACTIVATED",
                    message="The SIS deactivated this staff record; it cannot record data.",
                    field=["input", "staffMemberId"],
                )
            )
        if errors:
            return LinkAccountToStaffMemberPayload(
                account=None, email_mismatch=False, user_errors=errors
            )
        assert account is not None
        assert staff is not None
        # Linking hands out the record's SIS roles and takes away the previous
        # record's: both must be within what the viewer may grant.
        for record_id in {staff.id, account.staff_member_id} - {None}:
            reach = await staff_links.reach_of_staff_member(db, record_id)
            refusal = staff_links.link_refusal(viewer, reach, account_id=account.id)
            if refusal is not None:
                raise Forbidden(refusal)
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
                        action="ACCOUNT_LINKED_TO_STAFF",
                        detail=(
                            f"Account {account.id} ({account.display_name}) now records as "
                            f"staff member {staff.id} ({staff.given_name} {staff.family_name})."
                            f"{note}"
                        ),
                    )
                ],
                at=now,
            )
            await db.commit()
        rows = await account_data.accounts_by_id(db, [account.id])
        row = rows[0]
        assert row is not None
        return LinkAccountToStaffMemberPayload(
            account=Account.from_row(row), email_mismatch=mismatch, user_errors=[]
        )
