"""DataLoaders for student-facing data: homework, timetable, forms, the
access review and cross-school links.

A mixin of ``resolvers.loaders.Loaders`` (which sets ``db`` and ``viewer``):
the same rules hold, one request, one viewer, one result per key in key
order. Nested pages are keyed by (parent, parameters) so every parent asking
for the same page is served by one statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from sqlalchemy.engine import Row
from strawberry.dataloader import DataLoader

from permissions.viewer import Viewer
from resolvers.common import grouped_by_parameters, split_prefixed
from resolvers.db import Db
from resolvers.directory import cross_school
from resolvers.pagination import Page, PageRequest
from resolvers.student_data import audit, forms, homework

DateRange = tuple[dt.date, dt.date]


class StudentDataLoaders:
    db: Db
    viewer: Viewer

    # A path lookup of ``Loaders`` that these loaders prime.
    @property
    def school_by_id(self) -> DataLoader[int, Row[Any] | None]:
        raise NotImplementedError  # ``Loaders`` defines it

    # ------------------------------------------------------------ homework, timetable
    @cached_property
    def homework_page_by_student_id(self) -> DataLoader[tuple[int, PageRequest], Page]:
        async def fetch(ids: Sequence[int], page: PageRequest) -> list[Page]:
            return await homework.homework_pages_by_student(self.db, self.viewer, ids, page)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def homework_count_by_student_id(self) -> DataLoader[int, int]:
        return DataLoader(
            load_fn=lambda keys: homework.homework_counts_by_student(self.db, self.viewer, keys)
        )

    @cached_property
    def timetable_by_student_id(self) -> DataLoader[tuple[int, DateRange], list[Row[Any]]]:
        async def fetch(ids: Sequence[int], dates: DateRange) -> list[list[Row[Any]]]:
            return await homework.timetable_by_student(self.db, self.viewer, ids, dates)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    # ------------------------------------------------------------ access review
    @cached_property
    def current_grants_by_student_id(self) -> DataLoader[int, list[Row[Any]]]:
        return DataLoader(
            load_fn=lambda keys: audit.current_grants_by_student(self.db, self.viewer, keys)
        )

    @cached_property
    def access_log_page_by_student_id(self) -> DataLoader[tuple[int, PageRequest], Page]:
        async def fetch(ids: Sequence[int], page: PageRequest) -> list[Page]:
            return await audit.log_pages_by_student(self.db, self.viewer, ids, page)

        return DataLoader(load_fn=grouped_by_parameters(fetch))

    @cached_property
    def access_log_count_by_student_id(self) -> DataLoader[int, int]:
        return DataLoader(
            load_fn=lambda keys: audit.log_counts_by_student(self.db, self.viewer, keys)
        )

    # ------------------------------------------------------------ forms
    @cached_property
    def form_by_id(self) -> DataLoader[int, Row[Any] | None]:
        return DataLoader(load_fn=lambda keys: forms.forms_by_id(self.db, keys))

    @cached_property
    def questions_by_form_id(self) -> DataLoader[int, list[Row[Any]]]:
        return DataLoader(load_fn=lambda keys: forms.questions_by_form_id(self.db, keys))

    @cached_property
    def form_assignment_in_scope(self) -> DataLoader[int, Row[Any] | None]:
        """For ``node`` (``Loaders.in_scope["FormAssignment"]``) and mutations."""
        return DataLoader(
            load_fn=lambda keys: forms.assignments_in_scope(self.db, self.viewer, keys)
        )

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
