"""OIDC sign-in end to end: the app's authlib client against a real provider
on loopback (``tests.oidc_provider``), never a mock of either side.

The browser is played by two clients: one talks to the app (ASGI, keeping
its cookies), one to the provider (real HTTP). Refusals are checked for
their exact status and code and for leaving every table as it was.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from gql.settings import OidcProvider
from resolvers import tables
from resolvers.auth import sign_in as auth
from resolvers.db import Db
from resolvers.tables import ACCOUNTS, STAFF
from tests.auth_client import AppClient, auth_settings, error_code, graphql, rows, serving
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Login, LoopbackProvider, running_provider
from tests.snapshots import snapshot
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")

APP_REDIRECT = "org.example.accessgraph:/oauth"
ME = "{ viewer { canRecordData account { displayName kind email } actingAs { displayName } } }"


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[LoopbackProvider]:
    async with running_provider() as running:
        yield running


@pytest.fixture(scope="module")
def engine(world_engine: tuple[AsyncEngine, World]) -> AsyncEngine:
    return world_engine[0]


@pytest.fixture(scope="module")
async def http(engine: AsyncEngine, provider: LoopbackProvider) -> AsyncIterator[AppClient]:
    base = provider.base_url

    def configured(name: str, kind: Any, issuer: str, **allow: Any) -> OidcProvider:
        return OidcProvider(
            name=name,
            kind=kind,
            issuer=issuer,
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            **allow,
        )

    settings = auth_settings(
        engine,
        oidc_providers=(
            configured(
                "google",
                "google",
                f"{base}/google",
                allowed_hosted_domains=("north.example.edu",),
            ),
            configured(
                "microsoft",
                "microsoft",
                f"{base}/ms/organizations/v2.0",
                allowed_tenants=("tenant-north",),
            ),
            configured("district", "oidc", f"{base}/idp"),
        ),
        app_redirect_uris=(APP_REDIRECT,),
    )
    async with serving(settings) as client:
        yield client


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """The browser's side of the provider: real HTTP to loopback."""
    async with httpx.AsyncClient() as client:
        yield client


async def _to_provider(http: AppClient, name: str, **params: str) -> httpx.Response:
    http.cookies.clear()
    start = await http.get(f"/auth/oidc/{name}/login", params=params)
    assert start.status_code == 302, start.text
    return start


async def _callback_url(
    browser: httpx.AsyncClient, start: httpx.Response, issuer: Any, login: Login
) -> str:
    issuer.next_login = login
    at_provider = await browser.get(start.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    return str(at_provider.headers["location"])


async def _sign_in(
    http: AppClient,
    browser: httpx.AsyncClient,
    provider: LoopbackProvider,
    name: str,
    login: Login,
    **params: str,
) -> httpx.Response:
    issuer = {"google": provider.google, "microsoft": provider.microsoft}.get(
        name, provider.district
    )
    start = await _to_provider(http, name, **params)
    return await http.get(await _callback_url(browser, start, issuer, login))


async def _identity(engine: AsyncEngine, subject: str) -> Any:
    found = [i for i in await rows(engine, tables.AccountIdentity) if i.subject == subject]
    assert len(found) <= 1
    return found[0] if found else None


async def _account(engine: AsyncEngine, account_id: int) -> Any:
    (found,) = [a for a in await rows(engine, tables.Account) if a.id == account_id]
    return found


async def _me(http: AppClient) -> dict[str, Any]:
    response = await graphql(http, ME, csrf=http.cookies["ag_csrf"])
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["viewer"])


async def test_the_login_redirect_carries_state_nonce_and_a_pkce_challenge(
    http: AppClient, provider: LoopbackProvider
) -> None:
    start = await _to_provider(http, "district", returnTo="/students")
    location = urlsplit(start.headers["location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == (
        f"{provider.base_url}/idp/authorize"
    )
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == "http://test/auth/oidc/district/callback"
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256"
    assert {"state", "nonce", "code_challenge"} <= query.keys()
    pending = start.headers["set-cookie"].lower()
    assert pending.startswith("ag_oidc=")
    assert "httponly" in pending
    assert "samesite=lax" in pending


async def test_a_first_sign_in_creates_an_account_keyed_by_the_provider_subject(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider, engine: AsyncEngine
) -> None:
    login = Login(subject="idp-olive", email="Olive.Parent@home.example.com", name="Olive Parent")
    done = await _sign_in(http, browser, provider, "district", login, returnTo="/students")
    assert done.status_code == 303
    assert done.headers["location"] == "/students"
    assert {"ag_session", "ag_refresh", "ag_csrf"} <= set(http.cookies.keys())
    assert "ag_oidc" not in http.cookies
    identity = await _identity(engine, "idp-olive")
    assert (identity.issuer, identity.email) == (
        f"{provider.base_url}/idp",
        "Olive.Parent@home.example.com",
    )
    account = await _account(engine, identity.account_id)
    assert (account.kind, account.email, account.display_name) == (
        "GUARDIAN",
        "olive.parent@home.example.com",
        "Olive Parent",
    )
    assert account.email_verified_at is not None
    assert account.password_hash is None
    assert await _me(http) == {
        "canRecordData": False,
        "account": {
            "displayName": "Olive Parent",
            "kind": "GUARDIAN",
            "email": "olive.parent@home.example.com",
        },
        "actingAs": None,
    }

    # The subject is the key: the same person with a changed email is the
    # same account, and no second identity is made.
    accounts_before = len(await rows(engine, tables.Account))
    again = await _sign_in(
        http,
        browser,
        provider,
        "district",
        Login(subject="idp-olive", email="olive@new-provider.example.com", name="Olive Parent"),
    )
    assert (again.status_code, again.headers["location"]) == (303, "/")
    assert len(await rows(engine, tables.Account)) == accounts_before
    assert (await _identity(engine, "idp-olive")).account_id == identity.account_id
    sessions = [s for s in await rows(engine, tables.Session) if s.account_id == account.id]
    assert len(sessions) == 2


async def test_google_workspace_staff_get_a_staff_account_linked_to_their_record(
    http: AppClient,
    browser: httpx.AsyncClient,
    provider: LoopbackProvider,
    engine: AsyncEngine,
    world: World,
) -> None:
    async with engine.begin() as c:
        staff_id = (
            await c.execute(
                sa.insert(STAFF)
                .values(
                    district_id=world["north"],
                    sourced_id="gina",
                    given_name="Gina",
                    family_name="Google",
                    email="gina@north.example.edu",
                )
                .returning(STAFF.c.id)
            )
        ).scalar_one()
    login = Login(
        subject="google-gina",
        email="gina@north.example.edu",
        hosted_domain="north.example.edu",
        name="Gina G.",
    )
    done = await _sign_in(http, browser, provider, "google", login)
    assert done.status_code == 303
    account = await _account(engine, (await _identity(engine, "google-gina")).account_id)
    assert (account.kind, account.staff_member_id, account.display_name) == (
        "STAFF",
        staff_id,
        "Gina Google",
    )
    assert (await _me(http))["actingAs"] == {"displayName": "Gina Google"}

    # A staff member who already has the account of their record (the world
    # made one for Art Teacher) joins it with their Google identity.
    before = len(await rows(engine, tables.Account))
    login = Login(
        subject="google-art",
        email="t_art@north.example.edu",
        hosted_domain="north.example.edu",
    )
    assert (await _sign_in(http, browser, provider, "google", login)).status_code == 303
    assert len(await rows(engine, tables.Account)) == before
    assert (await _identity(engine, "google-art")).account_id == world["t_art"]
    assert (await _me(http))["account"]["displayName"] == "Art Teacher"


async def test_an_allowed_microsoft_tenant_signs_in_with_its_own_issuer(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider, engine: AsyncEngine
) -> None:
    login = Login(subject="ms-mo", email="mo@north.example.edu", tenant="tenant-north", name="Mo")
    done = await _sign_in(http, browser, provider, "microsoft", login)
    assert done.status_code == 303
    identity = await _identity(engine, "ms-mo")
    assert identity.issuer == f"{provider.base_url}/ms/tenant-north/v2.0"
    account = await _account(engine, identity.account_id)
    # The tenant's directory vouches for the address; it is at the
    # district's own domain but matches no staff record: look, don't touch.
    assert (account.kind, account.staff_member_id) == ("STAFF", None)
    assert account.email_verified_at is not None
    assert (await _me(http))["canRecordData"] is False


async def test_an_unverified_email_never_links_a_staff_record(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider, engine: AsyncEngine
) -> None:
    login = Login(subject="idp-impostor", email="t_sci@north.example.edu", email_verified=False)
    assert (await _sign_in(http, browser, provider, "district", login)).status_code == 303
    account = await _account(engine, (await _identity(engine, "idp-impostor")).account_id)
    assert (account.kind, account.staff_member_id, account.email_verified_at) == (
        "GUARDIAN",
        None,
        None,
    )


async def test_a_restricted_contact_signing_in_with_a_provider_is_that_contact_and_cannot_pair(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider, engine: AsyncEngine
) -> None:
    """Frank (restricted from Ada in the world) signs in with a provider
    that vouches for his email, in another case: the account is his contact
    record's, and Ada's code is as good as unknown to him."""
    login = Login(subject="idp-frank", email="FRANK@Home.example.com", name="Frank")
    assert (await _sign_in(http, browser, provider, "district", login)).status_code == 303
    account = await _account(engine, (await _identity(engine, "idp-frank")).account_id)
    world_father = [
        g.id for g in await rows(engine, tables.Guardian) if g.email == "frank@home.example.com"
    ]
    assert account.guardian_id == world_father[0]
    redeem = """
    mutation { redeemAccessCode(input: {code: "ACDEFGHJKMNP"}) { grant { id } userErrors { code } } }
    """
    response = await graphql(http, redeem, csrf=http.cookies["ag_csrf"])
    assert response.json() == {
        "data": {"redeemAccessCode": {"grant": None, "userErrors": [{"code": "INVALID_CODE"}]}}
    }
    assert [
        g for g in await rows(engine, tables.StudentAccessGrant) if g.account_id == account.id
    ] == []

    # An email the provider does not vouch for links nothing.
    doubtful = Login(subject="idp-frank-2", email="frank@home.example.com", email_verified=False)
    assert (await _sign_in(http, browser, provider, "district", doubtful)).status_code == 303
    unverified = await _account(engine, (await _identity(engine, "idp-frank-2")).account_id)
    assert unverified.guardian_id is None


REFUSALS = {
    "wrong nonce": ("district", Login(subject="r1", nonce="another-nonce"), 401, "NONCE_MISMATCH"),
    "wrong issuer": (
        "district",
        Login(subject="r2", issuer="https://impostor.example"),
        401,
        "ISSUER_MISMATCH",
    ),
    "another tenant's issuer": (
        "microsoft",
        Login(subject="r3", tenant="tenant-north", issuer="http://127.0.0.1/ms/tenant-x/v2.0"),
        401,
        "ISSUER_MISMATCH",
    ),
    "wrong audience": (
        "district",
        Login(subject="r4", audience="someone-elses-client"),
        401,
        "AUDIENCE_MISMATCH",
    ),
    "signed with another key": (
        "district",
        Login(subject="r5", signed_with_other_key=True),
        401,
        "INVALID_ID_TOKEN",
    ),
    "unknown Microsoft tenant": (
        "microsoft",
        Login(subject="r6", email="x@elsewhere.example", tenant="tenant-elsewhere"),
        403,
        "TENANT_NOT_ALLOWED",
    ),
    "disallowed Google hosted domain": (
        "google",
        Login(subject="r7", email="x@other.example.edu", hosted_domain="other.example.edu"),
        403,
        "HOSTED_DOMAIN_NOT_ALLOWED",
    ),
    "Google account outside any hosted domain": (
        "google",
        Login(subject="r8", email="x@gmail.example"),
        403,
        "HOSTED_DOMAIN_NOT_ALLOWED",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_a_bad_id_token_or_a_disallowed_organisation_is_refused_and_creates_nothing(
    http: AppClient,
    browser: httpx.AsyncClient,
    provider: LoopbackProvider,
    engine: AsyncEngine,
    case: str,
) -> None:
    name, login, status, code = REFUSALS[case]
    before = await snapshot(engine)
    refused = await _sign_in(http, browser, provider, name, login)
    assert (refused.status_code, error_code(refused)) == (status, code)
    assert "ag_session" not in http.cookies
    assert "ag_oidc" not in http.cookies  # a pending sign-in is single use
    assert await snapshot(engine) == before


async def test_a_callback_that_does_not_match_the_browser_state_is_refused(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider, engine: AsyncEngine
) -> None:
    before = await snapshot(engine)
    login = Login(subject="state-1", email="s@home.example.com")

    start = await _to_provider(http, "district")
    callback = urlsplit(await _callback_url(browser, start, provider.district, login))
    params = {k: v[0] for k, v in parse_qs(callback.query).items()}
    forged = f"{callback.path}?{urlencode(params | {'state': 'attacker-state'})}"
    wrong_state = await http.get(forged)
    assert (wrong_state.status_code, error_code(wrong_state)) == (400, "STATE_MISMATCH")

    # A callback replayed in a browser that never started the sign-in (the
    # login-CSRF case: an attacker's code planted in a victim's browser).
    start = await _to_provider(http, "district")
    replayed = await _callback_url(browser, start, provider.district, login)
    http.cookies.clear()
    no_pending = await http.get(replayed)
    assert (no_pending.status_code, error_code(no_pending)) == (400, "STATE_MISMATCH")

    # A code the provider does not recognise (forged, or already spent).
    start = await _to_provider(http, "district")
    callback = urlsplit(await _callback_url(browser, start, provider.district, login))
    params = {k: v[0] for k, v in parse_qs(callback.query).items()}
    bad_code = await http.get(f"{callback.path}?{urlencode(params | {'code': 'forged-code'})}")
    assert (bad_code.status_code, error_code(bad_code)) == (400, "CODE_REJECTED")

    # The provider said no.
    start = await _to_provider(http, "district")
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    denied = await http.get(
        "/auth/oidc/district/callback", params={"error": "access_denied", "state": state}
    )
    assert (denied.status_code, error_code(denied)) == (400, "PROVIDER_ERROR")

    # A pending sign-in for one provider does not complete another's.
    start = await _to_provider(http, "district")
    crossed = urlsplit(await _callback_url(browser, start, provider.district, login))
    other = await http.get(f"/auth/oidc/google/callback?{crossed.query}")
    assert (other.status_code, error_code(other)) == (400, "STATE_MISMATCH")
    assert await snapshot(engine) == before


async def test_unknown_providers_and_foreign_return_paths(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider
) -> None:
    unknown = await http.get("/auth/oidc/myspace/login")
    assert (unknown.status_code, error_code(unknown)) == (404, "UNKNOWN_PROVIDER")
    listed = await http.get("/auth/providers")
    assert listed.json() == {
        "providers": [
            {"name": "google", "kind": "google", "loginUrl": "/auth/oidc/google/login"},
            {"name": "microsoft", "kind": "microsoft", "loginUrl": "/auth/oidc/microsoft/login"},
            {"name": "district", "kind": "oidc", "loginUrl": "/auth/oidc/district/login"},
        ]
    }
    for foreign in ["//evil.example/x", "https://evil.example/", "/\\evil.example"]:
        done = await _sign_in(
            http,
            browser,
            provider,
            "district",
            Login(subject="idp-redirect", email="r@home.example.com"),
            returnTo=foreign,
        )
        assert (done.status_code, done.headers["location"]) == (303, "/")


async def test_a_revoked_account_cannot_sign_in_again(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider, engine: AsyncEngine
) -> None:
    login = Login(subject="idp-revoked", email="gone@home.example.com")
    assert (await _sign_in(http, browser, provider, "district", login)).status_code == 303
    account_id = (await _identity(engine, "idp-revoked")).account_id
    async with engine.begin() as c:
        await c.execute(
            sa.update(ACCOUNTS)
            .where(ACCOUNTS.c.id == account_id)
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
    before = await snapshot(engine)
    refused = await _sign_in(http, browser, provider, "district", login)
    assert (refused.status_code, error_code(refused)) == (403, "ACCOUNT_REVOKED")
    assert await snapshot(engine) == before


# ---------------------------------------------------------------- native apps (RFC 8252)


def _pkce() -> tuple[str, str]:
    """A verifier and its S256 challenge, computed here, not by the app."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _app_result(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(f"{APP_REDIRECT}?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def _exchange(http: AppClient, code: str, verifier: str) -> httpx.Response:
    http.cookies.clear()
    return await http.post("/auth/token", json={"code": code, "codeVerifier": verifier})


async def test_a_native_app_signs_in_through_the_system_browser_and_gets_bearer_tokens(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider, engine: AsyncEngine
) -> None:
    verifier, challenge = _pkce()
    login = Login(subject="idp-app-parent", email="app.parent@home.example.com", name="App Parent")
    done = await _sign_in(
        http,
        browser,
        provider,
        "district",
        login,
        appRedirect=APP_REDIRECT,
        codeChallenge=challenge,
        codeChallengeMethod="S256",
        state="app-state-1",
    )
    result = _app_result(done)
    assert set(result) == {"code", "state"}
    assert result["state"] == "app-state-1"
    # The system browser gets no session: the app does.
    assert "ag_session" not in http.cookies
    assert "ag_oidc" not in http.cookies
    identity = await _identity(engine, "idp-app-parent")
    assert [
        s for s in await rows(engine, tables.Session) if s.account_id == identity.account_id
    ] == []

    tokens = await _exchange(http, result["code"], verifier)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["tokenType"] == "Bearer"
    assert body["account"]["displayName"] == "App Parent"
    assert tokens.headers["cache-control"] == "no-store"
    me = await graphql(http, ME, bearer=body["accessToken"])
    assert me.json()["data"]["viewer"]["account"] == {
        "displayName": "App Parent",
        "kind": "GUARDIAN",
        "email": "app.parent@home.example.com",
    }
    assert (
        await http.post("/auth/refresh", json={"refreshToken": body["refreshToken"]})
    ).status_code == 200

    # The code is single use.
    before = await snapshot(engine)
    again = await _exchange(http, result["code"], verifier)
    assert (again.status_code, error_code(again)) == (400, "INVALID_GRANT")
    assert await snapshot(engine) == before


async def test_a_hand_off_code_without_its_verifier_is_spent_and_signs_no_one_in(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider, engine: AsyncEngine
) -> None:
    verifier, challenge = _pkce()
    login = Login(subject="idp-app-intercepted", email="intercepted@home.example.com")
    result = _app_result(
        await _sign_in(
            http,
            browser,
            provider,
            "district",
            login,
            appRedirect=APP_REDIRECT,
            codeChallenge=challenge,
        )
    )
    assert "state" not in result
    sessions_before = len(await rows(engine, tables.Session))
    # Whoever intercepted the redirect has the code but not the verifier.
    stolen = await _exchange(http, result["code"], _pkce()[0])
    assert (stolen.status_code, error_code(stolen)) == (400, "INVALID_GRANT")
    # The first attempt spent it: the app itself is refused too, and signs in again.
    late = await _exchange(http, result["code"], verifier)
    assert (late.status_code, error_code(late)) == (400, "INVALID_GRANT")
    assert len(await rows(engine, tables.Session)) == sessions_before
    (handoff,) = [
        h
        for h in await rows(engine, tables.AuthHandoff, "code_hash")
        if h.account_id == (await _identity(engine, "idp-app-intercepted")).account_id
    ]
    assert handoff.used_at is not None
    assert len(handoff.code_hash) == 64
    assert result["code"] not in handoff.code_hash


async def test_an_expired_or_malformed_hand_off_is_refused(
    http: AppClient, engine: AsyncEngine
) -> None:
    verifier, challenge = _pkce()
    account_id = (await rows(engine, tables.Account))[0].id
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    async with engine.begin() as connection:
        db = Db(AsyncSession(bind=connection))
        code = await auth.create_handoff(
            db, account_id=account_id, code_challenge=challenge, now=past, client=None
        )
        await db.session.flush()
    before = await snapshot(engine)
    expired = await _exchange(http, code, verifier)
    assert (expired.status_code, error_code(expired)) == (400, "INVALID_GRANT")
    for body in (
        {"code": code},
        {"code": 5, "codeVerifier": verifier},
        {"code": code, "codeVerifier": "short"},
    ):
        refused = await http.post("/auth/token", json=body)
        assert refused.status_code == 400, body
        assert error_code(refused) in {"BAD_REQUEST", "INVALID_GRANT"}
    assert await snapshot(engine) == before


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"appRedirect": "https://evil.example/steal"}, "INVALID_APP_REDIRECT"),
        ({"appRedirect": f"{APP_REDIRECT}/other"}, "INVALID_APP_REDIRECT"),
        ({"appRedirect": APP_REDIRECT}, "INVALID_CODE_CHALLENGE"),
        ({"appRedirect": APP_REDIRECT, "codeChallenge": "too-short"}, "INVALID_CODE_CHALLENGE"),
        (
            {
                "appRedirect": APP_REDIRECT,
                "codeChallenge": "x" * 43,
                "codeChallengeMethod": "plain",
            },
            "INVALID_CODE_CHALLENGE",
        ),
        ({"appRedirect": APP_REDIRECT, "codeChallenge": "x" * 43, "state": "a b"}, "INVALID_STATE"),
    ],
)
async def test_an_unregistered_app_or_a_missing_challenge_never_reaches_the_provider(
    http: AppClient, engine: AsyncEngine, params: dict[str, str], code: str
) -> None:
    http.cookies.clear()
    before = await snapshot(engine)
    refused = await http.get("/auth/oidc/district/login", params=params)
    assert (refused.status_code, error_code(refused)) == (400, code)
    assert "location" not in refused.headers
    assert "ag_oidc" not in http.cookies
    assert await snapshot(engine) == before


async def test_a_refused_app_sign_in_goes_back_to_the_app_with_the_error(
    http: AppClient, browser: httpx.AsyncClient, provider: LoopbackProvider, engine: AsyncEngine
) -> None:
    _, challenge = _pkce()
    before = await snapshot(engine)
    refused = await _sign_in(
        http,
        browser,
        provider,
        "google",
        Login(subject="app-r7", email="x@other.example.edu", hosted_domain="other.example.edu"),
        appRedirect=APP_REDIRECT,
        codeChallenge=challenge,
        state="s2",
    )
    assert _app_result(refused) == {"error": "HOSTED_DOMAIN_NOT_ALLOWED", "state": "s2"}
    assert "ag_oidc" not in http.cookies
    assert await snapshot(engine) == before


# ---------------------------------------------------------------- one account per person


async def test_a_vouched_for_address_signs_in_to_the_account_that_already_has_it(
    http: AppClient,
    browser: httpx.AsyncClient,
    provider: LoopbackProvider,
    engine: AsyncEngine,
    world: World,
) -> None:
    before = len(await rows(engine, tables.Account))
    # A provisioned parent, and a student login: each is the account it joins.
    for subject, email, account in [
        ("idp-mary", "Mary@Home.example.com", "parent"),
        ("idp-ada", "ada@students.example.org", "student_s1"),
    ]:
        done = await _sign_in(
            http, browser, provider, "district", Login(subject=subject, email=email)
        )
        assert done.status_code == 303, done.text
        assert (await _identity(engine, subject)).account_id == world[account]
        joined = await _account(engine, world[account])
        assert joined.email_verified_at is not None
        assert (await _me(http))["account"]["email"] == email.lower()
    assert len(await rows(engine, tables.Account)) == before

    # An address the provider does not vouch for joins nothing: a new account.
    unverified = Login(subject="idp-not-mary", email="mary@home.example.com", email_verified=False)
    assert (await _sign_in(http, browser, provider, "district", unverified)).status_code == 303
    assert (await _identity(engine, "idp-not-mary")).account_id != world["parent"]
    assert len(await rows(engine, tables.Account)) == before + 1


async def test_an_address_only_revoked_accounts_have_is_refused_and_nothing_is_made(
    http: AppClient,
    browser: httpx.AsyncClient,
    provider: LoopbackProvider,
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as c:
        await c.execute(
            sa.insert(tables.Account.__table__).values(
                kind="GUARDIAN",
                email="gone@home.example.com",
                display_name="Gone Parent",
                created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
                revoked_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
            )
        )
    before = await snapshot(engine)
    refused = await _sign_in(
        http,
        browser,
        provider,
        "district",
        Login(subject="idp-gone", email="gone@home.example.com"),
    )
    assert (refused.status_code, error_code(refused)) == (403, "ACCOUNT_REVOKED")
    assert await snapshot(engine) == before


async def test_joining_an_unconfirmed_sign_up_drops_the_password_its_author_chose(
    http: AppClient,
    browser: httpx.AsyncClient,
    provider: LoopbackProvider,
    engine: AsyncEngine,
) -> None:
    # Someone signs up with an address that is not theirs and never confirms it.
    victim = "victim@home.example.com"
    signed_up = await http.post(
        "/auth/signup",
        json={"email": victim, "password": "an attacker's own password", "displayName": "V"},
    )
    assert signed_up.status_code == 202
    # The address's owner arrives through a provider that vouches for it.
    done = await _sign_in(http, browser, provider, "district", Login(subject="idp-v", email=victim))
    assert done.status_code == 303
    account = await _account(engine, (await _identity(engine, "idp-v")).account_id)
    assert (account.email, account.password_hash) == (victim, None)
    assert account.email_verified_at is not None
    refused = await http.post(
        "/auth/login", json={"email": victim, "password": "an attacker's own password"}
    )
    assert (refused.status_code, error_code(refused)) == (401, "INVALID_CREDENTIALS")


async def test_the_owner_setting_a_password_by_email_ends_an_unvouched_identity_on_the_address(
    http: AppClient,
    browser: httpx.AsyncClient,
    provider: LoopbackProvider,
    engine: AsyncEngine,
) -> None:
    """Someone signs in with a provider that does not vouch for the address
    they typed (someone else's); the address's owner later sets a password
    by email. The link proves the mailbox, not who made the account: the
    unvouched identity no longer signs in to it."""
    victim = "owner@home.example.com"
    first = await _sign_in(
        http,
        browser,
        provider,
        "district",
        Login(subject="idp-claimant", email=victim, email_verified=False),
    )
    assert first.status_code == 303
    claimed = await _identity(engine, "idp-claimant")
    account = await _account(engine, claimed.account_id)
    assert (account.email, account.email_verified_at) == (victim, None)
    http.cookies.clear()

    asked = await http.post("/auth/password/forgot", json={"email": victim})
    assert asked.status_code == 202
    [mail] = [m for m in await rows(engine, tables.OutboxEmail) if m.to_address == victim]
    token = parse_qs(urlsplit(mail.body.split("/reset-password?", 1)[1].split()[0]).path)
    reset = await http.post(
        "/auth/password/reset",
        json={"token": token["token"][0], "password": "granite pelican autumn sketch"},
    )
    assert reset.status_code == 200
    assert await _identity(engine, "idp-claimant") is None
    owned = await _account(engine, claimed.account_id)
    assert owned.email_verified_at is not None

    again = await _sign_in(
        http,
        browser,
        provider,
        "district",
        Login(subject="idp-claimant", email=victim, email_verified=False),
    )
    assert again.status_code == 303
    assert (await _identity(engine, "idp-claimant")).account_id != claimed.account_id
