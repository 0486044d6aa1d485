"""The Mutation root, merged from the domain modules' mutation classes.

Each workflow adds its domain's class to ``MUTATIONS``; while none exists the
schema has no Mutation root.
"""

from __future__ import annotations

import strawberry

MUTATIONS: tuple[type, ...] = ()

Mutation: type | None = strawberry.type(type("Mutation", MUTATIONS, {})) if MUTATIONS else None
