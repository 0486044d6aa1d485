"""Every GraphQL document in the README validates against the served schema,
so the examples client developers copy stay true."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import build_schema, parse, validate

from gql.http.graphql_schema import print_sdl

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.DOTALL)


def _documents(block: str) -> list[str]:
    """A block holds several operations, each starting at column 0."""
    documents, current = [], []
    for line in block.splitlines():
        if line.startswith("#"):
            continue
        if re.match(r"(query|mutation)\b", line) and current:
            documents.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        documents.append("\n".join(current))
    return [d for d in documents if d.strip()]


DOCUMENTS = [doc for block in BLOCKS for doc in _documents(block)]


def test_the_readme_has_examples() -> None:
    assert len(DOCUMENTS) >= 15


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.split("{")[0].strip()[:40])
def test_a_readme_document_is_valid_against_the_served_schema(document: str) -> None:
    schema = build_schema(print_sdl())
    assert [e.message for e in validate(schema, parse(document))] == []
