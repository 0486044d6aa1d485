"""Authorization failures: GraphQL errors with a stable extensions.code.

They are raised, never returned: a restricted field resolves to null with
the error at its path, a denied mutation fails whole. Their messages are
written for people and are never masked.
"""

from __future__ import annotations

from graphql import GraphQLError

NOT_LINKED_MESSAGE = (
    "This account is not linked to an active staff record, so it can look but not "
    "record data. Ask a school administrator to link it to your staff record."
)


class AuthorizationError(GraphQLError):
    code = "FORBIDDEN"

    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": self.code})


class Forbidden(AuthorizationError):
    code = "FORBIDDEN"


class Unauthenticated(AuthorizationError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "Sign in to see this.") -> None:
        super().__init__(message)
