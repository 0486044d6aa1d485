"""``python -m bench.limits``: how long the query limits take to validate
the expanding documents of the attack suite (tests/test_attacks.py), and how
many selections they look at. Not part of ``make test``: the tests count the
work (visits), this measures the time.

    .venv/bin/python -m bench.limits               # default limits (refused early)
    .venv/bin/python -m bench.limits --unbounded   # budgets no document reaches

Each document is validated afresh (no cache) ``--repeat`` times; the table
gives its tokens, the limit walk's visits, the median time of the limit walk
alone and of the whole validation (limits, then graphql-core's rules).
"""

from __future__ import annotations

import argparse
import statistics
import time

from graphql import parse

from gql.http.graphql_schema import build_schema
from gql.http.limits import WORK, Budget, check_limits
from gql.settings import Settings
from tests.test_attacks import ATTACKS, aliased_chain, fan_out, fragment_chain, token_count

UNBOUNDED = {
    "max_aliases": 10**30,
    "max_fields": 10**30,
    "max_directives": 10**30,
    "max_cost": 10**30,
}


def documents() -> dict[str, str]:
    return ATTACKS | {
        "doubling chain 120": fragment_chain(120, 2),
        "tripling chain 100": fragment_chain(100, 3),
        "aliased doubling chain 60": aliased_chain(60),
        "fan-out 120 by 120": fan_out(120),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unbounded", action="store_true", help="budgets nothing reaches")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args(argv)
    settings = Settings(env="prod", secret_key="b" * 64, **(UNBOUNDED if args.unbounded else {}))
    schema = build_schema(settings)
    budget = Budget(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        max_fields=settings.max_fields,
        max_directives=settings.max_directives,
        max_cost=settings.max_cost,
        max_page_size=settings.max_page_size,
    )
    print("| document | tokens | visits | limits (ms) | validation (ms) | answer |")
    print("|---|---:|---:|---:|---:|---|")
    for name, text in documents().items():
        document = parse(text)
        limit_times, full_times = [], []
        for _ in range(args.repeat):
            before = WORK.visits
            started = time.perf_counter()
            check_limits(schema._schema, document, budget)
            limit_times.append(time.perf_counter() - started)
            visits = WORK.visits - before
            schema.validate_document.answers.clear()  # so that the cache misses
            started = time.perf_counter()
            errors = schema.validate_document(document)
            full_times.append(time.perf_counter() - started)
        answer = errors[0].message[:60] if errors else "valid"
        print(
            f"| {name} | {token_count(text)} | {visits} "
            f"| {statistics.median(limit_times) * 1000:.3f} "
            f"| {statistics.median(full_times) * 1000:.3f} | {answer} |"
        )


if __name__ == "__main__":
    main()
