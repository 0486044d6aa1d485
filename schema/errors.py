"""Expected outcomes of mutations are data: ``userErrors`` with a stable code."""

from __future__ import annotations

import strawberry


@strawberry.type(description="An expected failure of a mutation, with the input field at fault.")
class UserError:
    code: str = strawberry.field(
        description="Machine-readable, e.g. INVALID_CODE, PIN_INCORRECT, REQUEST_EXPIRED."
    )
    message: str = strawberry.field(description="What went wrong, for people.")
    field: list[str] | None = strawberry.field(
        default=None, description='Path to the input field at fault, e.g. ["input", "email"].'
    )
