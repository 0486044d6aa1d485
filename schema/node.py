"""The Relay Node interface and opaque global IDs.

A global ID is base64("TypeName:pk"). Clients must treat it as opaque. A
malformed id, or one naming a type that is not a node, is simply not found:
``node`` returns null, mutations answer NOT_FOUND.
"""

from __future__ import annotations

import base64
import binascii

import strawberry


@strawberry.interface(description="An object with a global ID.")
class Node:
    id: strawberry.ID


def to_global_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(base64.b64encode(f"{type_name}:{pk}".encode()).decode())


def from_global_id(global_id: str) -> tuple[str, int] | None:
    """(type name, primary key), or None for anything this server did not make."""
    try:
        decoded = base64.b64decode(global_id.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    type_name, sep, pk = decoded.partition(":")
    if not sep or not type_name.isidentifier() or not pk.isdigit() or len(pk) > 18:
        return None
    return type_name, int(pk)


def pk_of(global_id: str, type_name: str) -> int | None:
    """The primary key if ``global_id`` names an object of ``type_name``."""
    parsed = from_global_id(global_id)
    if parsed is None or parsed[0] != type_name:
        return None
    return parsed[1]
