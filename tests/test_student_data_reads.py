"""The read side of student-facing data, on SQLite and PostgreSQL.

Homework and timetable of a student's current sections, the access review
(current grants, the access log newest first), cross-school links of a
district, form assignments per viewer, and the student login bill. The
world of tests/world.py gets a few more rows here (``student_data``); each
test asserts the exact data and, where refused, the exact code and path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers import tables
from resolvers.tables import ENROLMENTS, SCHOOLS
from tests.client import GraphQLRunner, StatementCounter, gid
from tests.clock import NOW
from tests.world import World

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _at(day: str, time: str = "09:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{time}").replace(tzinfo=dt.UTC)


async def _insert(connection: Any, table: Any, **values: Any) -> int:
    t = table.__table__
    result = await connection.execute(sa.insert(t).values(**values).returning(t.c.id))
    return int(result.scalar_one())


@pytest.fixture(scope="module")
async def student_data(world_engine: tuple[AsyncEngine, World]) -> World:
    """Homework, lessons, events, forms, extra grants and terms."""
    engine, w = world_engine
    north = w["north"]
    async with engine.begin() as c:

        async def ins(table: Any, **values: Any) -> int:
            return await _insert(c, table, **values)

        # Students of school A may see their homework, timetable and forms,
        # not their access review.
        await c.execute(
            sa.update(SCHOOLS)
            .where(SCHOOLS.c.id == w["school_a"])
            .values(student_visible_sections="HOMEWORK TIMETABLE FORMS")
        )
        # A section s1 has left: its homework and lessons are not theirs now.
        w.ids["a_old"] = await ins(
            tables.Section,
            district_id=north,
            school_id=w["school_a"],
            sourced_id="a_old",
            name="A Old",
        )
        await c.execute(
            sa.insert(ENROLMENTS).values(
                section_id=w["a_old"], student_id=w["s1"], district_id=north, active=False
            )
        )
        for key, section, title, due, staff in [
            ("hw_fractions", "a_maths", "Fractions", "2026-11-10", "t_maths"),
            ("hw_decimals", "a_maths", "Decimals", "2026-11-05", "t_maths"),
            ("hw_ratios", "a_maths", "Ratios", "2026-11-10", "admin_a"),
            ("hw_cells", "b_sci", "Cells", "2026-11-06", "t_sci"),
            ("hw_old", "a_old", "Old", "2026-11-04", "t_maths"),
        ]:
            w.ids[key] = await ins(
                tables.Homework,
                district_id=north,
                section_id=w[section],
                title=title,
                details=f"{title} worksheet",
                due_on=dt.date.fromisoformat(due),
                recorded_by_staff_id=w[staff + "_staff"],
                created_at=NOW,
            )
        for section, day, period, room in [
            ("a_maths", "2026-11-02", "P2", "M1"),
            ("a_maths", "2026-11-02", "P1", None),
            ("a_maths", "2026-11-03", "P1", "M2"),
            ("a_maths", "2027-01-10", "P1", "M1"),
            ("a_old", "2026-11-02", "P3", "O1"),
            ("b_sci", "2026-11-02", "P1", "S1"),
        ]:
            await ins(
                tables.TimetableEntry,
                district_id=north,
                section_id=w[section],
                date=dt.date.fromisoformat(day),
                period=period,
                room=room,
            )

        for key, student, at, name, kind, action in [
            ("e_admin", "s1", _at("2026-11-01"), "Anna Head", "STAFF", "STUDENT_PROFILE"),
            (
                "e_parent",
                "s1",
                _at("2026-11-02", "10:00"),
                "Mary Lovelace",
                "GUARDIAN",
                "STUDENT_PROFILE",
            ),
            ("e_sync", "s1", _at("2026-11-02", "10:00"), "SIS sync", None, "GRANT_REVOKED"),
            ("e_s2", "s2", _at("2026-11-02"), "Ben Head", "STAFF", "STUDENT_PROFILE"),
        ]:
            w.ids[key] = await ins(
                tables.AccessEvent,
                district_id=north,
                student_id=w[student],
                at=at,
                actor_name=name,
                actor_kind=kind,
                action=action,
            )

        # Accounts reaching several schools (cross-school links), and one
        # whose credentials were revoked (no current access).
        for key, name, revoked in [
            ("uncle", "Uncle Bob", None),
            ("aunt", "Aunt Ann", None),
            ("cousin", "Cousin Cy", None),
            ("gone", "Gone Parent", NOW),
        ]:
            w.ids[key] = await ins(
                tables.Account,
                kind="GUARDIAN",
                display_name=name,
                created_at=NOW,
                revoked_at=revoked,
            )
        for account, student, source, revoked in [
            ("uncle", "s3", "ACCESS_CODE", None),
            ("uncle", "s3", "CONNECTION_REQUEST", None),  # the same student twice
            ("uncle", "s2", "ACCESS_CODE", None),
            ("aunt", "s3", "ACCESS_CODE", None),
            ("aunt", "s2", "ACCESS_CODE", NOW),  # revoked: no link
            ("cousin", "s3", "ACCESS_CODE", None),
            ("cousin", "s5", "ACCESS_CODE", None),  # another district
            ("gone", "s1", "ACCESS_CODE", None),
        ]:
            district = w["other"] if student == "s5" else north
            await ins(
                tables.StudentAccessGrant,
                district_id=district,
                account_id=w[account],
                student_id=w[student],
                source=source,
                granted_at=NOW,
                revoked_at=revoked,
            )

        # Student logins of school A across two terms (s1's is the world's,
        # granted at tests.clock.NOW and live).
        for key, student, name, granted, revoked in [
            ("login_s3", "s3", "Charles Babbage", _at("2026-06-01"), _at("2026-08-31", "23:00")),
            ("login_s4", "s4", "Dora Withdrawn", _at("2026-12-18", "23:30"), _at("2026-12-19")),
        ]:
            w.ids[key] = await ins(
                tables.Account,
                kind="STUDENT",
                display_name=name,
                created_at=granted,
                student_id=w[student],
            )
            await ins(
                tables.StudentAccessGrant,
                district_id=north,
                account_id=w[key],
                student_id=w[student],
                source="STUDENT_LOGIN",
                granted_at=granted,
                revoked_at=revoked,
            )
        for sourced, title, start, end in [
            ("autumn", "Autumn 2026", "2026-09-01", "2026-12-18"),
            ("spring", "Spring 2027", "2027-01-05", "2027-03-31"),
        ]:
            await ins(
                tables.AcademicSession,
                district_id=north,
                sourced_id=sourced,
                title=title,
                session_type="term",
                start_date=dt.date.fromisoformat(start),
                end_date=dt.date.fromisoformat(end),
            )

        w.ids["trip"] = await ins(
            tables.Form,
            district_id=north,
            school_id=w["school_a"],
            title="Trip consent",
            created_at=NOW,
        )
        w.ids["lab"] = await ins(
            tables.Form,
            district_id=north,
            school_id=w["school_b"],
            title="Lab safety",
            created_at=NOW,
        )
        w.ids["easton"] = await ins(
            tables.Form,
            district_id=w["other"],
            school_id=w["school_c"],
            title="Easton",
            created_at=NOW,
        )
        for key, position, prompt, kind, required, choices in [
            ("q_notes", 2, "Anything else?", "TEXT", False, None),
            ("q_go", 1, "May they go?", "CHOICE", True, "Yes\nNo"),
        ]:
            w.ids[key] = await ins(
                tables.FormQuestion,
                district_id=north,
                form_id=w["trip"],
                position=position,
                prompt=prompt,
                question_type=kind,
                required=required,
                choices=choices,
            )
        for key, form, student, to_student, status, assignee in [
            ("fa_s1_guardians", "trip", "s1", False, "ASSIGNED", "parent"),
            ("fa_s1_self", "trip", "s1", True, "SUBMITTED", "student_s1"),
            ("fa_s3", "trip", "s3", False, "ASSIGNED", None),
            ("fa_s2", "lab", "s2", False, "ASSIGNED", None),
            ("fa_s5", "easton", "s5", False, "ASSIGNED", None),
        ]:
            district = w["other"] if student == "s5" else north
            w.ids[key] = await ins(
                tables.FormAssignment,
                district_id=district,
                form_id=w[form],
                student_id=w[student],
                assigned_to_student=to_student,
                status=status,
                submitted_at=NOW if status == "SUBMITTED" else None,
                assignee_account_id=w[assignee] if assignee else None,
                created_at=NOW,
            )
    return w


# ---------------------------------------------------------------- homework

HOMEWORK = """
query($id: ID!, $after: String) {
  node(id: $id) {
    ... on Student {
      homework(first: 2, after: $after) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage endCursor }
        edges { node { id title details dueOn sectionName recordedBy { displayName } } }
      }
    }
  }
}
"""


def _homework(w: World, key: str, title: str, due: str, by: str) -> dict[str, Any]:
    return {
        "id": gid("Homework", w[key]),
        "title": title,
        "details": f"{title} worksheet",
        "dueOn": due,
        "sectionName": "A Maths",
        "recordedBy": {"displayName": by},
    }


@pytest.mark.parametrize(
    "who", ["admin_a", "da_north", "t_maths", "support_a", "parent", "student_s1"]
)
async def test_homework_is_that_of_current_sections_due_soonest_first_in_pages(
    gql_runner: GraphQLRunner, student_data: World, who: str
) -> None:
    w = student_data
    first = await gql_runner.run(who, HOMEWORK, id=gid("Student", w["s1"]))
    assert first.errors == []
    assert first.data is not None
    page = first.data["node"]["homework"]
    assert page["totalCount"] == 3  # not "Old": s1 left that section
    assert [e["node"] for e in page["edges"]] == [
        _homework(w, "hw_decimals", "Decimals", "2026-11-05", "Tess Maths"),
        _homework(w, "hw_fractions", "Fractions", "2026-11-10", "Tess Maths"),
    ]
    assert page["pageInfo"]["hasNextPage"] is True
    assert page["pageInfo"]["hasPreviousPage"] is False

    second = await gql_runner.run(
        who, HOMEWORK, id=gid("Student", w["s1"]), after=page["pageInfo"]["endCursor"]
    )
    assert second.errors == []
    assert second.data is not None
    rest = second.data["node"]["homework"]
    # Recorded as the admin's staff record, the same due date, a later id.
    assert [e["node"] for e in rest["edges"]] == [
        _homework(w, "hw_ratios", "Ratios", "2026-11-10", "Anna Head")
    ]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True


async def test_homework_is_refused_where_the_capability_table_says_so(
    gql_runner: GraphQLRunner, student_data: World
) -> None:
    result = await gql_runner.run("security_a", HOMEWORK, id=gid("Student", student_data["s1"]))
    assert result.data == {"node": {"homework": None}}
    assert result.error_codes == [("FORBIDDEN", ["node", "homework"])]


async def test_a_withdrawn_student_without_current_sections_has_no_homework(
    gql_runner: GraphQLRunner, student_data: World
) -> None:
    result = await gql_runner.run("admin_a", HOMEWORK, id=gid("Student", student_data["s4"]))
    assert result.errors == []
    assert result.data is not None
    assert result.data["node"]["homework"]["totalCount"] == 0
    assert result.data["node"]["homework"]["edges"] == []


TIMETABLE = """
query($id: ID!, $from: Date!, $to: Date!) {
  node(id: $id) {
    ... on Student { timetable(from: $from, to: $to) { date period sectionName room } }
  }
}
"""


@pytest.mark.parametrize("who", ["admin_a", "t_maths", "parent", "student_s1"])
async def test_the_timetable_lists_current_lessons_in_the_range_by_date_and_period(
    gql_runner: GraphQLRunner, student_data: World, who: str
) -> None:
    result = await gql_runner.run(
        who,
        TIMETABLE,
        id=gid("Student", student_data["s1"]),
        **{"from": "2026-11-02", "to": "2026-11-03"},
    )
    assert result.errors == []
    assert result.data == {
        "node": {
            "timetable": [
                {"date": "2026-11-02", "period": "P1", "sectionName": "A Maths", "room": None},
                {"date": "2026-11-02", "period": "P2", "sectionName": "A Maths", "room": "M1"},
                {"date": "2026-11-03", "period": "P1", "sectionName": "A Maths", "room": "M2"},
            ]
        }
    }


@pytest.mark.parametrize(
    ("start", "end", "allowed"),
    [
        ("2026-11-03", "2026-11-02", False),  # to before from
        ("2026-11-01", "2027-01-02", False),  # 63 days, both ends included
        ("2026-11-01", "2027-01-01", True),  # 62 days
        ("2026-11-02", "2026-11-02", True),  # one day
    ],
)
async def test_a_timetable_range_is_at_most_62_days_from_before_to(
    gql_runner: GraphQLRunner, student_data: World, start: str, end: str, allowed: bool
) -> None:
    result = await gql_runner.run(
        "admin_a", TIMETABLE, id=gid("Student", student_data["s1"]), **{"from": start, "to": end}
    )
    if allowed:
        assert result.errors == []
    else:
        assert result.data == {"node": {"timetable": None}}
        assert result.error_codes == [("BAD_USER_INPUT", ["node", "timetable"])]


# ---------------------------------------------------------------- access review

ACCESS_REVIEW = """
query($id: ID!, $after: String) {
  node(id: $id) {
    ... on Student {
      accessReview {
        grants { source account { displayName } }
        accessLog(first: 2, after: $after) {
          totalCount
          pageInfo { hasNextPage hasPreviousPage endCursor }
          edges { node { id at actorName actorKind action } }
        }
      }
    }
  }
}
"""


def _event(w: World, key: str, at: str, name: str, kind: str | None, action: str) -> dict[str, Any]:
    return {
        "id": gid("AccessEvent", w[key]),
        "at": at,
        "actorName": name,
        "actorKind": kind,
        "action": action,
    }


@pytest.mark.parametrize("who", ["admin_a", "da_north", "unlinked", "parent"])
async def test_the_access_review_lists_current_grants_and_the_log_newest_first(
    gql_runner: GraphQLRunner, student_data: World, who: str
) -> None:
    w = student_data
    first = await gql_runner.run(who, ACCESS_REVIEW, id=gid("Student", w["s1"]))
    assert first.errors == []
    assert first.data is not None
    review = first.data["node"]["accessReview"]
    # Not "Gone Parent": that account's credentials were revoked.
    assert review["grants"] == [
        {"source": "ACCESS_CODE", "account": {"displayName": "Mary Lovelace"}},
        {"source": "STUDENT_LOGIN", "account": {"displayName": "Ada Lovelace"}},
    ]
    log = review["accessLog"]
    assert log["totalCount"] == 3
    # Same time: the later id first.
    assert [e["node"] for e in log["edges"]] == [
        _event(w, "e_sync", "2026-11-02T10:00:00+00:00", "SIS sync", None, "GRANT_REVOKED"),
        _event(
            w,
            "e_parent",
            "2026-11-02T10:00:00+00:00",
            "Mary Lovelace",
            "GUARDIAN",
            "STUDENT_PROFILE",
        ),
    ]
    assert log["pageInfo"]["hasNextPage"] is True

    second = await gql_runner.run(
        who, ACCESS_REVIEW, id=gid("Student", w["s1"]), after=log["pageInfo"]["endCursor"]
    )
    assert second.errors == []
    assert second.data is not None
    rest = second.data["node"]["accessReview"]["accessLog"]
    assert [e["node"] for e in rest["edges"]] == [
        _event(w, "e_admin", "2026-11-01T09:00:00+00:00", "Anna Head", "STAFF", "STUDENT_PROFILE")
    ]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True


@pytest.mark.parametrize("who", ["t_maths", "enrol_a", "support_a", "security_a", "student_s1"])
async def test_the_access_review_is_refused_where_the_capability_table_says_so(
    gql_runner: GraphQLRunner, student_data: World, who: str
) -> None:
    # student_s1: their school does not show them the access review.
    result = await gql_runner.run(who, ACCESS_REVIEW, id=gid("Student", student_data["s1"]))
    assert result.data == {"node": {"accessReview": None}}
    assert result.error_codes == [("FORBIDDEN", ["node", "accessReview"])]


async def test_an_access_log_cursor_from_another_list_is_bad_input(
    gql_runner: GraphQLRunner, student_data: World
) -> None:
    homework = await gql_runner.run("admin_a", HOMEWORK, id=gid("Student", student_data["s1"]))
    assert homework.data is not None
    foreign = homework.data["node"]["homework"]["pageInfo"]["endCursor"]
    # accessLog alone: an error in it cancels siblings still running (the
    # harness then fails to close the session; see the report).
    query = """
    query($id: ID!, $after: String) {
      node(id: $id) { ... on Student { accessReview { accessLog(after: $after) { totalCount } } } }
    }
    """
    result = await gql_runner.run(
        "admin_a", query, id=gid("Student", student_data["s1"]), after=foreign
    )
    assert result.data == {"node": {"accessReview": None}}
    assert result.error_codes == [("BAD_USER_INPUT", ["node", "accessReview", "accessLog"])]


# ---------------------------------------------------------------- cross-school links

LINKS = """
query($id: ID!, $first: Int!, $after: String) {
  node(id: $id) {
    ... on District {
      crossSchoolLinks(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { node { account { displayName } schools { name } students { displayName } } }
      }
    }
  }
}
"""

PARENT_LINK = {
    "account": {"displayName": "Mary Lovelace"},
    "schools": [{"name": "Northfield"}, {"name": "Southfield"}],
    "students": [{"displayName": "Ada Lovelace"}, {"displayName": "Byron Lovelace"}],
}
UNCLE_LINK = {
    "account": {"displayName": "Uncle Bob"},
    "schools": [{"name": "Northfield"}, {"name": "Southfield"}],
    "students": [{"displayName": "Charles Babbage"}, {"displayName": "Byron Lovelace"}],
}


async def test_cross_school_links_are_accounts_with_live_grants_at_two_schools_in_pages(
    gql_runner: GraphQLRunner, student_data: World
) -> None:
    district = gid("District", student_data["north"])
    whole = await gql_runner.run("da_north", LINKS, id=district, first=10)
    assert whole.errors == []
    assert whole.data is not None
    links = whole.data["node"]["crossSchoolLinks"]
    # Not the aunt (her second school's grant is revoked) nor the cousin
    # (his second school is in another district).
    assert links["totalCount"] == 2
    assert [e["node"] for e in links["edges"]] == [PARENT_LINK, UNCLE_LINK]

    first = await gql_runner.run("da_north", LINKS, id=district, first=1)
    assert first.data is not None
    page = first.data["node"]["crossSchoolLinks"]
    assert [e["node"] for e in page["edges"]] == [PARENT_LINK]
    assert page["pageInfo"]["hasNextPage"] is True
    second = await gql_runner.run(
        "da_north", LINKS, id=district, first=1, after=page["pageInfo"]["endCursor"]
    )
    assert second.data is not None
    rest = second.data["node"]["crossSchoolLinks"]
    assert [e["node"] for e in rest["edges"]] == [UNCLE_LINK]
    assert rest["pageInfo"]["hasNextPage"] is False


async def test_cross_school_links_cost_the_same_statements_for_one_link_or_many(
    gql_runner: GraphQLRunner, world_engine: tuple[AsyncEngine, World], student_data: World
) -> None:
    counter = StatementCounter(world_engine[0])
    district = gid("District", student_data["north"])
    counts = []
    for first in (1, 10):
        with counter.counting() as statements:
            result = await gql_runner.run("da_north", LINKS, id=district, first=first)
        assert result.errors == []
        counts.append(len(statements))
    assert counts[0] == counts[1]


@pytest.mark.parametrize(("who", "district"), [("da_other", "other"), ("admin_c", "other")])
async def test_cross_school_links_elsewhere(
    gql_runner: GraphQLRunner, student_data: World, who: str, district: str
) -> None:
    result = await gql_runner.run(who, LINKS, id=gid("District", student_data[district]), first=10)
    if who == "da_other":
        assert result.errors == []
        assert result.data is not None
        assert result.data["node"]["crossSchoolLinks"]["totalCount"] == 0
    else:
        assert result.data == {"node": {"crossSchoolLinks": None}}
        assert result.error_codes == [("FORBIDDEN", ["node", "crossSchoolLinks"])]


# ---------------------------------------------------------------- forms

ASSIGNMENTS = """
query {
  formAssignments(first: 50) {
    totalCount
    edges { node { id status student { displayName } form { title } } }
  }
}
"""

VISIBLE_ASSIGNMENTS = {
    "admin_a": ["fa_s1_guardians", "fa_s1_self", "fa_s3"],
    # forms are administered by admins only (docs/architecture.md section 2: "student login settings, forms")
    "enrol_a": [],
    "support_a": [],
    "unlinked": ["fa_s1_guardians", "fa_s1_self", "fa_s3"],
    "security_a": [],
    "da_north": ["fa_s1_guardians", "fa_s1_self", "fa_s3", "fa_s2"],
    "admin_b": ["fa_s2"],
    "da_other": ["fa_s5"],
    "t_maths": [],
    "t_art": [],
    "deactivated": [],
    "parent": ["fa_s1_guardians", "fa_s2"],  # never the ones meant for the students
    "lonely_parent": [],
    "student_s1": ["fa_s1_self"],  # only the ones meant for them
}


@pytest.mark.parametrize("who", list(VISIBLE_ASSIGNMENTS))
async def test_form_assignments_are_cut_to_what_each_viewer_may_see(
    gql_runner: GraphQLRunner, student_data: World, who: str
) -> None:
    result = await gql_runner.run(who, ASSIGNMENTS)
    assert result.errors == []
    assert result.data is not None
    expected = [gid("FormAssignment", student_data[k]) for k in VISIBLE_ASSIGNMENTS[who]]
    connection = result.data["formAssignments"]
    assert [e["node"]["id"] for e in connection["edges"]] == expected
    assert connection["totalCount"] == len(expected)


async def test_a_form_assignment_shows_its_form_questions_and_assignee(
    gql_runner: GraphQLRunner, student_data: World
) -> None:
    w = student_data
    result = await gql_runner.run(
        "parent",
        """
        query {
          formAssignments(first: 1) {
            pageInfo { hasNextPage }
            edges { node {
              status submittedAt student { displayName } assignee { displayName }
              form { id title questions { id prompt type required choices } }
            } }
          }
        }
        """,
    )
    assert result.errors == []
    assert result.data == {
        "formAssignments": {
            "pageInfo": {"hasNextPage": True},
            "edges": [
                {
                    "node": {
                        "status": "ASSIGNED",
                        "submittedAt": None,
                        "student": {"displayName": "Ada Lovelace"},
                        "assignee": {"displayName": "Mary Lovelace"},
                        "form": {
                            "id": gid("Form", w["trip"]),
                            "title": "Trip consent",
                            "questions": [
                                {
                                    "id": gid("FormQuestion", w["q_go"]),
                                    "prompt": "May they go?",
                                    "type": "CHOICE",
                                    "required": True,
                                    "choices": ["Yes", "No"],
                                },
                                {
                                    "id": gid("FormQuestion", w["q_notes"]),
                                    "prompt": "Anything else?",
                                    "type": "TEXT",
                                    "required": False,
                                    "choices": None,
                                },
                            ],
                        },
                    }
                }
            ],
        }
    }


# ---------------------------------------------------------------- student login bill

BILL = """
query($school: ID!, $term: String!) {
  studentLoginBill(schoolId: $school, termName: $term) {
    school { name } termName studentsWithLogins amount currency
  }
}
"""


@pytest.mark.parametrize(
    ("term", "students"),
    [
        # s1 (live since tests.clock.NOW) and s4 (granted late on the last day);
        # not s3, whose login ended the day before the term began.
        ("Autumn 2026", 2),
        ("Spring 2027", 1),
    ],
)
@pytest.mark.parametrize("who", ["admin_a", "da_north"])
async def test_the_student_login_bill_counts_students_with_a_login_during_the_term(
    gql_runner: GraphQLRunner, student_data: World, who: str, term: str, students: int
) -> None:
    result = await gql_runner.run(
        who, BILL, school=gid("School", student_data["school_a"]), term=term
    )
    assert result.errors == []
    assert result.data == {
        "studentLoginBill": {
            "school": {"name": "Northfield"},
            "termName": term,
            "studentsWithLogins": students,
            "amount": 50 * students,
            "currency": "GBP",
        }
    }


@pytest.mark.parametrize(
    ("who", "outcome"),
    [
        ("enrol_a", "FORBIDDEN"),  # the school is in scope, the capability is not held
        ("t_maths", "FORBIDDEN"),
        ("parent", "FORBIDDEN"),
        ("admin_b", None),  # another school: it does not exist
        ("admin_c", None),
        ("lonely_parent", None),
    ],
)
async def test_the_student_login_bill_is_for_the_schools_admins_only(
    gql_runner: GraphQLRunner, student_data: World, who: str, outcome: str | None
) -> None:
    result = await gql_runner.run(
        who, BILL, school=gid("School", student_data["school_a"]), term="Autumn 2026"
    )
    assert result.data == {"studentLoginBill": None}
    if outcome is None:
        assert result.errors == []
    else:
        assert result.error_codes == [(outcome, ["studentLoginBill"])]


async def test_the_student_login_bill_refuses_an_unknown_term_and_ignores_foreign_ids(
    gql_runner: GraphQLRunner, student_data: World
) -> None:
    unknown = await gql_runner.run(
        "admin_a", BILL, school=gid("School", student_data["school_a"]), term="Summer 1999"
    )
    assert unknown.data == {"studentLoginBill": None}
    assert unknown.error_codes == [("BAD_USER_INPUT", ["studentLoginBill"])]
    relabelled = await gql_runner.run(
        "admin_a", BILL, school=gid("Student", student_data["school_a"]), term="Autumn 2026"
    )
    assert relabelled.errors == []
    assert relabelled.data == {"studentLoginBill": None}


# ---------------------------------------------------------------- batching

MANY_STUDENTS = """
query($first: Int!) {
  students(first: $first) {
    edges { node {
      homework(first: 2) { totalCount edges { node { title recordedBy { displayName } } } }
      timetable(from: "2026-11-02", to: "2026-11-03") { period }
      accessReview {
        grants { account { displayName } }
        accessLog(first: 1) { totalCount edges { node { action } } }
      }
    } }
  }
}
"""


async def test_student_data_under_a_list_costs_the_same_statements_for_one_student_or_many(
    gql_runner: GraphQLRunner, world_engine: tuple[AsyncEngine, World], student_data: World
) -> None:
    counter = StatementCounter(world_engine[0])
    counts = []
    for first in (2, 4):  # from s3 (no homework) and s1 onwards: the same shape
        with counter.counting() as statements:
            result = await gql_runner.run("da_north", MANY_STUDENTS, first=first)
        assert result.errors == []
        counts.append(len(statements))
    assert counts[0] == counts[1]
