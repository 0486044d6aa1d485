"""Trusted documents: GraphQL documents registered ahead of time by hash."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping

import sqlalchemy as sa

from resolvers.db import Db
from resolvers.tables import TRUSTED_DOCUMENTS


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


async def register(db: Db, documents: Mapping[str, str], *, client: str, now: dt.datetime) -> int:
    """Register ``{sha256: document}``; returns how many were new. A hash
    that does not match its document is refused before anything is written."""
    for sha, document in documents.items():
        if document_hash(document) != sha:
            raise ValueError(f"the hash {sha} does not match its document")
    known = {
        row.sha256
        for row in await db.all(
            sa.select(TRUSTED_DOCUMENTS.c.sha256).where(
                TRUSTED_DOCUMENTS.c.sha256.in_(list(documents))
            )
        )
    }
    new = [
        {"sha256": sha, "document": doc, "client_name": client, "created_at": now}
        for sha, doc in documents.items()
        if sha not in known
    ]
    if new:
        await db.execute(sa.insert(TRUSTED_DOCUMENTS).values(new))
    return len(new)


async def document_by_hash(db: Db, sha: str) -> str | None:
    row = await db.first(
        sa.select(TRUSTED_DOCUMENTS.c.document).where(TRUSTED_DOCUMENTS.c.sha256 == sha)
    )
    return None if row is None else str(row.document)
