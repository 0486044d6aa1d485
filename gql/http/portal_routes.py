"""REST routes of the portal workflows, beside ``/graphql``.

``/access-codes/{id}/login-instructions.pdf`` serves the printable login
instructions behind the short-lived signed link that
``StudentPortalAccess.loginInstructionsUrl`` hands out (``gql.outbound.links``):
the link itself is the credential, so a browser can open it without a token.
A bad or expired signature is 403 ``INVALID_LINK``; a code that no longer
exists is 404 ``NOT_FOUND``; one that is no longer ACTIVE is 410
``ACCESS_CODE_RESET``, so a printout made after a reset cannot carry the old
code. Errors have the GraphQL shape (``gql.http.errors``).

``/activate?token=…`` (the link in connection request emails) is the SPA's
page, not this API's: the SPA signs the person in and sends
``activateConnection(token, pin)``.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gql.http.errors import error_response
from gql.http.state import app_state
from gql.outbound.pdf import LoginInstructions, login_instructions_pdf
from resolvers.db import Db
from resolvers.portal.access_writes import login_instructions_facts
from resolvers.portal.codes import display_code
from resolvers.tables import AccessCodeStatus


async def login_instructions(request: Request) -> Response:
    state = app_state(request)
    code_id: int = request.path_params["code_id"]
    path = f"/access-codes/{code_id}/login-instructions.pdf"
    expires = request.query_params.get("expires", "")
    signature = request.query_params.get("signature", "")
    now = state.clock()
    if not state.links.verify(path, expires, signature, now=now.timestamp()):
        return error_response(
            403, "INVALID_LINK", "This link is not valid or has expired. Ask for a new one."
        )
    async with state.sessions() as session:
        facts = await login_instructions_facts(Db(session), code_id)
    if facts is None:
        return error_response(404, "NOT_FOUND", "No such access code.")
    if facts.status != AccessCodeStatus.ACTIVE:
        return error_response(
            410, "ACCESS_CODE_RESET", "This access code was reset. Print the new one."
        )
    pdf = await asyncio.to_thread(
        login_instructions_pdf,
        LoginInstructions(
            school_name=facts.school_name,
            student_name=f"{facts.given_name} {facts.family_name}",
            code=display_code(facts.code),
            sign_up_url=f"{state.settings.public_url.rstrip('/')}/sign-up",
            generated_on=now.date(),
        ),
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            # The page carries a secret: never cached, never indexed.
            "cache-control": "no-store",
            "content-disposition": 'inline; filename="login-instructions.pdf"',
            "x-robots-tag": "noindex",
        },
    )


ROUTES: list[BaseRoute] = [
    Route(
        "/access-codes/{code_id:int}/login-instructions.pdf",
        login_instructions,
        methods=["GET"],
    )
]
