"""The README's typed-client guide works: GraphQL Code Generator (pinned by
tools/codegen/package-lock.json, installed with ``npm ci``) generates
TypeScript types from schema.graphql and every document in the README."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.databases import in_ci
from tests.test_readme_queries import DOCUMENTS

CODEGEN = Path(__file__).resolve().parent.parent / "tools" / "codegen"


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        if in_ci():
            pytest.fail("npm is not installed: the codegen test needs node and npm")
        pytest.skip("npm is not installed: the codegen test needs node and npm")
    return npm


def _install(npm: str) -> None:
    """``npm ci`` from the lock file; offline, from the npm cache."""
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"],
        cwd=CODEGEN,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _operation_name(document: str) -> str:
    match = re.match(r"\s*(query|mutation)\s+(\w+)", document)
    assert match, f"a README operation without a name: {document[:60]}"
    return match[2] + match[1].capitalize()


def test_every_readme_operation_is_named() -> None:
    names = [_operation_name(d) for d in DOCUMENTS]
    assert len(names) == len(set(names))


def test_codegen_generates_types_for_the_schema_and_the_readme_documents(tmp_path: Path) -> None:
    npm = _npm()
    _install(npm)
    documents = tmp_path / "documents"
    documents.mkdir()
    for i, document in enumerate(DOCUMENTS):
        (documents / f"{i:02}.graphql").write_text(document)
    output = tmp_path / "graphql.ts"
    done = subprocess.run(
        [npm, "run", "--silent", "codegen"],
        cwd=CODEGEN,
        env={
            **os.environ,
            "CODEGEN_DOCUMENTS": str(documents / "*.graphql"),
            "CODEGEN_OUTPUT": str(output),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    generated = output.read_text()
    declared = set(re.findall(r"^export type (\w+) =\s", generated, flags=re.MULTILINE))
    for document in DOCUMENTS:
        name = _operation_name(document)
        assert {name, f"{name}Variables"} <= declared
    # the guides' operations, the schema's types, and their descriptions as comments
    assert {"ClassListQuery", "CrossSchoolLinksQuery", "HomeQuery", "Student", "Role"} <= declared
    # descriptions become doc comments, who may see a field included
    assert (
        "  /** The student's email as the SIS records it. Visible to: district admins, school "
        "admins and enrolment managers of the student's school (or its district); the "
        "student's guardians; the student themself. Anyone else gets null here, with a "
        "FORBIDDEN error at this field. */\n  email: Maybe<Scalars['String']['output']>;"
    ) in generated
