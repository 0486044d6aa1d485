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
from permissions.visibility import Reach, visible_to


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


class Restricted(FieldExtension):
    def __init__(self, capability: Capability, what: str) -> None:
        self.capability = capability
        self.what = what
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
        field.description = f"{self.described} {visible_to(self.capability, reach)}".strip()

    def _deny(self, viewer: Viewer) -> Exception:
        if not viewer.is_authenticated:
            return Unauthenticated()
        return Forbidden(f"Your role does not allow seeing {self.what}.")

    def resolve(
        self, next_: Any, source: HasCapabilities, info: Info[Any, Any], **kwargs: Any
    ) -> Any:
        viewer = _viewer(info)
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


def restricted(capability: Capability, what: str) -> list[FieldExtension]:
    """``@strawberry.field(extensions=restricted(...))``: ``grep restricted(``
    lists every field-level rule. The field's description says what it is;
    ``Visible to: ...`` is appended from the capability table."""
    return [Restricted(capability, what)]


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
