"""Account lifecycle mutations: provision, bulk revoke, welcome emails."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from resolvers.events import Actor
from resolvers.portal import lifecycle_writes as provisioning
from resolvers.writes import Refusal
from schema.directory.accounts import Account
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import decode_ids, finish, too_many, transaction, user_errors
from schema.restrictions import staff_writes


@strawberry.input
class ProvisionAccountsInput:
    guardian_ids: list[strawberry.ID]
    send_welcome_email: bool | None = True


@strawberry.type
class ProvisionAccountsPayload:
    accounts: list[Account]
    user_errors: list[UserError]


@strawberry.input
class RevokeAccountsInput:
    account_ids: list[strawberry.ID]
    confirm_large_batch: bool | None = strawberry.field(
        default=False,
        description="Required when the batch is larger than the configured threshold "
        "(default 100).",
    )
    dry_run: bool | None = False


@strawberry.type
class RevokeAccountsPayload:
    revoked_accounts: list[Account]
    would_revoke: int
    user_errors: list[UserError]


@strawberry.input
class SendWelcomeEmailsInput:
    account_ids: list[strawberry.ID]


@strawberry.type
class SendWelcomeEmailsPayload:
    sent: int
    user_errors: list[UserError]


GUARDIAN_IDS = ("input", "guardianIds")
ACCOUNT_IDS = ("input", "accountIds")


@strawberry.type
class LifecycleMutations:
    @strawberry.mutation(
        description="Create accounts for contacts that are READY_TO_PROVISION, with access to "
        "each current student they are eligible for; others are NOT_ELIGIBLE.",
        extensions=staff_writes(Capability.ACCOUNT_LIFECYCLE),
    )
    async def provision_accounts(
        self, info: Info, input: ProvisionAccountsInput
    ) -> ProvisionAccountsPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        async with transaction(db):
            refusals: list[Refusal] = []
            guardians: list[tuple[Row[Any], int]] = []
            refused = too_many(input.guardian_ids, GUARDIAN_IDS)
            outcome = provisioning.Provisioned()
            if refused is not None:
                refusals.append(refused)
            else:
                guardians, refusals = await provisioning.guardians_for_provisioning(
                    db, viewer, decode_ids(input.guardian_ids, "Guardian"), field=GUARDIAN_IDS
                )
            if not refusals:
                outcome = await provisioning.provision_accounts(
                    db,
                    Actor.of(viewer),
                    guardians,
                    field=GUARDIAN_IDS,
                    send_welcome=input.send_welcome_email is not False,
                    now=context.clock(),
                    public_url=context.policy.public_url,
                    welcome_lifetime=context.policy.welcome_link_lifetime,
                )
                refusals = outcome.refusals
            await finish(db, refusals)
        return ProvisionAccountsPayload(
            accounts=[Account.from_row(row) for row in outcome.accounts],
            user_errors=user_errors(refusals),
        )

    @strawberry.mutation(
        description="Remove the accounts' credentials, end their sessions at once and revoke "
        "their access. Batches over the threshold need confirmLargeBatch; dryRun only counts.",
        extensions=staff_writes(Capability.ACCOUNT_LIFECYCLE),
    )
    async def revoke_accounts(
        self, info: Info, input: RevokeAccountsInput
    ) -> RevokeAccountsPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        async with transaction(db):
            refused = too_many(input.account_ids, ACCOUNT_IDS)
            if refused is not None:
                await finish(db, [refused])
                return RevokeAccountsPayload(
                    revoked_accounts=[], would_revoke=0, user_errors=user_errors([refused])
                )
            targets, refusals = await provisioning.accounts_for_lifecycle(
                db,
                viewer,
                decode_ids(input.account_ids, "Account"),
                field=ACCOUNT_IDS,
                removing_credentials=True,
            )
            live = provisioning.still_live(targets)
            threshold = context.policy.large_batch_threshold
            if (
                not refusals
                and not input.dry_run
                and len(live) > threshold
                and not input.confirm_large_batch
            ):
                # Hundreds at once usually mean a sync went wrong (docs/architecture.md section 3).
                refusals.append(
                    Refusal(
                        "LARGE_BATCH_NOT_CONFIRMED",
                        f"This would revoke {len(live)} accounts, more than {threshold} at once. "
                        "Check why so many are ready to revoke, then confirm the large batch.",
                        ("input", "confirmLargeBatch"),
                    )
                )
            revoked = []
            if not refusals and not input.dry_run and live:
                revoked = await provisioning.revoke_accounts(
                    db, Actor.of(viewer), live, now=context.clock()
                )
            if input.dry_run:
                await db.rollback()
            else:
                await finish(db, refusals)
        return RevokeAccountsPayload(
            revoked_accounts=[Account.from_row(row) for row in revoked],
            would_revoke=len(live),
            user_errors=user_errors(refusals),
        )

    @strawberry.mutation(
        description="Email ACTIVE accounts that have never signed in, each with a fresh "
        "set-password link; others are skipped, and so is a student whose login is off.",
        extensions=staff_writes(Capability.ACCOUNT_LIFECYCLE),
    )
    async def send_welcome_emails(
        self, info: Info, input: SendWelcomeEmailsInput
    ) -> SendWelcomeEmailsPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        async with transaction(db):
            refused = too_many(input.account_ids, ACCOUNT_IDS)
            refusals: list[Refusal] = [refused] if refused is not None else []
            sent = 0
            if not refusals:
                targets, refusals = await provisioning.accounts_for_lifecycle(
                    db,
                    viewer,
                    decode_ids(input.account_ids, "Account"),
                    field=ACCOUNT_IDS,
                    removing_credentials=False,
                )
                if not refusals:
                    sent = await provisioning.send_welcome_emails(
                        db,
                        targets,
                        now=context.clock(),
                        public_url=context.policy.public_url,
                        welcome_lifetime=context.policy.welcome_link_lifetime,
                    )
            await finish(db, refusals)
        return SendWelcomeEmailsPayload(sent=sent, user_errors=user_errors(refusals))
