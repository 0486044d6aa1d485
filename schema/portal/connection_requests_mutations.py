"""Connection request mutations: the PIN flow."""

from __future__ import annotations

from typing import Annotated

import strawberry

from permissions.capabilities import Capability
from permissions.errors import Forbidden
from permissions.roles import AccountKind
from resolvers.auth.rate_limits import PIN_ENTRY
from resolvers.events import Actor
from resolvers.portal import connection_requests_writes as requests
from resolvers.writes import Refusal, students_for_write
from schema.errors import UserError
from schema.graphql_context import Info
from schema.mutation_support import RATE_LIMITED, finish, rate_limited, transaction, user_errors
from schema.node import pk_of
from schema.portal.access import StudentAccessGrant
from schema.portal.connection_requests import ConnectionRequest
from schema.restrictions import signed_in_writes, staff_writes


@strawberry.input(description="The input of createConnectionRequest.")
class CreateConnectionRequestInput:
    student_id: strawberry.ID = strawberry.field(description="The student (its global ID).")
    for_student_self: bool = strawberry.field(
        description="True: the student requests access to their own record."
    )
    relationship: str | None = strawberry.field(
        default=None, description="The invited person's relationship to the student."
    )
    individual_name: str | None = strawberry.field(
        default=None, description="The invited person's name (not for the student themself)."
    )
    email: str = strawberry.field(description="Where the activation link goes.")


@strawberry.type(description="What createConnectionRequest answers: the request and its PIN.")
class CreateConnectionRequestPayload:
    request: ConnectionRequest | None = strawberry.field(
        description="The request; null when refused."
    )
    pin: str | None = strawberry.field(
        description="The 4-digit activation PIN. Returned once, here; never stored in clear."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of deleteConnectionRequest.")
class DeleteConnectionRequestInput:
    request_id: strawberry.ID = strawberry.field(description="The request (its global ID).")


@strawberry.type(description="What deleteConnectionRequest answers: the request, deleted.")
class DeleteConnectionRequestPayload:
    request: ConnectionRequest | None = strawberry.field(
        description="The request, now DELETED; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.input(description="The input of activateConnection.")
class ActivateConnectionInput:
    token: str = strawberry.field(description="The token of the emailed link.")
    pin: str = strawberry.field(description="The 4-digit PIN the school gave.")


@strawberry.type(description="What activateConnection answers: the access gained.")
class ActivateConnectionPayload:
    grant: StudentAccessGrant | None = strawberry.field(
        description="The new access; null when refused."
    )
    user_errors: list[UserError] = strawberry.field(
        description="Expected failures (a refusal per input at fault); empty when it worked."
    )


@strawberry.type
class ConnectionMutations:
    @strawberry.mutation(
        description="Create a request for the student themself or another person. The PIN is "
        "in the payload, once; the activation link goes to the email.",
        extensions=staff_writes(Capability.MANAGE_ACCESS_CODES),
    )
    async def create_connection_request(
        self,
        info: Info,
        input: Annotated[
            CreateConnectionRequestInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> CreateConnectionRequestPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        now = context.clock()
        async with transaction(db):
            students, refusals = await students_for_write(
                db,
                viewer,
                [pk_of(input.student_id, "Student")],
                Capability.MANAGE_ACCESS_CODES,
                field=("input", "studentId"),
            )
            # A single id: no index in the path.
            refusals = [Refusal(r.code, r.message, ("input", "studentId")) for r in refusals]
            created = requests.Created()
            if not refusals:
                created = await requests.create_connection_request(
                    db,
                    Actor.of(viewer),
                    student=students[0],
                    given=requests.NewRequest(
                        for_student_self=input.for_student_self,
                        email=input.email,
                        relationship=input.relationship,
                        individual_name=input.individual_name,
                    ),
                    now=now,
                    public_url=context.policy.public_url,
                )
                refusals = list(created.refusals)
            await finish(db, refusals)
        return CreateConnectionRequestPayload(
            request=ConnectionRequest.from_row_at(created.request, now)
            if created.request
            else None,
            pin=created.pin,
            user_errors=user_errors(refusals),
        )

    @strawberry.mutation(
        description="Delete a waiting (or expired) request, so that a new one may be made.",
        extensions=staff_writes(Capability.MANAGE_ACCESS_CODES),
    )
    async def delete_connection_request(
        self,
        info: Info,
        input: Annotated[
            DeleteConnectionRequestInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> DeleteConnectionRequestPayload:
        context = info.context
        db, viewer = context.db, context.viewer
        now = context.clock()
        deleted = None
        async with transaction(db):
            found, refusals = await requests.request_for_write(
                db,
                viewer,
                pk_of(input.request_id, "ConnectionRequest"),
                field=("input", "requestId"),
            )
            if found is not None:
                deleted, refusal = await requests.delete_connection_request(
                    db, Actor.of(viewer), request=found, now=now
                )
                refusals = [refusal] if refusal is not None else []
            await finish(db, refusals)
        return DeleteConnectionRequestPayload(
            request=ConnectionRequest.from_row_at(deleted, now) if deleted is not None else None,
            user_errors=user_errors(refusals),
        )

    @strawberry.mutation(
        description="Activate a request with the emailed link's token and the school's PIN, "
        "as the signed-in account.",
        extensions=signed_in_writes(),
    )
    async def activate_connection(
        self,
        info: Info,
        input: Annotated[
            ActivateConnectionInput,
            strawberry.argument(description="The mutation's arguments, as one input object."),
        ],
    ) -> ActivateConnectionPayload:
        context = info.context
        if context.viewer.kind is not AccountKind.GUARDIAN:
            raise Forbidden(
                "Sign in with a personal account to activate a connection; staff and "
                "school-managed student accounts cannot hold one."
            )
        if await rate_limited(context, "pin-entry", PIN_ENTRY):
            return ActivateConnectionPayload(grant=None, user_errors=user_errors([RATE_LIMITED]))
        async with transaction(context.db):
            outcome = await requests.activate_connection(
                context.db, context.viewer, token=input.token, pin=input.pin, now=context.clock()
            )
            # Kept whatever the outcome: a wrong PIN is counted, the fifth locks.
            await context.db.commit()
        return ActivateConnectionPayload(
            grant=StudentAccessGrant.from_row(outcome.grant) if outcome.grant else None,
            user_errors=user_errors([outcome.refusal] if outcome.refusal else []),
        )
