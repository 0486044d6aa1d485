"""The ``accessgraph`` console script (docs/architecture.md section 6).

Every failure that is a person's mistake or the environment's ends here as
one line on stderr and an exit code (``gql.cli.errors``): commands raise
``CliError``, and the library exceptions they let through (settings
validation, database URL parsing, an unreachable database) are translated
below, at this one boundary. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import sys
from collections.abc import Iterator, Sequence

import pydantic
import pydantic_core
import sqlalchemy as sa

from gql.cli.errors import EXIT_FAILED, EXIT_USAGE, CliError
from gql.settings import Settings
from resolvers.db import DatabaseUnavailable, StatementTimedOut, async_url, translate

URL_FORMS = "sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
# PostgreSQL refusing the connection itself: bad credentials (class 28) or
# a database that does not exist (3D000).
_CONNECTION_REFUSED_STATES = ("28", "3D000")
_UNDEFINED_TABLE = "42P01"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accessgraph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the ASGI app under uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply migrations to the configured database")

    demo = commands.add_parser("demo", help="load a generated demo district")
    demo.add_argument("--students", type=int, default=2000)
    demo.add_argument(
        "--if-empty", action="store_true", help="do nothing when the database already has data"
    )
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")

    sync = commands.add_parser("sync", help="import from a school information system")
    sync_commands = sync.add_subparsers(dest="sync_command", required=True)
    oneroster = sync_commands.add_parser(
        "oneroster",
        help="import a OneRoster 1.2 (or 1.1) CSV export: a directory or a zip file",
        description="Exit codes: 0 written with no problems, 3 written with rows skipped "
        "(listed), 1 refused with nothing written.",
    )
    oneroster.add_argument("directory", metavar="PATH", help="a directory or a .zip")
    oneroster.add_argument("--dry-run", action="store_true")
    oneroster.add_argument("--json", action="store_true", help="print the summary as JSON")
    oneroster.add_argument(
        "--strict",
        action="store_true",
        help="all or nothing: write nothing if any row has a problem",
    )
    oneroster.add_argument(
        "--confirm-mass-change",
        action="store_true",
        help="write even if the sync deactivates more than ACCESSGRAPH_SYNC_MASS_CHANGE_SHARE "
        "of a district's people",
    )

    api = sync_commands.add_parser(
        "oneroster-api",
        help="import from a OneRoster 1.2 REST provider (OAuth 2.0 client credentials)",
        description="The first pull (or --full) reads everything, as a bulk export; later "
        "pulls read what changed since the last successful one, as a delta. Exit codes as "
        "for sync oneroster.",
    )
    api.add_argument("--base-url", required=True, help="the provider's base URL")
    api.add_argument("--client-id", required=True)
    api.add_argument("--client-secret-file", required=True, help="a file holding the client secret")
    api.add_argument("--token-url", help="the OAuth 2.0 token endpoint (default BASE_URL/token)")
    api.add_argument(
        "--scope",
        help="the OAuth 2.0 scopes to ask for, space-separated, when the provider wants them "
        "(OneRoster 1.2: https://purl.imsglobal.org/spec/or/v1p2/scope/roster-core.readonly ...)",
    )
    api.add_argument("--full", action="store_true", help="read everything, not only changes")
    api.add_argument("--dry-run", action="store_true")
    api.add_argument("--json", action="store_true", help="print the summary as JSON")
    api.add_argument("--strict", action="store_true")
    api.add_argument("--confirm-mass-change", action="store_true")

    token = commands.add_parser("token", help="print an access token (dev mode only)")
    token.add_argument("email")

    grant = commands.add_parser("grant", help="grant a role to the account with this email")
    grant.add_argument("email")
    grant.add_argument("role")
    where = grant.add_mutually_exclusive_group(required=True)
    where.add_argument("--school", metavar="SOURCED_ID")
    where.add_argument("--district", metavar="SOURCED_ID")

    documents = commands.add_parser("documents", help="trusted documents")
    documents_commands = documents.add_subparsers(dest="documents_command", required=True)
    register = documents_commands.add_parser(
        "register", help="register a client's documents from a file"
    )
    register.add_argument(
        "file",
        help="a .graphql document, a JSON object {sha256: document}, or an Apollo "
        "persisted-query manifest",
    )
    register.add_argument("--client", required=True, help="the client's name, e.g. ios-app")

    schema = commands.add_parser("schema", help="the served GraphQL schema")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True)
    printer = schema_commands.add_parser("print", help="print the schema as SDL")
    printer.add_argument(
        "--check", metavar="FILE", help="exit 1 if FILE differs from the printed schema"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # a usage error exits 2 with argparse's message
    database_url: str | None = None
    try:
        settings = Settings()
        database_url = settings.database_url
        if args.command != "schema":
            check_database_url(database_url)
        return _run(args, settings)
    except Exception as exc:
        error = cli_error(exc, database_url)
        if error is None:
            raise
        print(f"accessgraph: {error.message}", file=sys.stderr)
        return error.exit_code


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        from gql.cli.server import serve

        return serve(settings, host=args.host, port=args.port, workers=args.workers)
    if args.command == "db":
        from gql.migrations import upgrade

        upgrade(settings.database_url)
        print("database is up to date")
        return 0
    if args.command == "demo":
        from gql.cli.demo import run_demo

        return asyncio.run(
            run_demo(settings, students=args.students, if_empty=args.if_empty, as_json=args.json)
        )
    if args.command == "sync" and args.sync_command == "oneroster-api":
        from gql.cli.sync_api import read_secret, run_sync_api

        secret = read_secret(args.client_secret_file)
        return asyncio.run(
            run_sync_api(
                settings,
                base_url=args.base_url,
                client_id=args.client_id,
                client_secret=secret,
                token_url=args.token_url,
                full=args.full,
                scope=args.scope,
                dry_run=args.dry_run,
                as_json=args.json,
                strict=args.strict,
                confirm_mass_change=args.confirm_mass_change,
            )
        )
    if args.command == "sync":
        from gql.cli.sync import run_sync

        return asyncio.run(
            run_sync(
                settings,
                args.directory,
                dry_run=args.dry_run,
                as_json=args.json,
                strict=args.strict,
                confirm_mass_change=args.confirm_mass_change,
            )
        )
    if args.command == "token":
        from gql.cli.commands import mint_token

        return asyncio.run(mint_token(settings, args.email))
    if args.command == "grant":
        from gql.cli.commands import grant_role

        return asyncio.run(
            grant_role(settings, args.email, args.role, school=args.school, district=args.district)
        )
    if args.command == "documents":
        from gql.cli.commands import register_documents

        return asyncio.run(register_documents(settings, args.file, client=args.client))
    if args.command == "schema":
        from gql.cli.commands import print_schema

        return print_schema(check=args.check)
    raise AssertionError(args.command)  # argparse rejects unknown commands


def check_database_url(url: str) -> None:
    """Refuse a database URL that cannot work before anything connects."""
    if not url.strip():
        raise CliError(
            f"ACCESSGRAPH_DATABASE_URL is empty; set it to {URL_FORMS} "
            "(or unset it for sqlite:///accessgraph.sqlite3).",
            EXIT_USAGE,
        )
    try:
        async_url(url)
    except sa.exc.ArgumentError as exc:
        raise CliError(
            f"ACCESSGRAPH_DATABASE_URL is not a database URL ({redacted(url)!r}); use {URL_FORMS}.",
            EXIT_USAGE,
        ) from exc
    except ValueError as exc:  # a URL of another database
        scheme = url.partition(":")[0]
        raise CliError(
            f"ACCESSGRAPH_DATABASE_URL names an unsupported database ({scheme!r}); "
            f"use {URL_FORMS}.",
            EXIT_USAGE,
        ) from exc


def cli_error(exc: BaseException, database_url: str | None) -> CliError | None:
    """The one line for an exception that is not a bug, else None."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, pydantic.ValidationError):
        problems = "; ".join(_setting_problem(error) for error in exc.errors())
        return CliError(
            f"invalid configuration: {problems}; fix the ACCESSGRAPH_* environment variables.",
            EXIT_USAGE,
        )
    where = f" at {redacted(database_url)}" if database_url else ""
    for link in _chain(exc):
        if _is_missing_table(link):
            return CliError(
                f"the database{where} has no tables yet; run `accessgraph db upgrade` first.",
                EXIT_FAILED,
            )
        reason = _unreachable(link)
        if reason is not None:
            check = (
                "that its directory exists"
                if (database_url or "").startswith("sqlite")
                else "that the database server is running"
            )
            return CliError(
                f"cannot use the database{where} ({reason}); check ACCESSGRAPH_DATABASE_URL "
                f"and {check}.",
                EXIT_FAILED,
            )
    if isinstance(exc, OSError):  # a file or folder the command was given or writes
        return CliError(_one_line(str(exc)), EXIT_FAILED)
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _sqlstate(exc: BaseException) -> str | None:
    if not isinstance(exc, sa.exc.DBAPIError) or exc.orig is None:
        return None
    cause = exc.orig.__cause__
    state = getattr(cause, "sqlstate", None) or getattr(exc.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def _is_missing_table(exc: BaseException) -> bool:
    if _sqlstate(exc) == _UNDEFINED_TABLE:
        return True
    return isinstance(exc, sa.exc.DBAPIError | DatabaseUnavailable) and "no such table" in str(exc)


def _unreachable(exc: BaseException) -> str | None:
    """Why the database cannot be used, when that is the failure."""
    state = _sqlstate(exc)
    if state is not None and state.startswith(_CONNECTION_REFUSED_STATES):
        assert isinstance(exc, sa.exc.DBAPIError)
        return _one_line(str(exc.orig))
    if isinstance(exc, sa.exc.DBAPIError | sa.exc.TimeoutError | DatabaseUnavailable):
        failure = translate(exc)
        if isinstance(failure, DatabaseUnavailable | StatementTimedOut):
            return _one_line(str(failure))
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return _one_line(str(exc) or type(exc).__name__)
    return None


def _setting_problem(error: pydantic_core.ErrorDetails) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    location = ".".join(str(part) for part in error["loc"])
    return f"ACCESSGRAPH_{location.upper()}: {message}" if location else message


def redacted(url: str) -> str:
    """The URL without its password, to be printed."""
    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", url)


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
