"""The Relay Node interface and opaque global IDs.

A global ID is base64("TypeName:pk"). Clients must treat it as opaque. A
malformed id, or one naming a type that is not a node, is simply not found:
``node`` returns null, mutations answer NOT_FOUND. Only the exact string this
server gives out names an object: an id is decoded, encoded again and
compared, so other digits (Arabic-Indic, superscript), leading zeros, extra padding or
spare base64 bits spelling the same words are not found either.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any, Self

import strawberry

if TYPE_CHECKING:
    from sqlalchemy import Row

    from schema.graphql_context import Info


@strawberry.interface(description="An object with a global ID.")
class Node:
    """Each type finds its own objects by id (``resolve_node``), as strawberry's
    relay guide has it: ``node``/``nodes`` look the type up in the served
    schema by the id's type name, so a type is found by id exactly when it is a
    Node of the schema, and no list of types is kept beside the schema."""

    id: strawberry.ID = strawberry.field(
        description="The global ID: node(id:) finds it again, for viewers who may see it."
    )

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        raise NotImplementedError(f"{cls.__name__} says how it is made from its row")

    @classmethod
    async def resolve_node(cls, info: Info, pk: int) -> Self | None:
        """The object with this primary key, or None when it does not exist for
        the viewer. The type's scoped lookup (``Loaders.in_scope``, one batch per
        type and request) decides that in SQL, by the capability its fields need."""
        row = await info.context.loaders.in_scope[cls.__name__].load(pk)
        return None if row is None else cls.from_row(row)


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{type_name}:{pk}".encode()).decode())


# A type name and a primary key in canonical ASCII decimal (ids are ints).
_CANONICAL = re.compile(r"([A-Za-z][A-Za-z0-9]*):(0|[1-9][0-9]{0,17})", re.ASCII)


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, primary key), or None for anything this server did not make."""
    try:
        decoded = base64.b64decode(global_id.encode("ascii"), validate=True).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    match = _CANONICAL.fullmatch(decoded)
    if match is None:
        return None
    type_name, pk = match[1], int(match[2])
    if to_global_id(type_name, pk) != global_id:
        return None  # the same words spelt otherwise: not an id this server gave out
    return type_name, pk


def pk_of(global_id: str, type_name: str) -> int | None:
    """The primary key if ``global_id`` names an object of ``type_name``."""
    parsed = from_global_id(global_id)
    if parsed is None or parsed[0] != type_name:
        return None
    return parsed[1]
