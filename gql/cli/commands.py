"""The CLI's smaller commands: token, grant, schema print."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from gql.cli.errors import EXIT_USAGE, CliError
from gql.settings import Settings
from permissions.roles import Role
from resolvers.auth import sessions
from resolvers.db import Db, create_engine
from resolvers.documents import document_hash, register
from resolvers.tables import DISTRICTS, ROLE_GRANTS, SCHOOLS, RoleGrantSource, utc_now


async def mint_token(settings: Settings, email: str) -> int:
    """Print an access token for an existing person (dev mode only).

    A staff email without an account gets a STAFF account linked to its
    staff record, as a first sign-in would."""
    if not settings.is_dev:
        raise CliError(
            "`accessgraph token` works only in dev mode (ACCESSGRAPH_ENV=dev); "
            "in prod, people sign in.",
            EXIT_USAGE,
        )
    from gql.http.app import signer_for

    now = utc_now()
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine) as session:
            db = Db(session)
            account = await sessions.account_by_email(db, email)
            if account is None:
                staff = await sessions.staff_member_by_email(db, email)
                if staff is None:
                    raise CliError(
                        f"no account or staff record has the email {email!r}; check the "
                        "address (staff come from the roster: accessgraph sync oneroster DIR)."
                    )
                account_id = await sessions.create_staff_account(db, staff, now=now)
            else:
                account_id = account.id
            session_id = await sessions.create_session(
                db,
                account_id=account_id,
                now=now,
                lifetime=dt.timedelta(days=settings.session_days),
                client="accessgraph token",
            )
            await db.commit()
    finally:
        await engine.dispose()
    print(signer_for(settings).issue(account_id=account_id, session_id=session_id, now=now))
    return 0


async def grant_role(
    settings: Settings, email: str, role_name: str, *, school: str | None, district: str | None
) -> int:
    try:
        role = Role(role_name.upper())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise CliError(f"unknown role {role_name!r}; use one of: {names}.", EXIT_USAGE) from None
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine) as session:
            db = Db(session)
            account = await sessions.account_by_email(db, email)
            if account is None:
                raise CliError(
                    f"no account has the email {email!r}; the person signs in once first "
                    "(staff in dev: accessgraph token EMAIL makes their account)."
                )
            schools = SCHOOLS
            districts = DISTRICTS
            if school is not None:
                where = await db.first(
                    sa.select(schools.c.id, schools.c.district_id).where(
                        schools.c.sourced_id == school
                    )
                )
                if where is None:
                    raise CliError(
                        f"no school has the sourcedId {school!r}; give a school's sourcedId "
                        "from the roster."
                    )
                school_id, district_id = where.id, where.district_id
            else:
                found = await db.first(
                    sa.select(districts.c.id).where(districts.c.sourced_id == district)
                )
                if found is None:
                    raise CliError(
                        f"no district has the sourcedId {district!r}; give the district's "
                        "sourcedId from the roster."
                    )
                school_id, district_id = None, found.id
            grants = ROLE_GRANTS
            exists = await db.first(
                sa.select(grants.c.id).where(
                    grants.c.account_id == account.id,
                    grants.c.role == role.value,
                    grants.c.district_id == district_id,
                    grants.c.school_id.is_(None)
                    if school_id is None
                    else grants.c.school_id == school_id,
                )
            )
            if exists is None:
                await db.execute(
                    sa.insert(grants).values(
                        account_id=account.id,
                        role=role.value,
                        school_id=school_id,
                        district_id=district_id,
                        source=RoleGrantSource.MANUAL,
                        created_at=utc_now(),
                    )
                )
                await db.commit()
                print(f"Granted {role.value} to {email}.")
            else:
                print(f"{email} already holds {role.value} there.")
    finally:
        await engine.dispose()
    return 0


def print_schema(*, check: str | None) -> int:
    from gql.http.graphql_schema import print_sdl

    printed = print_sdl()
    if check is None:
        sys.stdout.write(printed)
        return 0
    committed = Path(check).read_text() if Path(check).exists() else ""
    if committed != printed:
        raise CliError(f"{check} differs from the served schema; run `make schema` and commit it.")
    return 0


def read_documents(path: Path) -> dict[str, str]:
    """``{sha256: document}`` from a .graphql file, a JSON object of that
    shape, or an Apollo persisted-query manifest."""
    text = path.read_text()
    if path.suffix in {".graphql", ".gql"}:
        return {document_hash(text): text}
    data = json.loads(text)
    if isinstance(data, dict) and isinstance(data.get("operations"), list):
        return {op["id"]: op["body"] for op in data["operations"]}
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return {str(k): v for k, v in data.items()}
    raise ValueError(f"{path}: not a document, a {{hash: document}} object or a manifest")


async def register_documents(settings: Settings, file: str, *, client: str) -> int:
    try:
        documents = read_documents(Path(file))
    except (OSError, ValueError, KeyError) as exc:
        raise CliError(f"cannot read {file}: {exc}") from exc
    engine = create_engine(settings.database_url)
    try:
        async with AsyncSession(engine) as session:
            db = Db(session)
            try:
                added = await register(db, documents, client=client, now=utc_now())
            except ValueError as exc:
                raise CliError(f"refused: {exc}; nothing was registered.") from exc
            await db.commit()
    finally:
        await engine.dispose()
    print(f"Registered {added} new document(s) for {client} ({len(documents) - added} known).")
    return 0
