"""``accessgraph sync oneroster-api``: the SIS import from a OneRoster 1.2 REST provider.

``resolvers.oneroster.rest`` pulls the provider (OAuth 2.0 client
credentials, paging, retries) and turns its answers into the OneRoster CSV
file set the import reads; this module chooses what to ask for, owns the one
transaction and prints the summary, as ``gql.cli.sync`` does for a
directory (docs/architecture.md sections 4 and 6). The first pull, or one
with ``--full``, asks for everything and is imported as a bulk export; later
pulls ask only for what changed since the last successful one
(``filter=dateLastModified>'…'``) and are imported as a delta. The pull
completes before anything is written: a provider that fails mid-pull
writes nothing. A pull is successful, and moves the next one's start, only
when it was written with no row skipped: a skipped record, and the records
that depend on it, are asked for again next time.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gql.cli.errors import CliError
from gql.cli.sync import print_summary, reconcile_logins_after_sync, terminal_progress
from gql.settings import Settings
from resolvers.db import create_engine
from resolvers.oneroster.importer import SyncSummary, import_oneroster
from resolvers.oneroster.rest import BACKOFF, PAGE_SIZE, MemorySource, ProviderError, file_set, pull
from resolvers.tables import SIS_SYNC_STATES, utc_now

# Records changed while a pull runs may be stamped a little before it
# started, by the provider's clock: the next pull overlaps by this much
# (reading a record twice changes nothing).
OVERLAP = dt.timedelta(minutes=5)


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
    scope: str | None = None,
    dry_run: bool,
    as_json: bool,
    strict: bool = False,
    confirm_mass_change: bool = False,
    page_size: int = PAGE_SIZE,
    retry_backoff: float = BACKOFF,
) -> int:
    """The ``sync oneroster-api`` command; its exit code (0, 3 or 1)."""
    base = base_url.rstrip("/")
    progress = None if as_json else terminal_progress()
    engine = create_engine(settings.database_url)
    try:
        since = None if full else await last_success(engine, base)
        started = utc_now()
        try:
            pulled = await pull(
                base,
                client_id=client_id,
                client_secret=client_secret,
                token_url=token_url or f"{base}/token",
                since=since,
                scope=scope,
                page_size=page_size,
                progress=progress,
                backoff=retry_backoff,
            )
        except ProviderError as error:
            raise CliError(f"{error}; nothing was written.") from None
        files = file_set(base, pulled, delta=since is not None)
        summary = await import_pull(
            engine,
            files,
            base=base,
            started=started,
            dry_run=dry_run,
            settings=settings,
            strict=strict,
            confirm_mass_change=confirm_mass_change,
            as_json=as_json,
        )
    finally:
        await engine.dispose()
    mode = "everything" if since is None else f"changes since {since.isoformat()}"
    print_summary(
        summary,
        title=f"OneRoster pull from {base} ({mode})",
        dry_run=dry_run,
        as_json=as_json,
        extra={
            "since": None if since is None else since.isoformat(),
            "pulled": {name: len(records) for name, records in pulled.collections.items()},
            "not_offered": pulled.not_offered,
        },
    )
    return summary.exit_code


async def import_pull(
    engine: AsyncEngine,
    files: MemorySource,
    *,
    base: str,
    started: dt.datetime,
    dry_run: bool,
    settings: Settings,
    strict: bool,
    confirm_mass_change: bool,
    as_json: bool,
) -> SyncSummary:
    """The pulled file set imported in one transaction, as ``import_directory``
    imports a directory; rolled back for a dry run or a refusal."""
    async with engine.connect() as connection, connection.begin() as transaction:
        summary = await import_oneroster(
            connection,
            files,
            revoke_threshold=settings.large_batch_threshold,
            progress=None if as_json else terminal_progress(),
            strict=strict,
            mass_change_share=settings.sync_mass_change_share,
            confirm_mass_change=confirm_mass_change,
        )
        if summary.written:
            await reconcile_logins_after_sync(connection)
            if not summary.problems:
                await record_last_success(connection, base, started - OVERLAP)
        if dry_run or not summary.written:
            await transaction.rollback()
    return summary


async def last_success(engine: AsyncEngine, source: str) -> dt.datetime | None:
    """When the last successful pull of ``source`` started, less the overlap."""
    async with engine.connect() as connection:
        found = await connection.execute(
            sa.select(SIS_SYNC_STATES.c.last_success_at).where(SIS_SYNC_STATES.c.source == source)
        )
        value = found.scalar_one_or_none()
    if not isinstance(value, dt.datetime):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def record_last_success(connection: AsyncConnection, source: str, at: dt.datetime) -> None:
    updated = await connection.execute(
        SIS_SYNC_STATES.update()
        .where(SIS_SYNC_STATES.c.source == source)
        .values(last_success_at=at)
    )
    if not updated.rowcount:
        await connection.execute(SIS_SYNC_STATES.insert().values(source=source, last_success_at=at))
