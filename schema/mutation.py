"""The Mutation root, merged from the domain modules' mutation classes.

Each workflow adds its domain's class to ``MUTATIONS``. Conventions every
mutation follows (see docs/mutations.md):
- one ``input`` argument, a payload with ``userErrors`` for expected failures;
- permission declared on the field (``staff_writes(...)``/``signed_in_writes()``);
- ids from the input resolved in SQL against the viewer's scope: out of scope
  is NOT_FOUND, never a hint that it exists;
- the mutation owns its transaction: data functions never commit.
"""

from __future__ import annotations

import strawberry

from schema.auth.roles import RoleMutations
from schema.auth.sessions_mutations import SessionMutations
from schema.portal.access_mutations import AccessMutations
from schema.portal.connection_requests_mutations import ConnectionMutations
from schema.portal.lifecycle_mutations import LifecycleMutations
from schema.student_data.forms_mutations import FormMutation
from schema.student_data.homework_mutations import HomeworkMutations
from schema.student_data.student_logins_mutations import StudentLoginMutation

MUTATIONS: tuple[type, ...] = (
    SessionMutations,
    RoleMutations,
    HomeworkMutations,
    StudentLoginMutation,
    FormMutation,
    AccessMutations,
    ConnectionMutations,
    LifecycleMutations,
)

# The domains' classes merged into one root (what strawberry.tools.merge_types
# does), with the description clients read.
Mutation: type | None = (
    strawberry.type(
        type("Mutation", MUTATIONS, {}),
        description="Changes. Expected failures come back in each payload's `userErrors` "
        "(one per input at fault) and nothing is written; a caller that is not signed in gets "
        "an UNAUTHENTICATED error, one whose role may not make the change a FORBIDDEN error.",
    )
    if MUTATIONS
    else None
)
