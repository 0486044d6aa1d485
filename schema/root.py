"""The roots of the served schema."""

from __future__ import annotations

from schema.directory.staff import Section
from schema.errors import UserError
from schema.mutation import Mutation
from schema.query import Query
from schema.relay import Connection

# Contract types that no field reaches yet: served so clients can rely on
# them (UserError is what every mutation payload carries).
CONTRACT_TYPES: list[type] = [UserError, Connection[Section]]

__all__ = ["CONTRACT_TYPES", "Mutation", "Query"]
