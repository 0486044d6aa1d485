"""The rule that keeps role grants from escalating privilege, as pure policy
(docs/architecture.md section 2): decided from the viewer's scope alone.

For a grant of role R at place P (a school, or a whole district):
- the viewer manages accounts at P (ACCOUNT_LIFECYCLE there); a district
  place needs the viewer to be DISTRICT_ADMIN of that district;
- the viewer already holds at P every capability R gives: no one hands out
  more than they have;
- never to one's own account a role one does not already hold at P.
``resolvers.auth.roles`` and ``resolvers.auth.staff_links`` apply it.
"""

from __future__ import annotations

from dataclasses import dataclass

from permissions.capabilities import CAPABILITIES, Capability
from permissions.errors import Forbidden
from permissions.roles import Relation, Role
from permissions.scope import Scope
from permissions.viewer import Viewer


@dataclass(frozen=True, slots=True)
class Place:
    """Where a role is held: a school, or (school_id None) a whole district."""

    district_id: int
    school_id: int | None
    name: str


def capabilities_at(scope: Scope, place: Place) -> frozenset[Capability]:
    if place.school_id is None:
        return scope.district_capabilities(district_id=place.district_id)
    return scope.school_capabilities(school_id=place.school_id, district_id=place.district_id)


def roles_held_at(scope: Scope, place: Place) -> frozenset[Role]:
    if place.school_id is None:
        return scope.district_roles.get(place.district_id, frozenset())
    return scope.school_roles.get(place.school_id, frozenset())


def grant_refusal(
    viewer: Viewer, *, role: Role, place: Place, account_id: int, verb: str = "grant"
) -> str | None:
    """Why ``viewer`` may not grant (or, with ``verb="revoke"``, take back)
    ``role`` at ``place`` for ``account_id``; None when it may. Pure:
    decided from the scope alone."""
    scope = viewer.scope
    held = capabilities_at(scope, place)
    if place.school_id is None and Role.DISTRICT_ADMIN not in roles_held_at(scope, place):
        return f"Only a district administrator {verb}s district roles."
    if Capability.ACCOUNT_LIFECYCLE not in held:
        return f"You do not manage accounts at {place.name}."
    if not CAPABILITIES[Relation.of_role(role)] <= held:
        return f"You cannot {verb} {role.value}: it allows more than you hold at {place.name}."
    if account_id == viewer.account_id and role not in roles_held_at(scope, place):
        return "You cannot grant yourself a role you do not already hold."
    return None


def require_may_grant(
    viewer: Viewer, *, role: Role, place: Place, account_id: int, verb: str = "grant"
) -> None:
    """``grant_refusal`` as FORBIDDEN (docs/mutations.md, step 3)."""
    refusal = grant_refusal(viewer, role=role, place=place, account_id=account_id, verb=verb)
    if refusal is not None:
        raise Forbidden(refusal)
