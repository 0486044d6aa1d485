"""OpenID Connect sign-in with authlib (Google, Microsoft, any issuer).

authlib does the protocol: discovery, the authorization URL (with state,
nonce and a PKCE S256 challenge), the code exchange, fetching the JWKS and
validating the ID token (signature with the provider's keys and algorithms,
``exp``/``iat``, nonce, ``at_hash``, ``azp``). This module adds what authlib
leaves to the application:
- where state, nonce and PKCE verifier wait between the redirect and the
  callback: a short-lived HMAC-signed HttpOnly cookie, so no server-side
  session store is needed and the callback must come back to the same browser;
- the issuer and audience are always checked (authlib checks ``aud`` only
  when asked); a Microsoft multi-tenant issuer template is filled with the
  token's own ``tid``;
- the configured allow-lists: Google hosted domains (``hd``) and Microsoft
  tenants (``tid``);
- which emails are trusted enough to link a staff record: a verified email,
  or one managed by an allowed Microsoft tenant (Microsoft's ``email`` claim
  is otherwise user-editable and unverified).
Every refusal is an ``OidcRefused`` with an HTTP status and a stable code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import authlib.deprecate  # noqa: F401  installs authlib's own warning filter first (see below)
import httpx
import orjson
from joserfc.errors import ClaimError, JoseError

from gql.settings import OidcProvider
from resolvers.auth.sign_in import Identity

# authlib 1.9 prefers the httpx2 fork and warns once at import when it falls
# back to httpx, which it still fully supports and which this project uses
# everywhere else. The filter is scoped to that import, and inserted after
# authlib's own "always" filter so that it takes precedence.
with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="The httpx module is deprecated", category=DeprecationWarning
    )
    from authlib.integrations.starlette_client import OAuth, OAuthError

# How long a browser may spend at the provider before the callback.
PENDING_SECONDS = 600
# Clock skew allowed on the ID token's times.
LEEWAY_SECONDS = 60
TENANT_PLACEHOLDER = "{tenantid}"


class OidcRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class AppReturn:
    """A native app's sign-in (RFC 8252): where the callback hands back a
    one-time code, the app's PKCE challenge for exchanging it, and the app's
    own ``state``, echoed back."""

    redirect_uri: str
    code_challenge: str
    state: str = ""


@dataclass(frozen=True, slots=True)
class Pending:
    """What the callback must match: kept in the browser, signed."""

    provider: str
    state: str
    nonce: str
    code_verifier: str
    return_to: str
    expires: int
    app: AppReturn | None = None


def safe_return_path(value: str | None) -> str:
    """A path on this site to land on after sign-in; anything else (another
    origin, ``//host``, a backslash trick) becomes ``/``, so the callback is
    never an open redirect."""
    if (
        not value
        or len(value) > 500
        or not value.startswith("/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 0x20 for ch in value)
    ):
        return "/"
    return value


class OidcClients:
    def __init__(
        self,
        providers: Sequence[OidcProvider],
        *,
        secret_key: str,
        public_url: str,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._providers = {p.name: p for p in providers}
        self._key = hashlib.sha256(b"accessgraph oidc pending\x00" + secret_key.encode()).digest()
        self._public_url = public_url.rstrip("/")
        self._oauth = OAuth()
        # authlib opens a new httpx client for each call to a provider; one
        # TLS context (CA bundle loaded once) saves ~30 ms a client.
        tls = httpx.create_ssl_context()
        for provider in providers:
            self._oauth.register(
                name=provider.name,
                client_id=provider.client_id,
                client_secret=provider.client_secret,
                server_metadata_url=(
                    f"{provider.issuer.rstrip('/')}/.well-known/openid-configuration"
                ),
                client_kwargs={
                    "scope": " ".join(provider.scopes),
                    "code_challenge_method": "S256",
                    "timeout": timeout_seconds,
                    "verify": tls,
                },
            )

    @property
    def providers(self) -> list[OidcProvider]:
        return list(self._providers.values())

    def provider(self, name: str) -> OidcProvider | None:
        return self._providers.get(name)

    def redirect_uri(self, name: str) -> str:
        return f"{self._public_url}/auth/oidc/{name}/callback"

    # ------------------------------------------------------------ the redirect

    async def begin(
        self, name: str, *, return_to: str | None, app: AppReturn | None = None
    ) -> tuple[str, str]:
        """The provider's authorization URL and the signed pending cookie."""
        provider = self._known(name)
        client = self._oauth.create_client(provider.name)
        try:
            created = await client.create_authorization_url(
                self.redirect_uri(provider.name), nonce=secrets.token_urlsafe(24)
            )
        except (httpx.HTTPError, ValueError, KeyError, RuntimeError) as exc:
            raise OidcRefused(
                502, "PROVIDER_UNAVAILABLE", f"{provider.name} could not be reached."
            ) from exc
        pending = Pending(
            provider=provider.name,
            state=created["state"],
            nonce=created["nonce"],
            code_verifier=created["code_verifier"],
            return_to=safe_return_path(return_to),
            expires=int(time.time()) + PENDING_SECONDS,
            app=app,
        )
        return str(created["url"]), self._seal(pending)

    # ------------------------------------------------------------ the callback

    def app_return(self, pending_cookie: str | None) -> AppReturn | None:
        """The native app a pending sign-in returns to, if any (for sending
        a refusal back to the app rather than showing it in the browser)."""
        pending = self._open(pending_cookie)
        return pending.app if pending is not None else None

    async def complete(
        self, name: str, *, params: Mapping[str, str], pending_cookie: str | None
    ) -> tuple[Identity, Pending]:
        """The verified identity and the pending sign-in it completes (where
        to land), or ``OidcRefused``."""
        provider = self._known(name)
        pending = self._open(pending_cookie)
        state = params.get("state", "")
        if (
            pending is None
            or pending.provider != provider.name
            or not state
            or not hmac.compare_digest(state.encode(), pending.state.encode())
        ):
            raise OidcRefused(
                400,
                "STATE_MISMATCH",
                "This sign-in does not match one started in this browser. Start again.",
            )
        if params.get("error"):
            raise OidcRefused(
                400, "PROVIDER_ERROR", f"{provider.name} did not sign you in ({params['error']})."
            )
        code = params.get("code")
        if not code:
            raise OidcRefused(400, "MISSING_CODE", "The provider sent no authorization code.")
        client = self._oauth.create_client(provider.name)
        try:
            token = await client.fetch_access_token(
                redirect_uri=self.redirect_uri(provider.name),
                code=code,
                code_verifier=pending.code_verifier,
            )
            metadata = await client.load_server_metadata()
        except OAuthError as exc:
            raise OidcRefused(
                400, "CODE_REJECTED", f"{provider.name} refused the authorization code."
            ) from exc
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcRefused(
                502, "PROVIDER_UNAVAILABLE", f"{provider.name} could not be reached."
            ) from exc
        if not isinstance(token, dict) or "id_token" not in token:
            raise OidcRefused(502, "NO_ID_TOKEN", f"{provider.name} sent no ID token.")
        issuer = self._issuer(provider, metadata)
        try:
            claims = await client.parse_id_token(
                token,
                nonce=pending.nonce,
                claims_options=_claims_options(issuer, provider.client_id),
                leeway=LEEWAY_SECONDS,
            )
        except ClaimError as exc:
            raise _claim_refusal(exc.claim) from exc
        except (JoseError, ValueError) as exc:
            raise OidcRefused(
                401, "INVALID_ID_TOKEN", "The ID token's signature or format is not valid."
            ) from exc
        except httpx.HTTPError as exc:  # fetching the provider's keys
            raise OidcRefused(
                502, "PROVIDER_UNAVAILABLE", f"{provider.name} could not be reached."
            ) from exc
        _check_allow_lists(provider, claims)
        return _identity(provider, claims), pending

    # ------------------------------------------------------------ helpers

    def _known(self, name: str) -> OidcProvider:
        provider = self._providers.get(name)
        if provider is None:
            raise OidcRefused(404, "UNKNOWN_PROVIDER", f"No sign-in provider is called {name!r}.")
        return provider

    @staticmethod
    def _issuer(provider: OidcProvider, metadata: Mapping[str, Any]) -> str:
        """The issuer the ID token must name. Discovery must agree with the
        configuration (OIDC Discovery 4.3), except for Microsoft's
        multi-tenant template, which names no one issuer."""
        published = metadata.get("issuer")
        if not isinstance(published, str):
            raise OidcRefused(502, "PROVIDER_MISCONFIGURED", "The provider names no issuer.")
        if TENANT_PLACEHOLDER not in published and published.rstrip("/") != provider.issuer.rstrip(
            "/"
        ):
            raise OidcRefused(
                502,
                "PROVIDER_MISCONFIGURED",
                f"{provider.name} publishes issuer {published!r}, not the configured one.",
            )
        return published

    def _seal(self, pending: Pending) -> str:
        body = base64.urlsafe_b64encode(
            orjson.dumps(
                {
                    "p": pending.provider,
                    "s": pending.state,
                    "n": pending.nonce,
                    "v": pending.code_verifier,
                    "r": pending.return_to,
                    "e": pending.expires,
                    "a": (
                        [pending.app.redirect_uri, pending.app.code_challenge, pending.app.state]
                        if pending.app is not None
                        else None
                    ),
                }
            )
        ).decode()
        return f"{body}.{self._mac(body)}"

    def _open(self, sealed: str | None) -> Pending | None:
        if not sealed or "." not in sealed:
            return None
        body, _, mac = sealed.rpartition(".")
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return None
        try:
            data = orjson.loads(base64.urlsafe_b64decode(body.encode()))
            pending = Pending(
                provider=str(data["p"]),
                state=str(data["s"]),
                nonce=str(data["n"]),
                code_verifier=str(data["v"]),
                return_to=safe_return_path(str(data["r"])),
                expires=int(data["e"]),
                app=AppReturn(*(str(v) for v in data["a"])) if data.get("a") else None,
            )
        except (ValueError, KeyError, TypeError):
            return None
        return pending if pending.expires > time.time() else None

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _claims_options(issuer: str, client_id: str) -> dict[str, Any]:
    """Built per call: authlib pops the ``validate`` hooks out of them."""
    if TENANT_PLACEHOLDER in issuer:

        def from_its_tenant(claims: Mapping[str, Any], value: Any) -> bool:
            tenant = claims.get("tid")
            return (
                isinstance(tenant, str)
                and bool(tenant)
                and "/" not in tenant
                and value == issuer.replace(TENANT_PLACEHOLDER, tenant)
            )

        iss: dict[str, Any] = {"essential": True, "validate": from_its_tenant}
    else:
        iss = {"essential": True, "value": issuer}
    return {
        "iss": iss,
        "aud": {"essential": True, "value": client_id},
        "sub": {"essential": True},
    }


def _claim_refusal(claim: str) -> OidcRefused:
    if claim == "nonce":
        return OidcRefused(
            401, "NONCE_MISMATCH", "The ID token was not issued for this sign-in (nonce)."
        )
    if claim == "iss":
        return OidcRefused(401, "ISSUER_MISMATCH", "The ID token comes from another issuer.")
    if claim in {"aud", "azp"}:
        return OidcRefused(401, "AUDIENCE_MISMATCH", "The ID token was issued to another client.")
    return OidcRefused(401, "INVALID_ID_TOKEN", f"The ID token's {claim!r} claim is not valid.")


def _check_allow_lists(provider: OidcProvider, claims: Mapping[str, Any]) -> None:
    if provider.allowed_hosted_domains:
        domain = claims.get("hd")
        allowed = {d.lower() for d in provider.allowed_hosted_domains}
        if not isinstance(domain, str) or domain.lower() not in allowed:
            raise OidcRefused(
                403,
                "HOSTED_DOMAIN_NOT_ALLOWED",
                "This Google account is not in a domain allowed to sign in here.",
            )
    if provider.allowed_tenants:
        tenant = claims.get("tid")
        allowed = {t.lower() for t in provider.allowed_tenants}
        if not isinstance(tenant, str) or tenant.lower() not in allowed:
            raise OidcRefused(
                403,
                "TENANT_NOT_ALLOWED",
                "This Microsoft account's organisation is not allowed to sign in here.",
            )


def _identity(provider: OidcProvider, claims: Mapping[str, Any]) -> Identity:
    email = claims.get("email")
    email = email.strip() if isinstance(email, str) and "@" in email else None
    verified = claims.get("email_verified") is True
    # Inside an allowed tenant the directory's administrators assign addresses.
    managed = provider.kind == "microsoft" and bool(provider.allowed_tenants)
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p for p in parts if isinstance(p, str) and p.strip())
    return Identity(
        issuer=str(claims["iss"]),
        subject=str(claims["sub"]),
        email=email,
        email_trusted=email is not None and (verified or managed),
        display_name=(name or "").strip() or email or "New account",
    )
