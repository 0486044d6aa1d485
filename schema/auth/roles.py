"""``grantRole`` and ``revokeRole``: roles given by hand, never escalating.

Who may grant what is ``resolvers.auth.roles.grant_refusal``: account management
at the place, every capability of the role already held there, and never a
new role to oneself. Roles from the SIS are the SIS's to take away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import strawberry

from permissions.capabilities import Capability
from permissions.role_grants import Place, require_may_grant
from permissions.roles import AccountKind
from permissions.viewer import Viewer
from resolvers import events
from resolvers.auth import roles
from resolvers.db import Db
from resolvers.directory import accounts as account_data
from resolvers.tables import AccessAction
from resolvers.writes import Refusal, not_found
from schema.directory.accounts import Account
from schema.enums import Role
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import finish, transaction, user_errors
from schema.node import pk_of
from schema.restrictions import staff_writes


@strawberry.input(description="The input of grantRole.")
class GrantRoleInput:
    account_id: strawberry.ID = strawberry.field(description="The staff account (its global ID).")
    role: Role = strawberry.field(description="The role to grant.")
    school_id: strawberry.ID | None = strawberry.field(
        default=None, description="At this school (its global ID); or give districtId."
    )
    district_id: strawberry.ID | None = strawberry.field(
        default=None, description="Across this district (its global ID; district admins only)."
    )


@strawberry.type(description="What grantRole answers: the account with its new role.")
class GrantRolePayload:
    account: Account | None = strawberry.field(
        description="The account, with the role; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of revokeRole.")
class RevokeRoleInput:
    account_id: strawberry.ID = strawberry.field(description="The staff account (its global ID).")
    role: Role = strawberry.field(description="The role to take back.")
    school_id: strawberry.ID | None = strawberry.field(
        default=None, description="The school it was granted at (its global ID); or districtId."
    )
    district_id: strawberry.ID | None = strawberry.field(
        default=None, description="The district it was granted across (its global ID)."
    )


@strawberry.type(description="What revokeRole answers: the account without the role.")
class RevokeRolePayload:
    account: Account | None = strawberry.field(
        description="The account, without the role; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


ACCOUNT_ID = ("input", "accountId")
SCHOOL_ID = ("input", "schoolId")
DISTRICT_ID = ("input", "districtId")
ROLE = ("input", "role")
SIS_MANAGED = Refusal(
    "SIS_MANAGED", "This role comes from the SIS; it ends when the SIS removes it.", ROLE
)
ROLE_NOT_HELD = Refusal("ROLE_NOT_HELD", "The account does not hold this role there.", ROLE)


@dataclass(frozen=True, slots=True)
class _Target:
    account_id: int
    account_name: str
    staff_member_id: int | None
    place: Place


async def _target(
    db: Db, viewer: Viewer, input: GrantRoleInput | RevokeRoleInput
) -> tuple[_Target | None, list[Refusal]]:
    """The account and place named by the input, looked up in scope;
    refusals for anything missing, malformed or out of scope."""
    account_gid, role = input.account_id, input.role
    school_gid, district_gid = input.school_id, input.district_id
    refusals: list[Refusal] = []
    account_id = pk_of(account_gid, "Account")
    account = None if account_id is None else await roles.managed_account(db, viewer, account_id)
    if account is None:
        refusals.append(not_found("account", ACCOUNT_ID))
    elif account.revoked_at is not None:
        refusals.append(
            Refusal("ACCOUNT_REVOKED", "This account's credentials were revoked.", ACCOUNT_ID)
        )
    elif account.kind != AccountKind.STAFF:
        refusals.append(
            Refusal("NOT_A_STAFF_ACCOUNT", "Roles are held by staff accounts.", ACCOUNT_ID)
        )
    place: Place | None = None
    if (school_gid is None) == (district_gid is None):
        refusals.append(
            Refusal(
                "INVALID_PLACE",
                "Give exactly one of schoolId (a school role) or districtId (a district role).",
                SCHOOL_ID,
            )
        )
    elif school_gid is not None:
        school_id = pk_of(school_gid, "School")
        place = None if school_id is None else await roles.school_place(db, viewer, school_id)
        if place is None:
            refusals.append(not_found("school", SCHOOL_ID))
        elif role is Role.DISTRICT_ADMIN:
            refusals.append(
                Refusal(
                    "INVALID_PLACE", "DISTRICT_ADMIN covers a district: give districtId.", SCHOOL_ID
                )
            )
    else:
        assert district_gid is not None
        district_id = pk_of(district_gid, "District")
        place = None if district_id is None else await roles.district_place(db, viewer, district_id)
        if place is None:
            refusals.append(not_found("district", DISTRICT_ID))
    if refusals:
        return None, refusals
    assert account is not None
    assert place is not None
    target = _Target(
        account_id=account.id,
        account_name=account.display_name,
        staff_member_id=account.staff_member_id,
        place=place,
    )
    return target, []


async def _account(db: Db, account_id: int) -> Account:
    rows = await account_data.accounts_by_id(db, [account_id])
    row = rows[0]
    assert row is not None
    return Account.from_row(row)


def _event(action: AccessAction, role: Role, target: _Target) -> events.Event:
    where = target.place.name
    return events.Event(
        district_id=target.place.district_id,
        action=action,
        detail=f"{role.value} at {where} for account {target.account_id} ({target.account_name}).",
    )


@strawberry.type
class RoleMutations:
    @strawberry.mutation(
        description=(
            "Grant a role at a school (schoolId) or across a district (districtId, district "
            "administrators only). No one grants a role that allows more than they hold there, "
            "nor a new role to themself."
        ),
        extensions=staff_writes(Capability.ACCOUNT_LIFECYCLE),
    )
    async def grant_role(
        self,
        info: Info,
        input: Annotated[
            GrantRoleInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> GrantRolePayload:
        context = info.context
        db, viewer = context.db, context.viewer
        role = input.role
        account = None
        async with transaction(db):
            target, refusals = await _target(db, viewer, input)
            if target is not None:
                require_may_grant(
                    viewer, role=role, place=target.place, account_id=target.account_id
                )
                already = await roles.holds_manual_grant(
                    db, account_id=target.account_id, role=role, place=target.place
                )
                # A self-grant passes the rule only for a role already held there;
                # adding a MANUAL copy would outlive the SIS taking it away.
                if not already and target.account_id != viewer.account_id:
                    now = context.clock()
                    await roles.add_manual_grant(
                        db, account_id=target.account_id, role=role, place=target.place, now=now
                    )
                    await events.record(
                        db,
                        events.Actor.of(viewer),
                        [_event(AccessAction.ROLE_GRANTED, role, target)],
                        at=now,
                    )
                account = await _account(db, target.account_id)
            await finish(db, refusals)
        return GrantRolePayload(account=account, user_errors=user_errors(refusals))

    @strawberry.mutation(
        description=(
            "Take back a role granted by hand. Roles from the SIS are refused (SIS_MANAGED): "
            "they end when the SIS removes them."
        ),
        extensions=staff_writes(Capability.ACCOUNT_LIFECYCLE),
    )
    async def revoke_role(
        self,
        info: Info,
        input: Annotated[
            RevokeRoleInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> RevokeRolePayload:
        context = info.context
        db, viewer = context.db, context.viewer
        role = input.role
        account = None
        async with transaction(db):
            target, refusals = await _target(db, viewer, input)
            # Taking a role away needs the same standing as giving it; taking
            # one's own away is always allowed.
            if target is not None and target.account_id != viewer.account_id:
                require_may_grant(
                    viewer,
                    role=role,
                    place=target.place,
                    account_id=target.account_id,
                    verb="revoke",
                )
            if target is not None and not await roles.holds_manual_grant(
                db, account_id=target.account_id, role=role, place=target.place
            ):
                from_sis = await roles.holds_sis_grant(
                    db,
                    account_id=target.account_id,
                    staff_member_id=target.staff_member_id,
                    role=role,
                    place=target.place,
                )
                refusals = [SIS_MANAGED if from_sis else ROLE_NOT_HELD]
            if target is not None and not refusals:
                now = context.clock()
                await roles.remove_manual_grants(
                    db, account_id=target.account_id, role=role, place=target.place
                )
                await events.record(
                    db,
                    events.Actor.of(viewer),
                    [_event(AccessAction.ROLE_REVOKED, role, target)],
                    at=now,
                )
                account = await _account(db, target.account_id)
            await finish(db, refusals)
        return RevokeRolePayload(account=account, user_errors=user_errors(refusals))
