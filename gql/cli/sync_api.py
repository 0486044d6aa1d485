"""``accessgraph sync oneroster-api``: the SIS import from a OneRoster 1.2 REST provider.

The provider is read with OAuth 2.0 client credentials (authlib), page by
page (``limit``/``offset``). The first pull, or one with ``--full``, asks for
everything and is imported as a bulk export; later pulls ask only for what
changed since the last successful one (``filter=dateLastModified>'…'``) and
are imported as a delta (docs/architecture.md section 4). What the provider
answers is written as the OneRoster CSV files the import reads, so both
paths run the same checks and writes; the time of a successful pull is
recorded in the import's own transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import authlib.deprecate  # noqa: F401  installs authlib's warning filter first (gql/auth/oidc.py)
import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gql.cli.errors import CliError
from gql.cli.sync import import_directory, print_summary, terminal_progress
from gql.settings import Settings
from resolvers.db import create_engine
from resolvers.oneroster.records import CLASSES, ENROLLMENTS, ORGS, ROLES, SESSIONS, USERS
from resolvers.tables import SIS_SYNC_STATES

with warnings.catch_warnings():
    # As in gql/auth/oidc.py: authlib prefers the httpx2 fork and warns when
    # it falls back to httpx, which it fully supports.
    warnings.filterwarnings(
        "ignore", message="The httpx module is deprecated", category=DeprecationWarning
    )
    from authlib.integrations.httpx_client import AsyncOAuth2Client

ROSTERING = "ims/oneroster/rostering/v1p2"
PAGE_SIZE = 1000
# Records changed while a pull runs may be stamped a little before it
# started, by the provider's clock: the next pull overlaps by this much
# (reading a record twice changes nothing).
OVERLAP = dt.timedelta(minutes=5)

_ORG_COLUMNS = ["sourcedId", "status", "dateLastModified", "name", "type", "identifier"]
_USER_COLUMNS = [
    "sourcedId",
    "status",
    "dateLastModified",
    "enabledUser",
    "username",
    "givenName",
    "familyName",
    "email",
    "phone",
]


class ProviderError(Exception):
    """The provider could not be read: one line for the operator."""


def read_secret(path: str) -> str:
    """The client secret from its file (never a command-line argument, which
    other users of the machine can read)."""
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise CliError(
            f"{path}: {error.strerror}; give the file holding the client secret."
        ) from None
    if not secret:
        raise CliError(f"{path} is empty; give the file holding the client secret.")
    return secret


async def run_sync_api(
    settings: Settings,
    *,
    base_url: str,
    client_id: str,
    client_secret: str,
    token_url: str | None,
    full: bool,
    dry_run: bool,
    as_json: bool,
    strict: bool = False,
    confirm_mass_change: bool = False,
    page_size: int = PAGE_SIZE,
) -> int:
    """The ``sync oneroster-api`` command; its exit code (0, 3 or 1)."""
    base = base_url.rstrip("/")
    engine = create_engine(settings.database_url)
    try:
        since = None if full else await last_success(engine, base)
        started = dt.datetime.now(dt.UTC)
        try:
            collections = await pull(
                base,
                client_id=client_id,
                client_secret=client_secret,
                token_url=token_url or f"{base}/token",
                since=since,
                page_size=page_size,
            )
        except ProviderError as error:
            raise CliError(f"{error}; nothing was written.") from None

        async def record_success(connection: AsyncConnection) -> None:
            await record_last_success(connection, base, started - OVERLAP)

        with tempfile.TemporaryDirectory(prefix="accessgraph-oneroster-api-") as temporary:
            directory = write_export(Path(temporary), collections, delta=since is not None)
            summary = await import_directory(
                engine,
                directory,
                dry_run=dry_run,
                revoke_threshold=settings.large_batch_threshold,
                progress=None if as_json else terminal_progress(),
                after_import=record_success,
                strict=strict,
                mass_change_share=settings.sync_mass_change_share,
                confirm_mass_change=confirm_mass_change,
            )
    finally:
        await engine.dispose()
    mode = "everything" if since is None else f"changes since {since.isoformat()}"
    print_summary(
        summary,
        title=f"OneRoster pull from {base} ({mode})",
        dry_run=dry_run,
        as_json=as_json,
        extra={"since": None if since is None else since.isoformat()},
    )
    return summary.exit_code


# ---------------------------------------------------------------- the provider


async def pull(
    base: str,
    *,
    client_id: str,
    client_secret: str,
    token_url: str,
    since: dt.datetime | None,
    page_size: int = PAGE_SIZE,
) -> dict[str, list[dict[str, Any]]]:
    """Every collection of the rostering service (changed since ``since``)."""
    async with AsyncOAuth2Client(
        client_id, client_secret, token_endpoint=token_url, timeout=60
    ) as client:
        try:
            await client.fetch_token(token_url, grant_type="client_credentials")
        except (httpx.HTTPError, ValueError) as error:
            raise ProviderError(f"{token_url}: no access token ({error})") from None
        except Exception as error:  # authlib's OAuthError: the provider refused
            raise ProviderError(f"{token_url}: the provider refused the client ({error})") from None
        found: dict[str, list[dict[str, Any]]] = {}
        for collection in ("orgs", "academicSessions", "classes", "users", "enrollments"):
            found[collection] = await _pages(client, base, collection, since, page_size)
        return found


async def _pages(
    client: AsyncOAuth2Client,
    base: str,
    collection: str,
    since: dt.datetime | None,
    page_size: int,
) -> list[dict[str, Any]]:
    url = f"{base}/{ROSTERING}/{collection}"
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        params: dict[str, Any] = {"limit": page_size, "offset": offset}
        if since is not None:
            stamp = since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            params["filter"] = f"dateLastModified>'{stamp}'"
        try:
            response = await client.get(url, params=params)
            response.raise_for_status()
            page = response.json()[collection]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            raise ProviderError(f"{url}: {error}") from None
        if not isinstance(page, list):
            raise ProviderError(f"{url}: {collection!r} is not a list")
        items.extend(page)
        if len(page) < page_size:
            return items
        offset += page_size


async def last_success(engine: Any, source: str) -> dt.datetime | None:
    async with engine.connect() as connection:
        found = await connection.execute(
            sa.select(SIS_SYNC_STATES.c.last_success_at).where(SIS_SYNC_STATES.c.source == source)
        )
        value = found.scalar_one_or_none()
        return value if isinstance(value, dt.datetime) else None


async def record_last_success(connection: AsyncConnection, source: str, at: dt.datetime) -> None:
    updated = await connection.execute(
        SIS_SYNC_STATES.update()
        .where(SIS_SYNC_STATES.c.source == source)
        .values(last_success_at=at)
    )
    if not updated.rowcount:
        await connection.execute(SIS_SYNC_STATES.insert().values(source=source, last_success_at=at))


# ---------------------------------------------------------------- JSON to the CSV files


def _ref(value: Any) -> str:
    """A GUIDRef's sourcedId (``{"sourcedId": "x", ...}``), or ''."""
    return str(value.get("sourcedId", "")) if isinstance(value, Mapping) else ""


def _refs(values: Any) -> str:
    return ",".join(_ref(value) for value in values or ())


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_text(item) for item in value)
    return str(value)


def _metadata(record: Mapping[str, Any]) -> dict[str, str]:
    metadata = record.get("metadata") or {}
    return {f"metadata.{key}": _text(value) for key, value in metadata.items()}


def _base(record: Mapping[str, Any], columns: Iterable[str]) -> dict[str, str]:
    return {column: _text(record.get(column)) for column in columns}


def write_export(
    directory: Path, collections: Mapping[str, list[dict[str, Any]]], *, delta: bool
) -> Path:
    """The provider's records as a OneRoster 1.2 CSV export in ``directory``."""
    orgs = [
        {**_base(o, _ORG_COLUMNS), "parentSourcedId": _ref(o.get("parent")), **_metadata(o)}
        for o in collections["orgs"]
    ]
    sessions = [
        {
            **_base(s, ["sourcedId", "status", "dateLastModified", "title", "type"]),
            **_base(s, ["startDate", "endDate", "schoolYear"]),
            "parentSourcedId": _ref(s.get("parent")),
            "orgSourcedId": _ref(s.get("org")),
        }
        for s in collections["academicSessions"]
    ]
    classes = [
        {
            **_base(c, ["sourcedId", "status", "dateLastModified", "title", "classType"]),
            "schoolSourcedId": _ref(c.get("school")),
            "termSourcedIds": _refs(c.get("terms")),
        }
        for c in collections["classes"]
    ]
    users: list[dict[str, str]] = []
    roles: list[dict[str, str]] = []
    for u in collections["users"]:
        users.append(
            {
                **_base(u, _USER_COLUMNS),
                "agentSourcedIds": _refs(u.get("agents")),
                "grades": _text(u.get("grades")),
                **_metadata(u),
            }
        )
        roles.extend(
            {
                "sourcedId": f"{u.get('sourcedId')}-role-{index}",
                "status": _text(u.get("status")),
                "userSourcedId": _text(u.get("sourcedId")),
                "roleType": _text(role.get("roleType")),
                "role": _text(role.get("role")),
                "orgSourcedId": _ref(role.get("org")),
            }
            for index, role in enumerate(u.get("roles") or ())
        )
    enrolments = [
        {
            **_base(e, ["sourcedId", "status", "dateLastModified", "role"]),
            "classSourcedId": _ref(e.get("class")),
            "schoolSourcedId": _ref(e.get("school")),
            "userSourcedId": _ref(e.get("user")),
        }
        for e in collections["enrollments"]
    ]
    files = {
        "orgs.csv": orgs,
        "academicSessions.csv": sessions,
        "classes.csv": classes,
        "users.csv": users,
        "roles.csv": roles,
        "enrollments.csv": enrolments,
    }
    modes: dict[str, str] = {}
    for name, rows in files.items():
        if delta and not rows:
            modes[name] = "absent"  # nothing of it changed
            continue
        modes[name] = "delta" if delta else "bulk"
        _write(directory / name, rows, _REQUIRED[name])
    _write(
        directory / "manifest.csv",
        [
            {"propertyName": "manifest.version", "value": "1.0"},
            {"propertyName": "oneroster.version", "value": "1.2"},
            *(
                {"propertyName": f"file.{name.removesuffix('.csv')}", "value": mode}
                for name, mode in modes.items()
            ),
        ],
        ("propertyName", "value"),
    )
    return directory


_REQUIRED = {
    file.name: tuple(file.required_columns)
    for file in (ORGS, SESSIONS, CLASSES, USERS, ROLES, ENROLLMENTS)
}


def _write(path: Path, rows: list[dict[str, str]], required: Iterable[str]) -> None:
    # Every row of a file has the same base columns; metadata columns of
    # any row are added. The required columns are there even with no row.
    columns: dict[str, None] = dict.fromkeys(required)
    for row in rows:
        columns.update(dict.fromkeys(row))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(columns), restval="")
        writer.writeheader()
        writer.writerows(rows)
