"""The techniques, one by one: P3 with one of them switched off.

``python -m bench --techniques`` runs P3 next to variants of itself, each the
same server with one technique undone by patching it at start-up, in the
server's own process (``bench.serve --peer p3-<variant>``), so that nothing of
the server changes and the production defaults stay as they are:

- ``p3-nocache``: no parser cache and no validation cache (the two
  extensions are taken out of the schema ``gql.graphql_schema`` builds);
- ``p3-stdjson``: the standard library's ``json`` instead of orjson, for the
  request body and the response (compact separators, so the bytes are the
  same);
- ``p3-asyncfields``: every field whose resolver is plain (attributes and
  ``def`` resolvers) wrapped in an ``async def``, as when every resolver is
  written async;
- ``p3-fieldperms``: a ``strawberry.BasePermission`` (P2's: is there a
  viewer) on every field, through strawberry's ``PermissionExtension``; this
  also takes plain fields off strawberry's fast path for attributes;
- ``p3-noloaders``: every DataLoader batches one key at a time
  (``max_batch_size=1``): the same code, one statement per key (N+1);
- ``p3-noindexes``: the server as it is, measured while the database has no
  secondary indexes (every non-unique index dropped before its windows and
  made again after them; unique and primary keys stay);

Keyset cursors have no switch (no version of the server pages with OFFSET,
and P2 takes the same cursors): W3's page 50 against its page 1 shows that a
deep page costs what the first does. Every variant must answer with P3's
bytes: the identity check of the run compares them.
"""

from __future__ import annotations

import inspect
import json
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The variants, in the order the table lists them: peer name -> (technique, what is off).
VARIANTS: dict[str, tuple[str, str]] = {
    "p3-nocache": ("parser and validation caches", "both caches removed"),
    "p3-stdjson": ("orjson responses", "stdlib json for the body and the response"),
    "p3-asyncfields": (
        "plain (not async) resolvers for plain fields",
        "every plain field wrapped in async def",
    ),
    "p3-fieldperms": (
        "no per-field permission class on hot lists",
        "a BasePermission on every field",
    ),
    "p3-noloaders": ("DataLoaders", "max_batch_size=1: one statement per key"),
    "p3-noindexes": ("indexes for every scope filter", "all non-unique indexes dropped"),
}

# Variants that need the database changed while they are measured, not the server.
DATABASE_VARIANTS = frozenset({"p3-noindexes"})


def is_p3_variant(peer: str) -> bool:
    return peer == "p3" or peer in VARIANTS


SchemaBuilder = Callable[[Any], Any]


def _wrap_build_schema(change: Callable[[SchemaBuilder, Any], Any]) -> None:
    """Replace ``gql.http.app.build_schema`` (looked up when the app starts)."""
    import gql.http.app

    original: SchemaBuilder = getattr(gql.http.app, "build_schema")  # noqa: B009

    def build(settings: Any) -> Any:
        return change(original, settings)

    setattr(gql.http.app, "build_schema", build)  # noqa: B010


def no_caches() -> None:
    from strawberry.extensions import ParserCache

    def change(original: SchemaBuilder, settings: Any) -> Any:
        schema = original(settings)
        kept = tuple(
            factory for factory in schema.extensions if not isinstance(factory(), ParserCache)
        )
        if len(kept) != len(schema.extensions) - 1:
            raise RuntimeError("p3-nocache: expected one ParserCache")
        schema.extensions = kept
        # The validation cache (limits and rules, gql.http.graphql_schema)
        # keeps nothing: every request validates again.
        schema.validate_document.maxsize = 0
        return schema

    _wrap_build_schema(change)


def stdlib_json() -> None:
    import gql.http.app
    import gql.http.errors

    def dumps(value: Any, *_: Any, **__: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    def loads(raw: bytes | str) -> Any:
        return json.loads(raw)

    shim = types.SimpleNamespace(dumps=dumps, loads=loads, JSONDecodeError=json.JSONDecodeError)
    # Request bodies are parsed in gql.http.app; responses rendered in gql.http.errors.
    setattr(gql.http.app, "orjson", shim)  # noqa: B010
    setattr(gql.http.errors, "orjson", shim)  # noqa: B010


def _object_fields(schema: Any) -> list[tuple[Any, Any]]:
    """(graphql-core field, strawberry field) of every object type."""
    from graphql import GraphQLObjectType
    from strawberry.schema.schema_converter import GraphQLCoreConverter

    pairs: list[tuple[Any, Any]] = []
    for graphql_type in schema._schema.type_map.values():
        if not isinstance(graphql_type, GraphQLObjectType) or graphql_type.name.startswith("__"):
            continue
        for field in graphql_type.fields.values():
            strawberry_field = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if strawberry_field is not None:
                pairs.append((field, strawberry_field))
    return pairs


def async_plain_fields() -> None:
    def change(original: SchemaBuilder, settings: Any) -> Any:
        schema = original(settings)
        wrapped = 0
        for field, strawberry_field in _object_fields(schema):
            if strawberry_field.is_async or field.resolve is None:
                continue
            plain = field.resolve

            async def resolve(source: Any, info: Any, _plain: Any = plain, **kwargs: Any) -> Any:
                result = _plain(source, info, **kwargs)
                if inspect.isawaitable(result):
                    return await result
                return result

            field.resolve = resolve
            wrapped += 1
        if not wrapped:
            raise RuntimeError("p3-asyncfields: no plain field found")
        return schema

    _wrap_build_schema(change)


def permission_on_every_field() -> None:
    from strawberry.permission import BasePermission, PermissionExtension

    class IsAuthenticated(BasePermission):
        message = "You must be signed in."

        def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
            return info.context.viewer is not None

    def change(original: SchemaBuilder, settings: Any) -> Any:
        # The first build finds the fields; the second builds their resolvers
        # with the extension in place.
        for _, strawberry_field in _object_fields(original(settings)):
            strawberry_field.extensions.append(
                PermissionExtension([IsAuthenticated()], use_directives=False)
            )
        return original(settings)

    _wrap_build_schema(change)


def one_key_batches() -> None:
    import sys

    from strawberry import dataloader

    original = dataloader.DataLoader

    class OneKeyLoader(original):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["max_batch_size"] = 1
            super().__init__(*args, **kwargs)

    # Before the server's modules are imported, and in those already imported.
    dataloader.DataLoader = OneKeyLoader  # type: ignore[misc]
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in {"resolvers", "schema", "gql"} and (
            getattr(module, "DataLoader", None) is original
        ):
            setattr(module, "DataLoader", OneKeyLoader)  # noqa: B010


@dataclass(frozen=True)
class _Patch:
    apply: Callable[[], None]


PATCHES: dict[str, _Patch] = {
    "p3-nocache": _Patch(no_caches),
    "p3-stdjson": _Patch(stdlib_json),
    "p3-asyncfields": _Patch(async_plain_fields),
    "p3-fieldperms": _Patch(permission_on_every_field),
    "p3-noloaders": _Patch(one_key_batches),
    "p3-noindexes": _Patch(lambda: None),
}


def apply(peer: str) -> None:
    """Patch this process (a server under test) for the variant ``peer``."""
    if peer != "p3":
        PATCHES[peer].apply()
