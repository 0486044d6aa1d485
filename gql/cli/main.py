"""The ``accessgraph`` console script (docs/architecture.md section 6)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from gql.settings import Settings


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
    args = _parser().parse_args(argv)
    settings = Settings()
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


if __name__ == "__main__":
    sys.exit(main())
