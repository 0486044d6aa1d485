"""Compare an upstream copy of the client contract with the repository's own.

Usage: python tools/check_contract_copy.py UPSTREAM [OURS]

Fails (exit 1) when the repository's copy breaks anything in the upstream
contract (graphql-core's ``find_breaking_changes``), so the tests, which
check the served schema against the repository's copy, also hold the
upstream promise.
"""

from __future__ import annotations

import sys
from pathlib import Path

from graphql import build_schema
from graphql.utilities import find_breaking_changes

OURS = Path(__file__).resolve().parent.parent / "docs" / "contract" / "contract.graphql"


def main(argv: list[str]) -> int:
    if not argv or len(argv) > 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    upstream = Path(argv[0])
    ours = Path(argv[1]) if len(argv) > 1 else OURS
    changes = find_breaking_changes(
        build_schema(upstream.read_text()), build_schema(ours.read_text())
    )
    for change in changes:
        print(f"{change.type.name}: {change.description}")
    print(f"{len(changes)} breaking changes from {upstream} to {ours}")
    return 1 if changes else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
