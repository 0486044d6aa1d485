"""A real OpenID Connect provider on loopback, for the sign-in tests.

Served by uvicorn on 127.0.0.1 (a free port) in the test session's event
loop, it speaks the protocol the app's authlib client speaks: discovery,
the authorization endpoint (authorization code with PKCE S256), the token
endpoint (client_secret_basic, single-use codes) and a JWKS; ID tokens are
RS256 JWTs signed with joserfc. Three issuers share the server:

- ``/google``: Google-like, with an ``hd`` claim for Workspace accounts;
- ``/ms/organizations/v2.0``: Microsoft-like multi-tenant; discovery names
  the issuer ``.../ms/{tenantid}/v2.0`` and each token carries its ``tid``;
- ``/idp``: a plain OIDC issuer.

The person who signs in next, and any misbehaviour (another nonce, issuer,
audience or signing key), is set per test with ``provider.next_login``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "accessgraph-test-client"
CLIENT_SECRET = "accessgraph-test-secret"  # the loopback provider's test client

# Generated once per process: RSA key generation is the slow part.
SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-key-1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "provider-key-1"})


@dataclass
class Login:
    """Who signs in at the provider next, and how the ID token is bent."""

    subject: str
    email: str | None = None
    email_verified: bool | None = True
    name: str | None = "Test Person"
    hosted_domain: str | None = None
    tenant: str | None = None
    # Misbehaviour: replace what a correct provider would put in the token.
    nonce: str | None = None
    issuer: str | None = None
    audience: str | None = None
    signed_with_other_key: bool = False


@dataclass
class _Grant:
    login: Login
    nonce: str
    redirect_uri: str
    code_challenge: str


@dataclass
class Issuer:
    server: LoopbackProvider
    prefix: str
    tenant_template: bool = False
    next_login: Login = field(default_factory=lambda: Login(subject="unset"))
    codes: dict[str, _Grant] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.server.base_url}{self.prefix}"

    @property
    def published_issuer(self) -> str:
        if self.tenant_template:
            return self.base.replace("/organizations/", "/{tenantid}/")
        return self.base

    def issuer_for(self, login: Login) -> str:
        if self.tenant_template:
            return self.published_issuer.replace("{tenantid}", login.tenant or "")
        return self.base

    def routes(self) -> list[Route]:
        return [
            Route(f"{self.prefix}/.well-known/openid-configuration", self.discovery),
            Route(f"{self.prefix}/authorize", self.authorize),
            Route(f"{self.prefix}/token", self.token, methods=["POST"]),
            Route(f"{self.prefix}/jwks", self.jwks),
        ]

    async def discovery(self, _: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.published_issuer,
                "authorization_endpoint": f"{self.base}/authorize",
                "token_endpoint": f"{self.base}/token",
                "jwks_uri": f"{self.base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def jwks(self, _: Request) -> Response:
        return JSONResponse({"keys": [SIGNING_KEY.as_dict(private=False)]})

    async def authorize(self, request: Request) -> Response:
        params = request.query_params
        if params.get("client_id") != CLIENT_ID or params.get("response_type") != "code":
            return JSONResponse({"error": "unauthorized_client"}, status_code=400)
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_urlsafe(16)
        self.codes[code] = _Grant(
            login=self.next_login,
            nonce=params.get("nonce", ""),
            redirect_uri=params["redirect_uri"],
            code_challenge=params["code_challenge"],
        )
        query = urlencode({"code": code, "state": params.get("state", "")})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

    async def token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        # A urlencoded body, parsed by hand: starlette's form parser needs
        # python-multipart, which the app itself has no use for.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant = self.codes.pop(form.get("code", ""), None)
        if (
            grant is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != grant.redirect_uri
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if challenge.decode().rstrip("=") != grant.code_challenge:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        login = grant.login
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": login.issuer or self.issuer_for(login),
            "sub": login.subject,
            "aud": login.audience or CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": login.nonce if login.nonce is not None else grant.nonce,
        }
        optional = {
            "email": login.email,
            "email_verified": login.email_verified,
            "name": login.name,
            "hd": login.hosted_domain,
            "tid": login.tenant,
        }
        claims |= {k: v for k, v in optional.items() if v is not None}
        key = OTHER_KEY if login.signed_with_other_key else SIGNING_KEY
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "openid email profile",
                "id_token": id_token,
            }
        )


class LoopbackProvider:
    def __init__(self) -> None:
        self.base_url = ""
        self.google = Issuer(self, "/google")
        self.microsoft = Issuer(self, "/ms/organizations/v2.0", tenant_template=True)
        self.district = Issuer(self, "/idp")
        routes = [
            *self.google.routes(),
            *self.microsoft.routes(),
            *self.district.routes(),
        ]
        self.app = Starlette(routes=routes)


@asynccontextmanager
async def running_provider() -> AsyncIterator[LoopbackProvider]:
    provider = LoopbackProvider()
    config = uvicorn.Config(
        provider.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises what stopped the server
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    provider.base_url = f"http://127.0.0.1:{port}"
    try:
        yield provider
    finally:
        server.should_exit = True
        await task
