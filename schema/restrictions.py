"""Strawberry adapters: restrictions declared on fields.

``Restricted`` runs only on the few restricted fields (a permission class on
every field of a hot list costs ~2 µs a field; scope belongs in SQL). The
object being resolved says which capabilities the viewer holds on it through
``capabilities(viewer)``; the extension only compares. A denied field
resolves to null with a FORBIDDEN error at its path.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import Any, Protocol

from strawberry.extensions import FieldExtension
from strawberry.types import Info
from strawberry.types.field import StrawberryField

from permissions.capabilities import Capability
from permissions.errors import NOT_LINKED_MESSAGE, Forbidden, Unauthenticated
from permissions.roles import AccountKind
from permissions.viewer import Viewer
from permissions.visibility import FORBIDDEN_NOTE, Reach, visible_to


class HasCapabilities(Protocol):
    """A type with restricted fields: ``context`` carries the viewer (and
    loaders, for capabilities that need facts about the object)."""

    def capabilities(
        self, context: Any
    ) -> frozenset[Capability] | Awaitable[frozenset[Capability]]: ...


def _viewer(info: Info[Any, Any]) -> Viewer:
    viewer = info.context.viewer
    assert isinstance(viewer, Viewer)
    return viewer


class HoldsStudentDatum(Protocol):
    """A type that may carry a student's own datum (a student login's email
    is the student's email): ``student_datum`` says whose, and what the
    viewer holds on that student, or None when the object carries none."""

    async def student_datum(self, context: Any) -> StudentDatum | None: ...


class StudentDatum:
    """The student a copied datum belongs to, and what the viewer holds on
    them (the same answer ``Student.capabilities`` gives)."""

    __slots__ = ("capabilities", "district_id", "student_id")

    def __init__(
        self, student_id: int, district_id: int, capabilities: frozenset[Capability]
    ) -> None:
        self.student_id = student_id
        self.district_id = district_id
        self.capabilities = capabilities


class Restricted(FieldExtension):
    def __init__(self, capability: Capability, what: str, of_student: Capability | None) -> None:
        self.capability = capability
        self.what = what
        # When the object carries a student's own datum: the student's rule.
        self.of_student = of_student
        self.described: str | None = None

    def apply(self, field: StrawberryField) -> None:
        """The field's description gains who may see it, from the capability
        table for the ``reach`` its type declares (permissions/visibility.py).
        Runs at each schema build: the written description is kept aside."""
        reach = getattr(field.origin, "reach", None)
        if not isinstance(reach, Reach):
            raise TypeError(f"{field.origin}: a type with restricted fields declares its reach")
        if self.described is None:
            self.described = field.description or ""
        described = self.described
        if self.of_student is not None:
            # Before the general rule, which ends the description as for any
            # restricted field.
            whom = (
                visible_to(self.of_student, Reach.STUDENT)
                .removeprefix("Visible to: ")
                .removesuffix(" " + FORBIDDEN_NOTE)
            )
            described += (
                " On a STUDENT account it is the student's own datum, readable only as the "
                f"student's is, by: {whom}"
            )
        field.description = f"{described} {visible_to(self.capability, reach)}".strip()

    def _deny(self, viewer: Viewer) -> Exception:
        if not viewer.is_authenticated:
            return Unauthenticated()
        return Forbidden(f"Your role does not allow seeing {self.what}.")

    def resolve(
        self, next_: Any, source: HasCapabilities, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        viewer = _viewer(info)
        if self.of_student is not None:
            raise TypeError("a field restricted as a student's datum needs an async resolver")
        held = source.capabilities(info.context)
        if inspect.isawaitable(held):
            raise TypeError("a field restricted by awaited capabilities needs an async resolver")
        if self.capability not in held:
            raise self._deny(viewer)
        _note_read(source, info, info.field_name)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Any, source: HasCapabilities, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        viewer = _viewer(info)
        datum = await source.student_datum(info.context) if self.of_student is not None else None  # type: ignore[attr-defined]
        if datum is not None:
            # A student's datum on another type: held, and logged, as the
            # student's own field is (docs/architecture.md section 3).
            if self.of_student not in datum.capabilities:
                raise self._deny(viewer)
            if viewer.student_id != datum.student_id:
                info.context.reads.note(
                    student_id=datum.student_id,
                    district_id=datum.district_id,
                    field_name=info.field_name,
                )
        else:
            held = source.capabilities(info.context)
            if inspect.isawaitable(held):
                held = await held
            if self.capability not in held:
                raise self._deny(viewer)
            _note_read(source, info, info.field_name)
        result = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


def _note_read(source: Any, info: Info[Any, Any], field: str) -> None:
    """Objects whose reads are audited (a student's restricted fields) say
    so with ``note_read``; the request writes them all at its end."""
    note = getattr(source, "note_read", None)
    if note is not None:
        note(info.context, field)


def restricted(
    capability: Capability, what: str, *, of_student: Capability | None = None
) -> list[FieldExtension]:
    """``@strawberry.field(extensions=restricted(...))``: ``grep restricted(``
    lists every field-level rule. The field's description says what it is;
    ``Visible to: ...`` is appended from the capability table.

    A field that can expose a student's own datum through another type (a
    student login's email is the student's email) declares the student's
    capability as ``of_student``: when the object's ``student_datum`` names
    a student, that capability on that student is required instead, and the
    read is logged as a read of the student, exactly as the field on
    ``Student`` is. A copy never gets a weaker rule than the original."""
    return [Restricted(capability, what, of_student)]


class RequireSignIn(FieldExtension):
    """Root fields other than ``viewer``: anonymous callers are refused."""

    def resolve(self, next_: Any, source: Any, info: Info[Any, Any], **kwargs: Any) -> Any:
        if not _viewer(info).is_authenticated:
            raise Unauthenticated()
        return next_(source, info, **kwargs)

    async def resolve_async(
        self, next_: Any, source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        if not _viewer(info).is_authenticated:
            raise Unauthenticated()
        result = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


def signed_in() -> list[FieldExtension]:
    return [RequireSignIn()]


class RequireWriter(FieldExtension):
    """Mutations by staff: signed in, linked to an active staff record
    (docs/architecture.md section 2, "Look, don't touch"), and holding ``capability`` somewhere.
    Which students or schools the capability covers is then checked against
    the mutation's input, in SQL (out of scope → NOT_FOUND user errors)."""

    def __init__(self, capability: Capability, *, needs_staff_record: bool) -> None:
        self.capability = capability
        self.needs_staff_record = needs_staff_record

    def _check(self, viewer: Viewer) -> None:
        if not viewer.is_authenticated:
            raise Unauthenticated()
        needs_link = self.needs_staff_record and not viewer.can_record_data
        if needs_link and viewer.kind is AccountKind.STAFF:
            # Before the role check: a deactivated record's SIS roles no
            # longer count, and the account should hear why it cannot write.
            raise Forbidden(NOT_LINKED_MESSAGE)
        if needs_link or not viewer.scope.holds_anywhere(self.capability):
            raise Forbidden("Your role does not allow this.")

    async def resolve_async(
        self, next_: Any, source: Any, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        self._check(_viewer(info))
        result = next_(source, info, **kwargs)
        if inspect.isawaitable(result):
            return await result
        return result


def staff_writes(capability: Capability) -> list[FieldExtension]:
    """A staff mutation needing ``capability`` and a linked, active staff record."""
    return [RequireWriter(capability, needs_staff_record=True)]


def signed_in_writes() -> list[FieldExtension]:
    """A mutation any signed-in account may attempt (redeem a code, activate
    a connection): what it may touch is decided by its input."""
    return [RequireSignIn()]
