"""Account lifecycle mutations: provision, bulk revoke, welcome emails."""

from __future__ import annotations

from typing import Annotated, Any

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


@strawberry.input(description="The input of provisionAccounts.")
class ProvisionAccountsInput:
    guardian_ids: list[strawberry.ID] = strawberry.field(description="The contacts (global IDs).")
    send_welcome_email: bool | None = strawberry.field(
        default=True, description="Email each new account a welcome (null means true)."
    )


@strawberry.type(description="What provisionAccounts answers: the accounts made.")
class ProvisionAccountsPayload:
    accounts: list[Account] = strawberry.field(description="The new accounts.")
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of revokeAccounts.")
class RevokeAccountsInput:
    account_ids: list[strawberry.ID] = strawberry.field(description="The accounts (global IDs).")
    confirm_large_batch: bool | None = strawberry.field(
        default=False,
        description="Required when the batch is larger than the configured threshold "
        "(default 100).",
    )
    dry_run: bool | None = strawberry.field(
        default=False, description="True: only count (wouldRevoke); nothing changes."
    )


@strawberry.type(description="What revokeAccounts answers: the accounts revoked, or counted.")
class RevokeAccountsPayload:
    revoked_accounts: list[Account] = strawberry.field(
        description="The accounts revoked (empty on a dry run)."
    )
    would_revoke: int = strawberry.field(
        description="How many accounts the batch revokes (or would, on a dry run)."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of sendWelcomeEmails.")
class SendWelcomeEmailsInput:
    account_ids: list[strawberry.ID] = strawberry.field(description="The accounts (global IDs).")


@strawberry.type(description="What sendWelcomeEmails answers: the emails queued.")
class SendWelcomeEmailsPayload:
    sent: int = strawberry.field(description="How many welcome emails were queued.")
    skipped: int = strawberry.field(
        description="How many accounts got none: not ACTIVE, signed in already, a STAFF "
        "account (staff sign in themselves), a student whose login is off, or sent a "
        "set-password link within the last hour."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


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
        self,
        info: Info,
        input: Annotated[
            ProvisionAccountsInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
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
        "their access. An account that also reaches students or schools outside your scope "
        "keeps its credentials and loses only its access to your students (the answer is the "
        "same). Batches over the threshold need confirmLargeBatch; dryRun only counts.",
        extensions=staff_writes(Capability.ACCOUNT_LIFECYCLE),
    )
    async def revoke_accounts(
        self,
        info: Info,
        input: Annotated[
            RevokeAccountsInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
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
        description="Email ACTIVE parent (GUARDIAN) and STUDENT accounts that have never "
        "signed in, each with a fresh set-password link in its own wording; others are "
        "skipped and counted: STAFF accounts, a student whose login is off, and an account "
        "sent a set-password link within the last hour.",
        extensions=staff_writes(Capability.ACCOUNT_LIFECYCLE),
    )
    async def send_welcome_emails(
        self,
        info: Info,
        input: Annotated[
            SendWelcomeEmailsInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> SendWelcomeEmailsPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        async with transaction(db):
            refused = too_many(input.account_ids, ACCOUNT_IDS)
            refusals: list[Refusal] = [refused] if refused is not None else []
            sent = skipped = 0
            if not refusals:
                targets, refusals = await provisioning.accounts_for_lifecycle(
                    db,
                    viewer,
                    decode_ids(input.account_ids, "Account"),
                    field=ACCOUNT_IDS,
                    removing_credentials=False,
                )
                if not refusals:
                    outcome = await provisioning.send_welcome_emails(
                        db,
                        targets,
                        now=context.clock(),
                        public_url=context.policy.public_url,
                        welcome_lifetime=context.policy.welcome_link_lifetime,
                    )
                    sent, skipped = outcome.sent, outcome.skipped
            await finish(db, refusals)
        return SendWelcomeEmailsPayload(
            sent=sent, skipped=skipped, user_errors=user_errors(refusals)
        )
