"""Cross-school links: accounts with current access to students at two or
more schools of one district (the district dashboard).

A page costs two statements whatever its size: one for the page of accounts
(grouped, HAVING two or more schools; the total counted by a window over the
grouped links, the accounts joined), one for the students of every account on
the page with their schools joined. Only a grant that is active today, to a student who is
enrolled today, makes a link.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.sql import ColumnElement

from permissions.viewer import Viewer
from resolvers.common import grouped_in_key_order
from resolvers.db import Db
from resolvers.directory.accounts import account_columns
from resolvers.pagination import Page, PageRequest, count, keyset_page
from resolvers.scope import student_filter
from resolvers.tables import ACCOUNTS, GRANTS, SCHOOLS, STUDENTS, EnrolmentStatus

# Keyset by account id alone: one row per account after grouping.
ORDER = (GRANTS.c.account_id,)


def _linking_grants(viewer: Viewer, district_id: int) -> list[ColumnElement[bool]]:
    # The field is restricted to the district's admins, whose scope is the
    # whole district; the scope filter still cuts anything else out.
    return [
        GRANTS.c.district_id == district_id,
        STUDENTS.c.district_id == district_id,
        GRANTS.c.revoked_at.is_(None),
        STUDENTS.c.status == EnrolmentStatus.ENROLLED,
        student_filter(viewer.scope),
    ]


def _linked_accounts(viewer: Viewer, district_id: int) -> sa.Select[Any]:
    return (
        sa.select(GRANTS.c.account_id)
        .join(STUDENTS, STUDENTS.c.id == GRANTS.c.student_id)
        .where(*_linking_grants(viewer, district_id))
        .group_by(GRANTS.c.account_id)
        .having(sa.func.count(sa.distinct(STUDENTS.c.school_id)) >= 2)
    )


LINK_ACCOUNT = ACCOUNTS.alias("link_account")
SCHOOL_PREFIX = "school__"


async def link_page(
    db: Db, viewer: Viewer, district_id: int, request: PageRequest
) -> tuple[Page, int | None]:
    """A page of rows with ``account_id`` and the account's columns (under
    ``ACCOUNT_PREFIX``), ordered by account id, and the number of links in
    all (None when the page is empty: ask ``link_count``)."""
    linked = (
        _linked_accounts(viewer, district_id)
        .add_columns(sa.func.count().over().label("total_links"))
        .subquery("linked")
    )
    query = sa.select(
        linked.c.account_id, linked.c.total_links, *account_columns(LINK_ACCOUNT)
    ).join(LINK_ACCOUNT, LINK_ACCOUNT.c.id == linked.c.account_id)
    page = await keyset_page(db, query, (linked.c.account_id,), request)
    total = int(page.rows[0].total_links) if page.rows else None
    return page, total


async def link_count(db: Db, viewer: Viewer, district_id: int) -> int:
    return await count(db, _linked_accounts(viewer, district_id))


async def linked_students_by_account(
    db: Db, viewer: Viewer, account_ids: Sequence[int], district_id: int
) -> list[list[Row[Any]]]:
    """The students (student rows) each account's link is made of."""
    parent = GRANTS.c.account_id.label("parent_account_id")
    # DISTINCT: two live grants to one student (a code, then a request)
    # are one student of the link.
    school_columns = [c.label(SCHOOL_PREFIX + c.name) for c in SCHOOLS.c]
    rows = await db.all(
        sa.select(STUDENTS, parent, *school_columns)
        .distinct()
        .join(GRANTS, GRANTS.c.student_id == STUDENTS.c.id)
        .join(SCHOOLS, SCHOOLS.c.id == STUDENTS.c.school_id)
        .where(GRANTS.c.account_id.in_(list(account_ids)), *_linking_grants(viewer, district_id))
        .order_by(parent, STUDENTS.c.family_name, STUDENTS.c.given_name, STUDENTS.c.id)
    )
    return grouped_in_key_order(account_ids, rows, lambda r: r.parent_account_id)
