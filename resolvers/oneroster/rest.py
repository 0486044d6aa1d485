"""Pulling a OneRoster 1.2 REST provider: the client and the adapter.

``pull`` reads the rostering service's collections (docs/architecture.md
section 4) with OAuth 2.0 client credentials (authlib's httpx client): the
token is fetched again when it expires mid-pull, and once more when the
provider answers 401 to a token it issued. Each collection is read page by
page (``limit``/``offset``), following the provider's ``Link: rel="next"``
when it sends one and stopping at its ``X-Total-Count``, an empty page or a
short one (shorter than those before it: a provider may answer fewer records
than asked for, its own page size, without saying so). A 5xx, a 429 or a broken connection is retried with exponential
backoff, a bounded number of times; then, and on any other error, the pull
stops with ``ProviderError``. Nothing is written while pulling: the pull
completes before the import starts.

``file_set`` turns what the provider answered into the OneRoster 1.2 CSV
file set the CSV import reads (``MemorySource``, in memory: no personal data
on disk), so both paths run the same reader, checks, writes, guards and
outcomes. A pull filtered by ``dateLastModified`` becomes a delta file set:
its manifest marks each file ``delta``, or ``absent`` when nothing of it
changed.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import quote, urljoin

import authlib.deprecate  # noqa: F401  installs authlib's warning filter first (gql/auth/oidc.py)
import httpx

from resolvers.oneroster.csv_files import Source
from resolvers.oneroster.records import (
    CLASSES,
    DEMOGRAPHICS,
    ENROLLMENTS,
    ORGS,
    ROLES,
    SESSIONS,
    USERS,
)

with warnings.catch_warnings():
    # As in gql/auth/oidc.py: authlib prefers the httpx2 fork and warns when
    # it falls back to httpx, which it fully supports.
    warnings.filterwarnings(
        "ignore", message="The httpx module is deprecated", category=DeprecationWarning
    )
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.httpx_client import AsyncOAuth2Client

ROSTERING = "ims/oneroster/rostering/v1p2"
# The collections pulled, in the order they are read. A provider that does
# not offer demographics (404) leaves dates of birth as stored.
COLLECTIONS = ("orgs", "academicSessions", "classes", "users", "enrollments", "demographics")
OPTIONAL_COLLECTIONS = frozenset({"demographics"})
PAGE_SIZE = 1000
# A failed request (5xx, 429, a broken connection) is tried this many more
# times, waiting BACKOFF seconds, then twice that, and so on.
RETRIES = 3
BACKOFF = 1.0
# A token this close to its expiry is fetched again before the next request.
TOKEN_LEEWAY = 30
TIMEOUT = 60.0

Progress = Callable[[str], None]


class ProviderError(Exception):
    """The provider could not be read: one line for the operator."""


@dataclass
class Pulled:
    """What the provider answered, by collection."""

    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Optional collections the provider does not offer (it answered 404).
    not_offered: list[str] = field(default_factory=list)


async def pull(
    base_url: str,
    *,
    client_id: str,
    client_secret: str,
    token_url: str,
    since: dt.datetime | None,
    scope: str | None = None,
    page_size: int = PAGE_SIZE,
    retries: int = RETRIES,
    backoff: float = BACKOFF,
    leeway: int = TOKEN_LEEWAY,
    request_timeout: float = TIMEOUT,
    progress: Progress | None = None,
) -> Pulled:
    """Every collection of the rostering service (changed since ``since``).

    Raises ``ProviderError`` when the provider refuses the client, fails
    after the retries, or answers what is not OneRoster.
    """
    client = AsyncOAuth2Client(
        client_id,
        client_secret,
        scope=scope,
        token_endpoint=token_url,
        grant_type="client_credentials",
        leeway=leeway,
        timeout=request_timeout,
    )
    async with client:
        reader = _Reader(client, base_url.rstrip("/"), token_url, retries, backoff)
        await reader.fetch_token()
        for collection in COLLECTIONS:
            records = await reader.collection(collection, since, page_size)
            if records is None:
                reader.pulled.not_offered.append(collection)
                continue
            reader.pulled.collections[collection] = records
            if progress is not None:
                progress(f"pulled {len(records):,} {collection}")
        if since is not None:
            await reader.users_of_changed_demographics()
        return reader.pulled


class _Reader:
    def __init__(
        self,
        client: AsyncOAuth2Client,
        base: str,
        token_url: str,
        retries: int,
        backoff: float,
    ) -> None:
        self.client = client
        self.base = base
        self.token_url = token_url
        self.retries = retries
        self.backoff = backoff
        self.pulled = Pulled()

    async def fetch_token(self) -> None:
        attempt = 0
        while True:
            try:
                await self.client.fetch_token(self.token_url, grant_type="client_credentials")
            except OAuthError as error:
                raise self._refused(error) from None
            except (httpx.TransportError, httpx.HTTPStatusError) as error:
                failure = _failure(error)
                if isinstance(error, httpx.HTTPStatusError) and not _retried(
                    error.response.status_code
                ):
                    raise ProviderError(f"{self.token_url}: no access token ({failure})") from None
            except ValueError as error:  # not a token response
                raise ProviderError(f"{self.token_url}: no access token ({error})") from None
            else:
                return
            attempt = await self._wait(attempt, self.token_url, failure)

    def _refused(self, error: OAuthError) -> ProviderError:
        reason = error.error if not error.description else f"{error.error}: {error.description}"
        hint = _REFUSAL_HINTS.get(error.error, _REFUSAL_HINTS["invalid_client"])
        return ProviderError(
            f"{self.token_url}: the provider refused the client credentials ({reason}); {hint}"
        )

    async def _wait(self, attempt: int, url: str, failure: str) -> int:
        """Wait before trying again, or give up after the last retry."""
        if attempt >= self.retries:
            tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
            raise ProviderError(f"{url}: {failure} ({tries})")
        await asyncio.sleep(self.backoff * 2**attempt)
        return attempt + 1

    async def get(
        self, url: str, params: Mapping[str, str | int] | None, *, missing_ok: bool = False
    ) -> httpx.Response | None:
        """One answer of the provider: retried, with the token renewed on a 401.

        None when ``missing_ok`` and the provider answers 404.
        """
        attempt = 0
        renewed = False
        while True:
            failure: str
            try:
                # authlib fetches a new token first when this one has expired.
                response: httpx.Response = await self.client.get(url, params=params)
            except OAuthError as error:
                raise self._refused(error) from None
            except (httpx.TransportError, httpx.HTTPStatusError) as error:
                failure = _failure(error)
            else:
                status = response.status_code
                if status == httpx.codes.UNAUTHORIZED and not renewed:
                    # Revoked or expired by the provider's clock: one new token.
                    renewed = True
                    await self.fetch_token()
                    continue
                if status == httpx.codes.NOT_FOUND and missing_ok:
                    return None
                if response.is_success:
                    return response
                failure = f"HTTP {status}{_said(response)}"
                if not _retried(status):
                    raise ProviderError(f"{response.url}: {failure}")
            attempt = await self._wait(attempt, url, failure)

    async def collection(
        self, name: str, since: dt.datetime | None, page_size: int
    ) -> list[dict[str, Any]] | None:
        """Every record of one collection, page by page; None if not offered."""
        url = f"{self.base}/{ROSTERING}/{name}"
        params: dict[str, str | int] = {"limit": page_size, "offset": 0}
        if since is not None:
            params["filter"] = f"dateLastModified>'{iso_time(since)}'"
        records: list[dict[str, Any]] = []
        # The most records a page held: the provider's own cap when it
        # answers fewer than asked for.
        honoured = 0
        requested: set[str] = set()
        next_url: str = url
        next_params: dict[str, str | int] | None = params
        while True:
            response = await self.get(
                next_url, next_params, missing_ok=name in OPTIONAL_COLLECTIONS and not records
            )
            if response is None:
                return None
            requested.add(str(response.url))
            page = _records(response, name)
            records.extend(page)
            total = _total_count(response)
            link = response.links.get("next", {}).get("url")
            if not page or (total is not None and len(records) >= total):
                return records
            if link:
                next_url, next_params = urljoin(str(response.url), link), None
                if next_url in requested:
                    raise ProviderError(f"{response.url}: the next page's link is this page")
                continue
            if "link" in response.headers:
                return records  # links, but no next one
            if len(page) < min(page_size, honoured):
                # A short page ends it. One that may be the provider's cap
                # (the first short one) is followed by one more request.
                return records
            honoured = max(honoured, len(page))
            params["offset"] = int(params["offset"]) + len(page)
            next_url, next_params = url, params

    async def users_of_changed_demographics(self) -> None:
        """A delta's demographics may change while the user does not: such a
        user is read too, so that the delta carries the user it names."""
        users = self.pulled.collections.setdefault("users", [])
        pulled = {_text(user.get("sourcedId")) for user in users}
        for record in self.pulled.collections.get("demographics", []):
            sourced_id = _text(record.get("sourcedId"))
            if not sourced_id or sourced_id in pulled:
                continue
            pulled.add(sourced_id)
            url = f"{self.base}/{ROSTERING}/users/{quote(sourced_id, safe='')}"
            response = await self.get(url, None, missing_ok=True)
            if response is None:
                continue  # the import lists the demographics row as naming no user
            try:
                user = response.json()["user"]
            except (ValueError, KeyError, TypeError):
                raise ProviderError(f"{url}: not a OneRoster user") from None
            if isinstance(user, dict):
                users.append(user)


# What to check when the token endpoint refuses (RFC 6749 section 5.2).
_REFUSAL_HINTS = {
    "invalid_client": "check --client-id and the secret in --client-secret-file",
    "invalid_scope": "check --scope against the scopes the provider grants this client",
    "unauthorized_client": "the provider does not let this client use client credentials",
}


def _retried(status: int) -> bool:
    return status >= 500 or status == httpx.codes.TOO_MANY_REQUESTS


def _failure(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    return f"{type(error).__name__} {error}".strip()


def _said(response: httpx.Response) -> str:
    """The first words of an error answer, for the one-line message."""
    text = " ".join(response.text.split())[:200]
    return f" {text}" if text else ""


def _records(response: httpx.Response, name: str) -> list[dict[str, Any]]:
    try:
        page = response.json()[name]
    except (ValueError, KeyError, TypeError):
        raise ProviderError(f"{response.url}: not a OneRoster {name} page") from None
    if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
        raise ProviderError(f"{response.url}: {name!r} is not a list of records")
    return page


def _total_count(response: httpx.Response) -> int | None:
    value = response.headers.get("x-total-count", "")
    return int(value) if value.strip().isdigit() else None


def iso_time(moment: dt.datetime) -> str:
    """The form OneRoster filters compare: UTC, milliseconds, ``Z``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------- JSON to the file set


class MemorySource(Source):
    """A OneRoster file set held in memory: file name → CSV text."""

    def __init__(self, label: str, files: Mapping[str, str]) -> None:
        super().__init__(label, {name.lower(): name for name in files})
        self._files = dict(files)

    def open(self, name: str) -> TextIO:
        return io.StringIO(self._files[self._names[name.lower()]], newline="")

    def text(self, name: str) -> str:
        return self._files[name]


def file_set(label: str, pulled: Pulled, *, delta: bool) -> MemorySource:
    """The provider's records as the OneRoster 1.2 CSV file set of an export.

    A delta's files that nothing changed in are ``absent`` in its manifest;
    a collection the provider does not offer is left out of either.
    """
    collections = pulled.collections
    users: list[dict[str, str]] = []
    roles: list[dict[str, str]] = []
    for user in collections.get("users", []):
        users.append(
            {
                **_fields(user, _USER_FIELDS),
                "agentSourcedIds": _refs(user.get("agents")),
                "grades": _text(user.get("grades")),
                **_metadata(user),
            }
        )
        # 1.2 users carry their roles; the CSV binding lists them in roles.csv.
        roles.extend(
            {
                "sourcedId": f"{_text(user.get('sourcedId'))}-role-{index}",
                "status": _text(user.get("status")),
                "dateLastModified": _text(user.get("dateLastModified")),
                "userSourcedId": _text(user.get("sourcedId")),
                "roleType": _text(role.get("roleType")),
                "role": _text(role.get("role")),
                "orgSourcedId": _ref(role.get("org")),
            }
            for index, role in enumerate(_list(user.get("roles")))
        )
    files: dict[str, list[dict[str, str]] | None] = {
        ORGS.name: [
            {
                **_fields(org, _ORG_FIELDS),
                "parentSourcedId": _ref(org.get("parent")),
                **_metadata(org),
            }
            for org in collections.get("orgs", [])
        ],
        SESSIONS.name: [
            {
                **_fields(session, _SESSION_FIELDS),
                "parentSourcedId": _ref(session.get("parent")),
                "orgSourcedId": _ref(session.get("org")),
            }
            for session in collections.get("academicSessions", [])
        ],
        CLASSES.name: [
            {
                **_fields(section, _CLASS_FIELDS),
                "schoolSourcedId": _ref(section.get("school")),
                "termSourcedIds": _refs(section.get("terms")),
            }
            for section in collections.get("classes", [])
        ],
        USERS.name: users,
        ROLES.name: roles,
        ENROLLMENTS.name: [
            {
                **_fields(enrolment, _ENROLMENT_FIELDS),
                "classSourcedId": _ref(enrolment.get("class")),
                "schoolSourcedId": _ref(enrolment.get("school")),
                "userSourcedId": _ref(enrolment.get("user")),
            }
            for enrolment in collections.get("enrollments", [])
        ],
        DEMOGRAPHICS.name: None
        if "demographics" in pulled.not_offered
        else [
            _fields(record, _DEMOGRAPHIC_FIELDS) for record in collections.get("demographics", [])
        ],
    }
    texts: dict[str, str] = {}
    modes: dict[str, str] = {}
    for name, rows in files.items():
        stem = name.removesuffix(".csv")
        if rows is None or (delta and not rows):
            modes[stem] = "absent"  # not offered, or nothing of it changed
            continue
        modes[stem] = "delta" if delta else "bulk"
        texts[name] = _csv(rows, _COLUMNS[name])
    manifest = [
        {"propertyName": "manifest.version", "value": "1.0"},
        {"propertyName": "oneroster.version", "value": "1.2"},
        *({"propertyName": f"file.{stem}", "value": mode} for stem, mode in modes.items()),
    ]
    texts["manifest.csv"] = _csv(manifest, ("propertyName", "value"))
    return MemorySource(label, texts)


_ORG_FIELDS = ("sourcedId", "status", "dateLastModified", "name", "type", "identifier")
_SESSION_FIELDS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "title",
    "type",
    "startDate",
    "endDate",
    "schoolYear",
)
_CLASS_FIELDS = ("sourcedId", "status", "dateLastModified", "title", "classType")
_USER_FIELDS = (
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "username",
    "givenName",
    "familyName",
    "email",
    "phone",
)
_ENROLMENT_FIELDS = ("sourcedId", "status", "dateLastModified", "role")
_DEMOGRAPHIC_FIELDS = ("sourcedId", "status", "dateLastModified", "birthDate", "sex")
# Every file has its required columns even when it has no row.
_COLUMNS = {
    file.name: tuple(file.required_columns)
    for file in (ORGS, SESSIONS, CLASSES, USERS, ROLES, ENROLLMENTS, DEMOGRAPHICS)
}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _ref(value: Any) -> str:
    """A GUIDRef's sourcedId (``{"sourcedId": "x", "type": ..., "href": ...}``), or ''."""
    return _text(value.get("sourcedId")) if isinstance(value, Mapping) else ""


def _refs(values: Any) -> str:
    return ",".join(_ref(value) for value in _list(values))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return str(value)


def _metadata(record: Mapping[str, Any]) -> dict[str, str]:
    metadata = record.get("metadata")
    if not isinstance(metadata, Mapping):
        return {}
    return {f"metadata.{key}": _text(value) for key, value in metadata.items()}


def _fields(record: Mapping[str, Any], names: Iterable[str]) -> dict[str, str]:
    return {name: _text(record.get(name)) for name in names}


def _csv(rows: list[dict[str, str]], required: Iterable[str]) -> str:
    # The columns of every row (metadata columns vary by record), required first.
    columns: dict[str, None] = dict.fromkeys(required)
    for row in rows:
        columns.update(dict.fromkeys(row))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, list(columns), restval="")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()
