"""DataLoaders for student-facing data: homework, timetable, forms, the
access review and cross-school links.

A mixin of ``resolvers.loaders.Loaders`` (which sets ``db`` and ``viewer``):
the same rules hold, one request, one viewer, one result per key in key
order. Nested pages are keyed by (parent, parameters) so every parent asking
for the same page is served by one statement.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Hashable, Sequence
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.engine import Row
from strawberry.dataloader import DataLoader

from permissions.viewer import Viewer
from resolvers import audit, cross_school, forms, homework
from resolvers.db import Db
from resolvers.pagination import Page, PageRequest

P = TypeVar("P", bound=Hashable)
R = TypeVar("R")

DateRange = tuple[dt.date, dt.date]


def _grouped_by_parameters(
    fetch: Callable[[Sequence[int], P], Awaitable[list[R]]],
) -> Callable[[list[tuple[int, P]]], Awaitable[list[R]]]:
    """Batch keys (parent id, parameters): one fetch per distinct parameters.

    The same as ``resolvers.loaders.grouped_by_parameters``, which this
    module cannot import: ``resolvers.loaders`` imports this module.
    """

    async def load(keys: list[tuple[int, P]]) -> list[R]:
        by_parameters: dict[P, list[int]] = {}
        for parent, parameters in keys:
            by_parameters.setdefault(parameters, []).append(parent)
        results: dict[tuple[int, P], R] = {}
        for parameters, parents in by_parameters.items():
            unique = list(dict.fromkeys(parents))
            for parent, result in zip(unique, await fetch(unique, parameters), strict=True):
                results[(parent, parameters)] = result
        return [results[key] for key in keys]

    return load


class StudentDataLoaders:
    db: Db
    viewer: Viewer

    # ------------------------------------------------------------ homework, timetable
    @cached_property
    def homework_page_by_student_id(self) -> DataLoader[tuple[int, PageRequest], Page]:
        async def fetch(ids: Sequence[int], page: PageRequest) -> list[Page]:
            return await homework.homework_pages_by_student(self.db, self.viewer, ids, page)

        return DataLoader(load_fn=_grouped_by_parameters(fetch))

    @cached_property
    def homework_count_by_student_id(self) -> DataLoader[int, int]:
        return DataLoader(
            load_fn=lambda keys: homework.homework_counts_by_student(self.db, self.viewer, keys)
        )

    @cached_property
    def timetable_by_student_id(self) -> DataLoader[tuple[int, DateRange], list[Row[Any]]]:
        async def fetch(ids: Sequence[int], dates: DateRange) -> list[list[Row[Any]]]:
            return await homework.timetable_by_student(self.db, self.viewer, ids, dates)

        return DataLoader(load_fn=_grouped_by_parameters(fetch))

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

        return DataLoader(load_fn=_grouped_by_parameters(fetch))

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
            return await cross_school.linked_students_by_account(
                self.db, self.viewer, ids, district_id
            )

        return DataLoader(load_fn=_grouped_by_parameters(fetch))
