"""The workloads: GraphQL documents, who runs them, with which variables.

Every peer receives the same request bodies (``{"query", "variables"}``):
P2 and P3 at ``/graphql``, P0 at the route named by ``Workload.p0_path``
(P0 reads the variables and ignores the document, which it implements by
hand). A workload has several variants (viewers, students) that the load
generator cycles through; W4 instead revokes a distinct pool grant per request.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from bench.fixtures import Cast

W0 = "{ viewer { isAuthenticated } }"

W1 = """query GuardianHome($from: Date!, $to: Date!) {
  viewer {
    students {
      edges {
        node {
          displayName
          school { name }
          timetable(from: $from, to: $to) { date period sectionName room }
          homework(first: 5) { edges { node { title dueOn sectionName } } }
        }
      }
    }
  }
}"""

W2 = """query RevokeView($id: ID!) {
  node(id: $id) {
    ... on Student {
      displayName
      portalAccess {
        grants {
          edges {
            node {
              grantedAt
              source
              account {
                displayName
                email
                grants { edges { node { student { displayName school { name } } } } }
              }
            }
          }
        }
      }
    }
  }
}"""

W3 = """query CrossSchoolLinks($id: ID!, $after: String) {
  node(id: $id) {
    ... on District {
      crossSchoolLinks(first: 20, after: $after) {
        totalCount
        edges { node { account { displayName } schools { name } students { displayName } } }
      }
    }
  }
}"""

# Not measured: walks the keyset cursors once to find page 50's ``after``.
W3_CURSORS = """query CrossSchoolCursors($id: ID!, $after: String) {
  node(id: $id) {
    ... on District { crossSchoolLinks(first: 20, after: $after) { pageInfo { endCursor } } }
  }
}"""

W4 = """mutation Revoke($accountId: ID!, $studentIds: [ID!]!) {
  revokeStudentAccess(input: {accountId: $accountId, studentIds: $studentIds}) {
    revokedGrants { source relationship student { displayName } }
    resetAccessCodes { status }
    userErrors { code field }
  }
}"""


def global_id(type_name: str, pk: int) -> str:
    """The server's opaque ids (``schema.node.to_global_id``), made here so
    that the load generator needs nothing of the server's code."""
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


@dataclass(frozen=True)
class Request:
    """One request: the viewer's account (for its token) and the body."""

    account_id: int
    body: bytes


@dataclass(frozen=True)
class Workload:
    key: str
    title: str
    document: str
    p0_path: str
    # W4 writes: its requests are distinct and the data is reset between runs.
    mutates: bool = False


WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        Workload("W0", "viewer.isAuthenticated (guardian)", W0, "/w0"),
        Workload("W1", "guardian app home: children, week's timetable, homework", W1, "/w1"),
        Workload("W2", "teacher's revoke view of one student", W2, "/w2"),
        Workload("W3p1", "district dashboard: cross-school links, page 1", W3, "/w3"),
        Workload("W3p50", "district dashboard: cross-school links, page 50", W3, "/w3"),
        Workload("W4", "revokeStudentAccess with its audit event", W4, "/w4", mutates=True),
    )
}

# ``--workloads W3`` means both pages.
ALIASES = {"W3": ["W3p1", "W3p50"]}


def body(document: str, variables: dict[str, Any]) -> bytes:
    return orjson.dumps({"query": document, "variables": variables})


def requests_for(
    workload: Workload, cast: Cast, *, page_50_after: str | None = None
) -> Callable[[int], Request]:
    """The i-th request of a workload. Reads cycle through their variants;
    W4 takes the i-th pool grant (the caller never asks for one twice
    between resets)."""
    if workload.key == "W0":
        variants = [Request(g.account_id, body(W0, {})) for g in cast.guardians]
    elif workload.key == "W1":
        week_from, week_to = cast.week
        week = {"from": week_from, "to": week_to}
        variants = [Request(g.account_id, body(W1, week)) for g in cast.guardians]
    elif workload.key == "W2":
        variants = [
            Request(v.viewer.account_id, body(W2, {"id": global_id("Student", v.student_id)}))
            for v in cast.revoke_views
        ]
    elif workload.key in {"W3p1", "W3p50"}:
        after = page_50_after if workload.key == "W3p50" else None
        if workload.key == "W3p50" and after is None:
            raise ValueError("W3p50 needs page 50's cursor")
        page = {"id": global_id("District", cast.district_id), "after": after}
        variants = [Request(cast.district_admin.account_id, body(W3, page))]
    elif workload.key == "W4":
        revoker = cast.revoker.account_id
        pool = cast.pool

        def revoke(index: int) -> Request:
            account_id, student_id = pool[index]
            variables = {
                "accountId": global_id("Account", account_id),
                "studentIds": [global_id("Student", student_id)],
            }
            return Request(revoker, body(W4, variables))

        return revoke
    else:
        raise ValueError(f"unknown workload {workload.key}")
    return lambda index: variants[index % len(variants)]


def variant_count(workload: Workload, cast: Cast) -> int:
    """How many distinct requests a read workload cycles through (W4: one
    is checked across peers, the first pool grant)."""
    return {
        "W0": len(cast.guardians),
        "W1": len(cast.guardians),
        "W2": len(cast.revoke_views),
    }.get(workload.key, 1)
