"""What the portal mutations share: ids from input, refusals as userErrors,
the transaction, rate limits.

A mutation owns its transaction (docs/mutations.md): it commits when there
is no user error and rolls back otherwise, and any exception rolls back too,
so nothing half-written survives into the request's closing commit.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence

import strawberry

from resolvers.auth.rate_limits import Limit
from resolvers.db import Db
from resolvers.writes import Refusal
from schema.errors import UserError
from schema.graphql_context import Context
from schema.node import pk_of

# One mutation names at most this many objects (the bulk pages send pages
# of students or accounts, not whole districts).
MAX_IDS = 1000


def decode_ids(ids: Sequence[strawberry.ID], type_name: str) -> list[int | None]:
    """Primary keys in input order; None where an id is not of ``type_name``."""
    return [pk_of(global_id, type_name) for global_id in ids]


def too_many(ids: Sequence[object], field: tuple[str, ...]) -> Refusal | None:
    if len(ids) > MAX_IDS:
        return Refusal("TOO_MANY", f"Name at most {MAX_IDS} at once.", field)
    if not ids:
        return Refusal("REQUIRED", "Name at least one.", field)
    return None


def user_errors(refusals: Iterable[Refusal]) -> list[UserError]:
    return [
        UserError(
            code=r.code, message=r.message, field=list(r.field) if r.field is not None else None
        )
        for r in refusals
    ]


@contextlib.asynccontextmanager
async def transaction(db: Db) -> AsyncIterator[None]:
    """Roll back on any exception; the body commits or rolls back itself."""
    try:
        yield
    except BaseException:
        await db.rollback()
        raise


async def finish(db: Db, refusals: Sequence[Refusal]) -> None:
    """All or nothing: commit only when nothing was refused."""
    if refusals:
        await db.rollback()
    else:
        await db.commit()


async def rate_limited(context: Context, bucket: str, limit: Limit) -> bool:
    """Count one attempt per account (``limit``, strict) and per client
    address (the policy's address budget, wide enough for a shared school
    network), both always: every attempt counts, each alias in a document
    too. True when either is over its limit. Called before the mutation's
    transaction starts."""
    by_account = await context.rate_limiter.hit(
        bucket, f"account:{context.viewer.account_id}", limit
    )
    by_client = await context.rate_limiter.hit(
        "client-address", context.client_address, context.policy.address_limit
    )
    return not (by_account and by_client)


RATE_LIMITED = Refusal("RATE_LIMITED", "Too many attempts. Wait a few minutes and try again.", None)


def text_refusals(
    value: str | None, *, field: str, max_length: int, missing: str | None = None
) -> list[Refusal]:
    """A text input, already stripped: ``{FIELD}_REQUIRED`` with the message
    ``missing`` when it is required and empty (None is allowed only when not
    required), ``{FIELD}_TOO_LONG`` over ``max_length``."""
    name = field.upper()
    at = ("input", field)
    if missing is not None and not value:
        return [Refusal(f"{name}_REQUIRED", missing, at)]
    if value is not None and len(value) > max_length:
        return [Refusal(f"{name}_TOO_LONG", f"Keep the {field} to {max_length} characters.", at)]
    return []
