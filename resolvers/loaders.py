"""Per-request DataLoaders, named ``<thing>_by_<key>``.

Built for one request and one viewer, never shared: a loader's cache holds
only what this viewer may see. Each returns one result per key, in key order.
Nested connections are loaded with their page arguments in the key, so every
parent asking for the same page is served by one statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property
from typing import Any

from sqlalchemy.engine import Row
from strawberry.dataloader import DataLoader

from permissions.viewer import Viewer
from resolvers.common import grouped_by_parameters, split_prefixed
from resolvers.db import Db
from resolvers.directory import accounts, cross_school, guardians, schools, staff, students
from resolvers.pagination import Page, PageRequest
from resolvers.portal import access
from resolvers.portal import connection_requests as connections
from resolvers.student_data import audit, forms, homework

RowLoader = DataLoader[int, Row[Any] | None]
# A grants page: the page, and whether revoked grants are included.
GrantPage = tuple[PageRequest, bool]
RowsLoader = DataLoader[int, list[Row[Any]]]
# A timetable window: first and last day.
DateRange = tuple[dt.date, dt.date]


class Loaders:
    def __init__(self, db: Db, viewer: Viewer) -> None:
        self.db = db
        self.viewer = viewer

    def _rows(
        self, fetch: Callable[[Db, Sequence[int]], Awaitable[list[Row[Any] | None]]]
    ) -> RowLoader:
        async def load(keys: list[int]) -> list[Row[Any] | None]:
            return await fetch(self.db, keys)

        return DataLoader(load_fn=load)

    def _scoped(
        self, fetch: Callable[[Db, Viewer, Sequence[int]], Awaitable[list[Any]]]
    ) -> DataLoader[int, Any]:
        async def load(keys: list[int]) -> list[Any]:
            return await fetch(self.db, self.viewer, keys)

        return DataLoader(load_fn=load)

    # ------------------------------------------------------------ path lookups
    @cached_property
    def district_by_id(self) -> RowLoader:
        return self._rows(schools.districts_by_id)

    @cached_property
    def school_by_id(self) -> RowLoader:
        return self._rows(schools.schools_by_id)

    @cached_property
    def year_group_by_id(self) -> RowLoader:
        return self._rows(schools.year_groups_by_id)

    @cached_property
    def student_by_id(self) -> RowLoader:
        return self._rows(students.students_by_id)

    @cached_property
    def guardian_by_id(self) -> RowLoader:
        return self._rows(guardians.guardians_by_id)

    @cached_property
    def staff_member_by_id(self) -> RowLoader:
        return self._rows(staff.staff_by_id)

    @cached_property
    def account_by_id(self) -> RowLoader:
        return self._rows(accounts.accounts_by_id)

    @cached_property
    def account_by_guardian_id(self) -> RowLoader:
        return self._rows(accounts.newest_account_by_guardian_id)

    @cached_property
    def account_by_staff_member_id(self) -> RowLoader:
        return self._rows(accounts.accounts_by_staff_id)

    @cached_property
    def active_code_by_student_id(self) -> RowLoader:
        return self._rows(access.active_code_by_student_id)

    @cached_property
    def student_account_by_student_id(self) -> RowLoader:
        return self._rows(access.student_account_by_student_id)

    @cached_property
    def eligible_by_guardian_id(self) -> DataLoader[int, bool]:
        return DataLoader(load_fn=lambda keys: access.eligible_by_guardian_id(self.db, keys))

    # ------------------------------------------------------------ lists under a parent
    @cached_property
    def year_groups_by_school_id(self) -> RowsLoader:
        return DataLoader(load_fn=lambda keys: schools.year_groups_by_school_id(self.db, keys))

    @cached_property
    def contacts_by_student_id(self) -> RowsLoader:
        return DataLoader(load_fn=lambda keys: students.contacts_by_student_id(self.db, keys))

    @cached_property
    def students_by_guardian_id(self) -> RowsLoader:
        return self._scoped(students.students_in_scope_by_guardian_id)

    @cached_property
    def student_refs_by_guardian_id(self) -> RowsLoader:
        return DataLoader(load_fn=lambda keys: students.student_refs_by_guardian_id(self.db, keys))

    @cached_property
    def schools_by_staff_member_id(self) -> RowsLoader:
        return self._scoped(staff.schools_by_staff_id)

    @cached_property
    def sections_by_staff_member_id(self) -> RowsLoader:
        return self._scoped(staff.sections_by_staff_id)

    @cached_property
    def staff_school_refs_by_staff_member_id(self) -> RowsLoader:
        return DataLoader(load_fn=lambda keys: staff.staff_school_refs_by_staff_id(self.db, keys))

    @cached_property
    def teachers_by_section_id(self) -> RowsLoader:
        return DataLoader(load_fn=lambda keys: staff.teachers_by_section_id(self.db, keys))

    @cached_property
    def role_grants_by_account_id(self) -> RowsLoader:
        return DataLoader(load_fn=lambda keys: accounts.role_grants_by_account_id(self.db, keys))

    @cached_property
    def reach_by_account_id(self) -> RowsLoader:
        return DataLoader(load_fn=lambda keys: accounts.reach_by_account_id(self.db, keys))

    # ------------------------------------------------------------ homework, timetable
    @cached_property
    def homework_page_by_student_id(self) -> DataLoader[tuple[int, PageRequest], Page]:
        async def fetch(ids: Sequence[int], page: PageRequest) -> list[Page]:
            return await homework.homework_pages_by_student(self.db, self.viewer, ids, page)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def homework_count_by_student_id(self) -> DataLoader[int, int]:
        return self._scoped(homework.homework_counts_by_student)

    @cached_property
    def timetable_by_student_id(self) -> DataLoader[tuple[int, DateRange], list[Row[Any]]]:
        async def fetch(ids: Sequence[int], dates: DateRange) -> list[list[Row[Any]]]:
            return await homework.timetable_by_student(self.db, self.viewer, ids, dates)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    # ------------------------------------------------------------ access review
    @cached_property
    def current_grants_by_student_id(self) -> DataLoader[int, list[Row[Any]]]:
        return self._scoped(audit.current_grants_by_student)

    @cached_property
    def access_log_page_by_student_id(self) -> DataLoader[tuple[int, PageRequest], Page]:
        async def fetch(ids: Sequence[int], page: PageRequest) -> list[Page]:
            return await audit.log_pages_by_student(self.db, self.viewer, ids, page)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def access_log_count_by_student_id(self) -> DataLoader[int, int]:
        return self._scoped(audit.log_counts_by_student)

    # ------------------------------------------------------------ forms
    @cached_property
    def form_by_id(self) -> DataLoader[int, Row[Any] | None]:
        return self._rows(forms.forms_by_id)

    @cached_property
    def questions_by_form_id(self) -> DataLoader[int, list[Row[Any]]]:
        return DataLoader(load_fn=lambda keys: forms.questions_by_form_id(self.db, keys))

    @cached_property
    def form_assignment_in_scope(self) -> DataLoader[int, Row[Any] | None]:
        """For ``node`` (``Loaders.in_scope["FormAssignment"]``) and mutations."""
        return self._scoped(forms.assignments_in_scope)

    # ------------------------------------------------------------ cross-school links
    @cached_property
    def linked_students_by_account_id(
        self,
    ) -> DataLoader[tuple[int, int], list[Row[Any]]]:
        """Keyed by (account id, district id)."""

        async def fetch(ids: Sequence[int], district_id: int) -> list[list[Row[Any]]]:
            groups = await cross_school.linked_students_by_account(
                self.db, self.viewer, ids, district_id
            )
            # The rows carry their schools: ``CrossSchoolLink.schools`` asks nothing more.
            for rows in groups:
                for row in rows:
                    school = split_prefixed(row, cross_school.SCHOOL_PREFIX)
                    self.school_by_id.prime(row.school_id, school)  # type: ignore[arg-type]
            return groups

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    def _prime_from_grants(self, pages: list[Page]) -> list[Page]:
        """Grants rows carry their student and account: prime the path
        loaders so ``grant.student`` and ``grant.account`` ask nothing more."""
        for page in pages:
            for row in page.rows:
                student, account = accounts.split_grant_row(row)
                self.student_by_id.prime(row.student_id, student)  # type: ignore[arg-type]
                self.account_by_id.prime(row.account_id, account)  # type: ignore[arg-type]
        return pages

    # ------------------------------------------------------------ nested pages
    # Keys are (parent id, page parameters); typed inner functions rather than
    # lambdas, so the parameter types are checked.
    @cached_property
    def student_page_by_section_id(self) -> DataLoader[tuple[int, PageRequest], Page]:
        async def fetch(ids: Sequence[int], page: PageRequest) -> list[Page]:
            return await students.student_pages_by_section(self.db, self.viewer, ids, page)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def student_count_by_section_id(self) -> DataLoader[int, int]:
        return self._scoped(students.student_counts_by_section)

    @cached_property
    def grant_page_by_account_id(self) -> DataLoader[tuple[int, GrantPage], Page]:
        async def fetch(ids: Sequence[int], p: GrantPage) -> list[Page]:
            pages = await accounts.grant_pages_by_account(
                self.db, self.viewer, ids, p[0], include_revoked=p[1]
            )
            return self._prime_from_grants(pages)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def grant_count_by_account_id(self) -> DataLoader[tuple[int, bool], int]:
        async def fetch(ids: Sequence[int], include_revoked: bool) -> list[int]:
            return await accounts.grant_counts_by_account(
                self.db, self.viewer, ids, include_revoked=include_revoked
            )

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def grant_page_by_student_id(self) -> DataLoader[tuple[int, GrantPage], Page]:
        async def fetch(ids: Sequence[int], p: GrantPage) -> list[Page]:
            pages = await accounts.grant_pages_by_student(
                self.db, self.viewer, ids, p[0], include_revoked=p[1]
            )
            return self._prime_from_grants(pages)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def grant_count_by_student_id(self) -> DataLoader[tuple[int, bool], int]:
        async def fetch(ids: Sequence[int], include_revoked: bool) -> list[int]:
            return await accounts.grant_counts_by_student(
                self.db, self.viewer, ids, include_revoked=include_revoked
            )

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def request_page_by_student_id(self) -> DataLoader[tuple[int, PageRequest], Page]:
        async def fetch(ids: Sequence[int], page: PageRequest) -> list[Page]:
            return await connections.request_pages_by_student(self.db, self.viewer, ids, page)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def request_count_by_student_id(self) -> DataLoader[int, int]:
        return self._scoped(connections.request_counts_by_student)

    # ------------------------------------------------------------ node lookups (scoped)
    @cached_property
    def in_scope(self) -> dict[str, DataLoader[int, Any]]:
        """``node``/``nodes`` by type name: ids from a client, filtered by scope."""
        return {
            "District": self._scoped(schools.districts_in_scope),
            "School": self._scoped(schools.schools_in_scope),
            "YearGroup": self._scoped(schools.year_groups_in_scope),
            "Student": self._scoped(students.students_in_scope),
            "Guardian": self._scoped(guardians.guardians_in_scope),
            "StaffMember": self._scoped(staff.staff_in_scope),
            "Section": self._scoped(staff.sections_in_scope),
            "Account": self._scoped(accounts.accounts_in_scope),
            "StudentAccessGrant": self._scoped(accounts.grants_in_scope),
            "AccessCode": self._scoped(access.codes_in_scope),
            "ConnectionRequest": self._scoped(connections.requests_in_scope),
            "FormAssignment": self.form_assignment_in_scope,
            "Form": self._scoped(forms.forms_in_scope),
            "Homework": self._scoped(homework.homework_in_scope),
            "AccessEvent": self._scoped(audit.events_in_scope),
        }
