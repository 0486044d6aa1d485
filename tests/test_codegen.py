"""The README's typed-client guide works: GraphQL Code Generator (pinned by
tools/codegen/package-lock.json, installed with ``npm ci``) generates
TypeScript types from schema.graphql and every document in the README, and
the README's TypeScript examples (Apollo Client, the mobile app's trusted
documents, the SPA) type-check against them with ``tsc --strict``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.databases import in_ci
from tests.test_readme_queries import DOCUMENTS, README

CODEGEN = Path(__file__).resolve().parent.parent / "tools" / "codegen"
TS_EXAMPLES = re.findall(r"```ts\n(.*?)```", README.read_text(), flags=re.DOTALL)

# What the README's examples take from the app around them.
PRELUDE = """
declare const token: string;
declare const server: string;
declare const accessToken: string;
declare const sectionId: string;
declare const crossSchoolLinksText: string;
declare const CLASS_LIST: string;
declare function post(document: string, variables: object): Promise<unknown>;
"""
TSCONFIG = """{
  "compilerOptions": {
    "strict": true, "noEmit": true, "skipLibCheck": true,
    "target": "es2022", "module": "esnext", "moduleResolution": "bundler",
    "lib": ["es2022", "dom"], "types": []
  },
  "include": ["*.ts", "*.d.ts", "generated/*.ts"]
}
"""


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


def _codegen(npm: str, tmp_path: Path) -> tuple[str, str]:
    """Generate ``tmp_path/generated/{schema,graphql}.ts`` from schema.graphql
    and the README's documents."""
    documents = tmp_path / "documents"
    documents.mkdir()
    for i, document in enumerate(DOCUMENTS):
        (documents / f"{i:02}.graphql").write_text(document)
    output = tmp_path / "generated"
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
    return (output / "schema.ts").read_text(), (output / "graphql.ts").read_text()


def test_codegen_generates_types_for_the_schema_and_the_readme_documents(tmp_path: Path) -> None:
    npm = _npm()
    _install(npm)
    schema_types, operation_types = _codegen(npm, tmp_path)
    operations = _declared(operation_types)
    for document in DOCUMENTS:
        name = _operation_name(document)
        assert {name, f"{name}Variables"} <= operations
    # the guides' operations; the schema's types with their descriptions as doc
    # comments, who may see a field included
    assert {"ClassListQuery", "CrossSchoolLinksQuery", "HomeQuery"} <= operations
    assert {"Student", "Role", "PageInfo", "CrossSchoolLinkConnection"} <= _declared(schema_types)
    assert (
        "  /** The student's email as the SIS records it. Visible to: district admins, school "
        "admins and enrolment managers of the student's school (or its district); the "
        "student's guardians; the student themself. Anyone else gets null here, with a "
        "FORBIDDEN error at this field. */\n  email: Maybe<Scalars['String']['output']>;"
    ) in schema_types


def _declared(typescript: str) -> set[str]:
    return set(re.findall(r"^export type (\w+)\b", typescript, flags=re.MULTILINE))


def test_the_readme_typescript_examples_type_check_against_the_generated_types(
    tmp_path: Path,
) -> None:
    npm = _npm()
    _install(npm)
    _codegen(npm, tmp_path)
    assert len(TS_EXAMPLES) >= 3
    (tmp_path / "node_modules").symlink_to(CODEGEN / "node_modules")
    (tmp_path / "tsconfig.json").write_text(TSCONFIG)
    (tmp_path / "prelude.d.ts").write_text(PRELUDE)
    for i, example in enumerate(TS_EXAMPLES):
        # each example is a module of its own (top-level await, its own imports)
        (tmp_path / f"example{i}.ts").write_text(example + "\nexport {};\n")
    done = subprocess.run(
        [str(CODEGEN / "node_modules" / ".bin" / "tsc"), "-p", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
