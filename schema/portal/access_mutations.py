"""Portal access mutations: access codes and the revoke view."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

import strawberry
from sqlalchemy.engine import Row

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from permissions.roles import AccountKind
from resolvers.auth.rate_limits import CODE_REDEMPTION
from resolvers.db import Db
from resolvers.directory.accounts import accounts_in_scope
from resolvers.events import Actor
from resolvers.portal import access_writes as access_codes
from resolvers.portal import revocation
from resolvers.writes import Refusal, not_found, students_for_write
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import (
    RATE_LIMITED,
    decode_ids,
    finish,
    rate_limited,
    too_many,
    transaction,
    user_errors,
)
from schema.node import pk_of
from schema.portal.access import AccessCode, StudentAccessGrant
from schema.restrictions import signed_in_writes, staff_writes


@strawberry.input(description="The input of enablePortalAccess.")
class EnablePortalAccessInput:
    student_ids: list[strawberry.ID] = strawberry.field(description="The students (global IDs).")


@strawberry.type(description="What enablePortalAccess answers: the students' access codes.")
class EnablePortalAccessPayload:
    access_codes: list[AccessCode] = strawberry.field(
        description="One code per student: new, or the one it had."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of resetAccessCodes.")
class ResetAccessCodesInput:
    student_ids: list[strawberry.ID] = strawberry.field(description="The students (global IDs).")


@strawberry.type(description="What resetAccessCodes answers: the new codes.")
class ResetAccessCodesPayload:
    access_codes: list[AccessCode] = strawberry.field(description="The new code of each student.")
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of redeemAccessCode.")
class RedeemAccessCodeInput:
    code: str = strawberry.field(description="The code as printed (case and dashes do not matter).")
    relationship: str | None = strawberry.field(
        default=None, description="The relationship to the student, e.g. 'Mother'."
    )


@strawberry.type(description="What redeemAccessCode answers: the access gained.")
class RedeemAccessCodePayload:
    grant: StudentAccessGrant | None = strawberry.field(
        description="The new access; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of revokeStudentAccess.")
class RevokeStudentAccessInput:
    account_id: strawberry.ID = strawberry.field(description="The account (its global ID).")
    student_ids: list[strawberry.ID] = strawberry.field(
        description="Must all be in the viewer's scope; the account's other students are untouched."
    )


@strawberry.type(description="What revokeStudentAccess answers: the access ended.")
class RevokeStudentAccessPayload:
    revoked_grants: list[StudentAccessGrant] = strawberry.field(description="The grants ended.")
    reset_access_codes: list[AccessCode] = strawberry.field(
        description="Codes reset because a revoked guardian had used them."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


STUDENT_IDS = ("input", "studentIds")


class CodeWrite(Protocol):
    async def __call__(
        self, db: Db, actor: Actor, students: Sequence[Row[Any]], *, now: dt.datetime
    ) -> list[Row[Any]]: ...


async def _code_students(
    info: Info, ids: list[strawberry.ID]
) -> tuple[list[Row[Any]], list[Refusal]]:
    refused = too_many(ids, STUDENT_IDS)
    if refused is not None:
        return [], [refused]
    context = info.context
    students, refusals = await students_for_write(
        context.db,
        context.viewer,
        decode_ids(ids, "Student"),
        Capability.MANAGE_ACCESS_CODES,
        field=STUDENT_IDS,
        lock=True,
    )
    _prime_students(info, students)
    return students, refusals


def _prime_students(info: Info, students: list[Row[Any]]) -> None:
    """Rows read under the lock: the payload's ``student`` fields ask nothing more."""
    for student in students:
        info.context.loaders.student_by_id.prime(student.id, student)


async def _write_codes(
    info: Info, ids: list[strawberry.ID], write: CodeWrite
) -> tuple[list[AccessCode], list[Refusal]]:
    """Enable or reset: the students looked up and locked, then ``write``,
    all in one transaction that a refusal rolls back."""
    context = info.context
    async with transaction(context.db):
        students, refusals = await _code_students(info, ids)
        codes = []
        if not refusals:
            codes = await write(context.db, Actor.of(context.viewer), students, now=context.clock())
        await finish(context.db, refusals)
    return [AccessCode.from_row(row) for row in codes], refusals


@strawberry.type
class AccessMutations:
    @strawberry.mutation(
        description="Create access codes for students that lack one (one student or the bulk "
        "page); students that have one get their existing code.",
        extensions=staff_writes(Capability.MANAGE_ACCESS_CODES),
    )
    async def enable_portal_access(
        self,
        info: Info,
        input: Annotated[
            EnablePortalAccessInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> EnablePortalAccessPayload:
        codes, refusals = await _write_codes(
            info, input.student_ids, access_codes.enable_portal_access
        )
        return EnablePortalAccessPayload(access_codes=codes, user_errors=user_errors(refusals))

    @strawberry.mutation(
        description="Replace each student's code: the old one stops pairing anyone; "
        "existing grants are untouched.",
        extensions=staff_writes(Capability.MANAGE_ACCESS_CODES),
    )
    async def reset_access_codes(
        self,
        info: Info,
        input: Annotated[
            ResetAccessCodesInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> ResetAccessCodesPayload:
        codes, refusals = await _write_codes(
            info, input.student_ids, access_codes.reset_access_codes
        )
        return ResetAccessCodesPayload(access_codes=codes, user_errors=user_errors(refusals))

    @strawberry.mutation(
        description="Pair the signed-in parent or guardian account with the student whose "
        "code this is. Case and separators do not matter.",
        extensions=signed_in_writes(),
    )
    async def redeem_access_code(
        self,
        info: Info,
        input: Annotated[
            RedeemAccessCodeInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> RedeemAccessCodePayload:
        context = info.context
        if context.viewer.kind is not AccountKind.GUARDIAN:
            raise Forbidden("Only parent and guardian accounts can redeem access codes.")
        if await rate_limited(context, "code-redemption", CODE_REDEMPTION):
            return RedeemAccessCodePayload(grant=None, user_errors=user_errors([RATE_LIMITED]))
        async with transaction(context.db):
            outcome = await access_codes.redeem_access_code(
                context.db,
                context.viewer,
                typed=input.code,
                relationship=input.relationship,
                now=context.clock(),
            )
            refusals = [outcome.refusal] if outcome.refusal is not None else []
            await finish(context.db, refusals)
        return RedeemAccessCodePayload(
            grant=StudentAccessGrant.from_row(outcome.grant) if outcome.grant else None,
            user_errors=user_errors(refusals),
        )

    @strawberry.mutation(
        description="End one account's access to the chosen students, all in the viewer's "
        "scope, and reset the codes it had paired with.",
        extensions=staff_writes(Capability.REVOKE_GRANT),
    )
    async def revoke_student_access(
        self,
        info: Info,
        input: Annotated[
            RevokeStudentAccessInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> RevokeStudentAccessPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        async with transaction(db):
            refusals: list[Refusal] = []
            account_pk = pk_of(input.account_id, "Account")
            found = (
                (await accounts_in_scope(db, viewer, [account_pk]))[0]
                if account_pk is not None
                else None
            )
            if found is None:
                refusals.append(not_found("account", ("input", "accountId")))
            else:
                context.loaders.account_by_id.prime(found.id, found)
            pks = decode_ids(input.student_ids, "Student")
            students: list[Row[Any]] = []
            refused = too_many(pks, STUDENT_IDS)
            if refused is not None:
                refusals.append(refused)
            else:
                students, missing = await students_for_write(
                    db, viewer, pks, Capability.REVOKE_GRANT, field=STUDENT_IDS, lock=True
                )
                refusals.extend(missing)
                _prime_students(info, students)
            outcome = revocation.Revocation()
            if not refusals and found is not None:
                # Each student's first position in the input, for the field path.
                first_index = {pk: i for i, pk in reversed(list(enumerate(pks)))}
                outcome = await revocation.revoke_student_access(
                    db,
                    Actor.of(viewer),
                    account_id=found.id,
                    students=students,
                    student_indexes=[first_index[s.id] for s in students],
                    now=context.clock(),
                )
                refusals = outcome.refusals
            await finish(db, refusals)
        return RevokeStudentAccessPayload(
            revoked_grants=[StudentAccessGrant.from_row(row) for row in outcome.grants],
            reset_access_codes=[AccessCode.from_row(row) for row in outcome.reset_codes],
            user_errors=user_errors(refusals),
        )
