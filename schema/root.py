"""The roots of the served schema."""

from __future__ import annotations

from schema.errors import UserError
from schema.mutation import Mutation
from schema.query import Query

# Types served even if no field reached them (UserError is what every
# mutation payload carries). The contract has no SectionConnection, and no
# field returns one, so it is not served.
CONTRACT_TYPES: list[type] = [UserError]

__all__ = ["CONTRACT_TYPES", "Mutation", "Query"]
