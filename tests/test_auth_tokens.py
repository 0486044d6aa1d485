"""Forged and stale access tokens are UNAUTHENTICATED (401), never anonymous.

Each forgery is built the way an attacker would build it, from the parts an
attacker could have: the server's public key, a token it issued, or (for
the claim checks) a correctly signed token whose claims are wrong.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.auth.tokens import ALGORITHM, TokenSigner
from gql.http.app import signer_for
from gql.settings import Settings
from tests.auth_client import AppClient, auth_settings, graphql, serving
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")

ME = "{ viewer { isAuthenticated } }"


@pytest.fixture(scope="module")
def settings(world_engine: tuple[AsyncEngine, World]) -> Settings:
    return auth_settings(world_engine[0])


@pytest.fixture(scope="module")
async def http(settings: Settings) -> AsyncIterator[AppClient]:
    async with serving(settings) as client:
        yield client


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(signer: TokenSigner, world: World, **changes: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {
        "iss": signer.issuer,
        "aud": signer.audience,
        "sub": str(world["da_north"]),
        "sid": world.sessions["da_north"],
        "iat": now,
        "exp": now + 600,
    }
    return claims | changes


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    return f"{head}.{body}.{_b64(signature)}"


def _hmac_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def _public_key_bytes(signer: TokenSigner) -> list[bytes]:
    """What anyone can learn about the server's key: its public half, as PEM
    and raw bytes."""
    public = signer._key.get_op_key("verify")  # the key object; only its public half is used
    return [
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
    ]


def _forgeries(settings: Settings, world: World) -> dict[str, str]:
    signer = signer_for(settings)
    now = dt.datetime.now(dt.UTC)
    good = signer.issue(
        account_id=world["da_north"], session_id=world.sessions["da_north"], now=now
    )
    head, body, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    tampered_body = _b64(json.dumps(claims | {"sub": str(world["da_other"])}).encode())
    # Correctly signed with the server's own key, but with a claim that is
    # wrong; built with joserfc so only the named claim differs.
    key = signer._key

    def signed(header: dict[str, Any], changed: dict[str, Any]) -> str:
        return jwt.encode(header, _claims(signer, world, **changed), key, algorithms=[ALGORITHM])

    right_header = {"alg": ALGORITHM, "kid": signer.key_id}
    pem, raw = _public_key_bytes(signer)
    return {
        "alg none": _unsigned({"alg": "none", "typ": "JWT"}, _claims(signer, world)),
        "alg none with the right kid": _unsigned(
            {"alg": "none", "kid": signer.key_id}, _claims(signer, world)
        ),
        "HS256 keyed with the public key (PEM)": _hmac_signed(
            {"alg": "HS256", "kid": signer.key_id}, _claims(signer, world), pem
        ),
        "HS256 keyed with the public key (raw)": _hmac_signed(
            {"alg": "HS256", "kid": signer.key_id}, _claims(signer, world), raw
        ),
        "expired": signer.issue(
            account_id=world["da_north"],
            session_id=world.sessions["da_north"],
            now=now - dt.timedelta(hours=1),
        ),
        "wrong audience": signed(right_header, {"aud": "another-api"}),
        "wrong issuer": signed(right_header, {"iss": "https://impostor.example"}),
        "no expiry": jwt.encode(
            right_header,
            {k: v for k, v in _claims(signer, world).items() if k != "exp"},
            key,
            algorithms=[ALGORITHM],
        ),
        "unknown key id": signed({"alg": ALGORITHM, "kid": "someone-elses-key"}, {}),
        "tampered payload": f"{head}.{tampered_body}.{signature}",
        "another server's key": signer_for(
            Settings(env="dev", secret_key="a different secret of enough length 0123456789")
        ).issue(account_id=world["da_north"], session_id=world.sessions["da_north"], now=now),
        "a session that does not exist": signed(right_header, {"sid": "no-such-session"}),
        "a session of another account": signed(
            right_header, {"sub": str(world["da_other"]), "sid": world.sessions["da_north"]}
        ),
    }


async def test_a_correctly_signed_token_for_a_live_session_signs_in(
    http: AppClient, settings: Settings, world: World
) -> None:
    signer = signer_for(settings)
    good = jwt.encode(
        {"alg": ALGORITHM, "kid": signer.key_id},
        _claims(signer, world),
        signer._key,
        algorithms=[ALGORITHM],
    )
    response = await graphql(http, ME, bearer=good)
    assert response.json() == {"data": {"viewer": {"isAuthenticated": True}}}


FORGERIES = [
    "alg none",
    "alg none with the right kid",
    "HS256 keyed with the public key (PEM)",
    "HS256 keyed with the public key (raw)",
    "expired",
    "wrong audience",
    "wrong issuer",
    "no expiry",
    "unknown key id",
    "tampered payload",
    "another server's key",
    "a session that does not exist",
    "a session of another account",
]


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_or_stale_token_is_unauthenticated(
    http: AppClient, settings: Settings, world: World, forgery: str
) -> None:
    token = _forgeries(settings, world)[forgery]
    response = await graphql(http, ME, bearer=token)
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
    assert "data" not in body


async def test_the_forgery_list_is_complete(settings: Settings, world: World) -> None:
    assert sorted(_forgeries(settings, world)) == sorted(FORGERIES)


@pytest.mark.parametrize("forgery", ["alg none", "tampered payload", "wrong audience"])
async def test_a_forged_token_in_the_session_cookie_is_unauthenticated_too(
    http: AppClient, settings: Settings, world: World, forgery: str
) -> None:
    http.cookies.clear()
    http.cookies.set("ag_session", _forgeries(settings, world)[forgery])
    http.cookies.set("ag_csrf", "whatever")
    try:
        response = await graphql(http, ME, csrf="whatever")
    finally:
        http.cookies.clear()
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"] == {"code": "UNAUTHENTICATED"}
