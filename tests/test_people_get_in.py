"""Everyone gets in, as a person would: from the first email to a signed-in
GraphQL query of exactly their students, and back in after a forgotten
password.

Everything goes through HTTP (the ASGI app with its lifespan: the outbox
mailer included) and a real SMTP server on loopback: the roster is imported
from a OneRoster file set, and after that no row is written by the test, no
session inserted, no token minted. Links are taken from the emails as they
arrive. The app's clock is the test's, so that links can expire.

The people: a district administrator and a teacher (staff who sign up with
their school address), a parent the school provisions, a parent who signs
up and pairs with an access code, a student whose year group gets logins,
and a parent whose account is revoked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gql.cli.demo_files import write_demo_files
from gql.cli.sync import import_directory
from gql.http.app import create_app
from resolvers import tables
from tests.auth_client import PUBLIC_URL, AppClient, auth_settings
from tests.lifespan import started
from tests.mail_server import Inbox, Mail, smtp_server

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADMIN = "admin@riverside.example.edu"
TEACHER = "teacher@northfield.riverside.example.edu"
PAT = "parent@example.com"  # Alex and Bailey Parker's mother
STUDENT = "student@northfield.riverside.example.edu"  # Alex Parker, Year 9
COUNSELOR = "counselor@northfield.riverside.example.edu"  # an active staff record
VICTIM_PASSWORD = "Victim-Password-123!"
ATTACKER_PASSWORD = "Attacker-Password-123!"
STAFF_PASSWORD = "lantern orchard copper violin"
PARENT_PASSWORD = "meadow thistle harbour lamp"
NEW_PASSWORD = "granite pelican autumn sketch"

MY_STUDENTS = """{ viewer { account { displayName email } students(first: 100) {
  totalCount edges { node { displayName } } } } }"""


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@dataclass
class Town:
    """The app over an imported roster, its outgoing mail, and what a
    person does with both."""

    http: AppClient
    inbox: Inbox
    engine: AsyncEngine
    clock: Clock

    # ------------------------------------------------------------ mail

    async def mail_to(self, address: str) -> Mail:
        # Within about a second: the mailer is woken by the commit.
        return await self.inbox.next_to(address, within=1.5)

    @staticmethod
    def link(mail: Mail, path: str) -> str:
        [found] = re.findall(rf"{re.escape(PUBLIC_URL)}{path}\?token=[A-Za-z0-9_.%-]+", mail.body)
        return found

    @staticmethod
    def token_of(link: str) -> str:
        return httpx.URL(link).params["token"]

    # ------------------------------------------------------------ routes

    async def sign_up(self, email: str, password: str, name: str) -> httpx.Response:
        return await self.http.post(
            "/auth/signup", json={"email": email, "password": password, "displayName": name}
        )

    async def log_in(self, email: str, password: str) -> httpx.Response:
        return await self.http.post("/auth/login", json={"email": email, "password": password})

    async def signed_in(self, email: str, password: str) -> str:
        response = await self.log_in(email, password)
        assert response.status_code == 200, response.text
        return str(response.json()["accessToken"])

    async def forgot(self, email: str) -> httpx.Response:
        return await self.http.post("/auth/password/forgot", json={"email": email})

    async def reset(self, token: str, password: str) -> httpx.Response:
        return await self.http.post(
            "/auth/password/reset", json={"token": token, "password": password}
        )

    async def ask(self, bearer: str, query: str, **variables: Any) -> httpx.Response:
        return await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {bearer}"},
        )

    async def data(self, bearer: str, query: str, **variables: Any) -> dict[str, Any]:
        response = await self.ask(bearer, query, **variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return dict(body["data"])

    async def my_students(self, bearer: str) -> list[str]:
        viewer = (await self.data(bearer, MY_STUDENTS))["viewer"]
        names = [edge["node"]["displayName"] for edge in viewer["students"]["edges"]]
        assert viewer["students"]["totalCount"] == len(names)
        return sorted(names)

    # ------------------------------------------------------------ people

    async def staff_signs_up(self, email: str, name: str) -> str:
        """A staff member signs up with their school address, opens the
        confirmation link, signs in; their bearer token."""
        assert (await self.sign_up(email, STAFF_PASSWORD, name)).status_code == 202
        confirmation = await self.mail_to(email)
        assert confirmation.subject == "Confirm your email address"
        opened = await self.confirm_on_the_page(self.link(confirmation, "/verify"), STAFF_PASSWORD)
        assert opened.status_code == 200, opened.text
        return await self.signed_in(email, STAFF_PASSWORD)

    async def confirm_on_the_page(self, link: str, password: str) -> httpx.Response:
        """Open the emailed confirmation link in a browser and give the
        password chosen at sign-up in its form."""
        page = await self.http.get(link)
        assert page.status_code == 200, page.text
        [token] = re.findall(r"name=token value='([^']+)'", page.text)
        return await self.http.post(
            "/verify", data={"token": token, "password": password}, headers={"origin": PUBLIC_URL}
        )

    async def guardian_id(self, admin: str, email: str) -> str:
        found = await self.data(
            admin,
            "query($s: String!) { guardians(first: 20, filter: {search: $s}) "
            "{ edges { node { id email } } } }",
            s=email.split("@")[0].split(".")[0],
        )
        [node] = [e["node"] for e in found["guardians"]["edges"] if e["node"]["email"] == email]
        return str(node["id"])

    async def provision(self, admin: str, email: str) -> str:
        """The administrator provisions the contact with this address; the
        new account's id."""
        payload = (
            await self.data(
                admin,
                "mutation($ids: [ID!]!) { provisionAccounts(input: {guardianIds: $ids}) "
                "{ accounts { id email } userErrors { code } } }",
                ids=[await self.guardian_id(admin, email)],
            )
        )["provisionAccounts"]
        assert payload["userErrors"] == []
        [account] = payload["accounts"]
        assert account["email"] == email
        return str(account["id"])

    async def set_password_on_the_page(self, link: str, password: str) -> httpx.Response:
        """Open the emailed link in a browser and submit its form."""
        page = await self.http.get(link)
        assert page.status_code == 200, page.text
        [token] = re.findall(r"name=token value='([^']+)'", page.text)
        return await self.http.post(
            "/reset-password",
            data={"token": token, "password": password},
            headers={"origin": PUBLIC_URL},
        )


async def _read(engine: AsyncEngine, query: sa.Select[Any]) -> list[Any]:
    """Read-only looks at the imported roster, for the expected answers."""
    async with engine.connect() as connection:
        return list((await connection.execute(query)).all())


@pytest.fixture
async def town(database_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Town]:
    files = tmp_path / "roster"
    write_demo_files(files, students=8)
    summary = await import_directory(engine, files, dry_run=False, revoke_threshold=100)
    assert summary.written, summary.refused
    clock = Clock()
    with smtp_server() as (inbox, port):
        settings = auth_settings(
            engine,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_tls=False,
            smtp_from="portal@riverside.example.edu",
        )
        app = create_app(settings, clock=clock)
        async with started(app) as asgi, AppClient(asgi, "192.0.2.10") as http:
            yield Town(http=http, inbox=inbox, engine=engine, clock=clock)


# ---------------------------------------------------------------- staff


async def test_a_teacher_signs_up_with_the_school_address_and_sees_exactly_their_classes(
    town: Town,
) -> None:
    bearer = await town.staff_signs_up(TEACHER, "Terry Teacher")
    staff = tables.StaffMember.__table__
    taught = tables.SectionTeacher.__table__
    enrolled = tables.SectionEnrolment.__table__
    students = tables.Student.__table__
    expected = await _read(
        town.engine,
        sa.select(students.c.given_name, students.c.family_name)
        .distinct()
        .join(enrolled, enrolled.c.student_id == students.c.id)
        .join(taught, taught.c.section_id == enrolled.c.section_id)
        .join(staff, staff.c.id == taught.c.staff_member_id)
        .where(staff.c.email == TEACHER),
    )
    assert expected
    assert await town.my_students(bearer) == sorted(f"{g} {f}" for g, f in expected)
    viewer = (await town.data(bearer, "{ viewer { canRecordData actingAs { email } } }"))["viewer"]
    assert viewer == {"canRecordData": True, "actingAs": {"email": TEACHER}}


# ---------------------------------------------------------------- parents


async def test_a_provisioned_parent_sets_a_password_from_the_welcome_email_and_sees_her_children(
    town: Town,
) -> None:
    admin = await town.staff_signs_up(ADMIN, "Ada Admin")
    # The district administrator sees every student of the district, no other.
    students, districts = tables.Student.__table__, tables.District.__table__
    riverside = await _read(
        town.engine,
        sa.select(students.c.given_name, students.c.family_name)
        .join(districts, districts.c.id == students.c.district_id)
        .where(districts.c.sourced_id == "district-1"),
    )
    assert await town.my_students(admin) == sorted(f"{g} {f}" for g, f in riverside)
    # Before the school provisions her, the address has no account: no mail.
    assert (await town.forgot(PAT)).status_code == 202
    assert await town.inbox.nothing_more() == []

    await town.provision(admin, PAT)
    welcome = await town.mail_to(PAT)
    assert welcome.subject == "Your parent portal account is ready"
    assert "(it works once, for 7 days)" in welcome.body
    assert "Set or reset my password" not in welcome.body
    link = town.link(welcome, "/reset-password")

    # The page: a form of its own, nothing external, no script.
    page = await town.http.get(link)
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'; style-src ")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script" not in page.text
    assert "parent@example.com" in page.text
    # A post from another site is refused and spends nothing.
    forged = await town.http.post(
        "/reset-password",
        data={"token": town.token_of(link), "password": PARENT_PASSWORD},
        headers={"origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    # A weak password is refused with a reason she can act on; the link still works.
    weak = await town.set_password_on_the_page(link, "parker123456")
    assert weak.status_code == 400
    assert "too easy to guess" in weak.text
    done = await town.set_password_on_the_page(link, PARENT_PASSWORD)
    assert done.status_code == 200, done.text
    assert "Your password is set" in done.text

    bearer = await town.signed_in(PAT, PARENT_PASSWORD)
    assert await town.my_students(bearer) == ["Alex Parker", "Bailey Parker"]
    # The link worked once.
    again = await town.reset(town.token_of(link), NEW_PASSWORD)
    assert (again.status_code, again.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "INVALID_TOKEN",
    )
    assert (await town.http.get(link)).status_code == 400


async def test_each_welcome_email_sent_again_has_a_fresh_link_and_setting_a_password_ends_all(
    town: Town,
) -> None:
    admin = await town.staff_signs_up(ADMIN, "Ada Admin")
    account_id = await town.provision(admin, PAT)
    first = town.link(await town.mail_to(PAT), "/reset-password")

    async def send_again() -> dict[str, Any]:
        return dict(
            (
                await town.data(
                    admin,
                    "mutation($ids: [ID!]!) { sendWelcomeEmails(input: {accountIds: $ids}) "
                    "{ sent skipped userErrors { code } } }",
                    ids=[account_id],
                )
            )["sendWelcomeEmails"]
        )

    # Not again within the hour: an inbox cannot be flooded.
    assert await send_again() == {"sent": 0, "skipped": 1, "userErrors": []}
    town.clock.advance(minutes=61)
    admin = await town.signed_in(ADMIN, STAFF_PASSWORD)
    assert await send_again() == {"sent": 1, "skipped": 0, "userErrors": []}
    second = town.link(await town.mail_to(PAT), "/reset-password")
    assert second != first
    assert (await town.http.get(first)).status_code == 200  # both work until one is used
    assert (await town.reset(town.token_of(second), PARENT_PASSWORD)).status_code == 200
    assert (await town.http.get(first)).status_code == 400
    assert (await town.reset(town.token_of(first), NEW_PASSWORD)).status_code == 400
    assert await town.my_students(await town.signed_in(PAT, PARENT_PASSWORD)) == [
        "Alex Parker",
        "Bailey Parker",
    ]


async def test_a_provisioned_parent_who_signs_up_instead_gets_a_reset_link_not_a_second_account(
    town: Town,
) -> None:
    admin = await town.staff_signs_up(ADMIN, "Ada Admin")
    account_id = await town.provision(admin, PAT)
    await town.mail_to(PAT)  # the welcome email, not used

    signed_up = await town.sign_up(PAT, "some password of her own", "Pat Parker")
    unknown = await town.sign_up("nobody@home.example.com", "some password of her own", "N")
    assert signed_up.status_code == unknown.status_code == 202
    assert signed_up.json() == unknown.json()
    reset = await town.mail_to(PAT)
    assert reset.subject == "Set a new password"
    assert "which has an account already: you do not need another" in reset.body
    assert (
        await town.reset(town.token_of(town.link(reset, "/reset-password")), PARENT_PASSWORD)
    ).status_code == 200

    bearer = await town.signed_in(PAT, PARENT_PASSWORD)
    me = (await town.data(bearer, "{ viewer { account { id } } }"))["viewer"]["account"]
    assert me == {"id": account_id}
    assert await town.my_students(bearer) == ["Alex Parker", "Bailey Parker"]


async def test_a_parent_who_signs_up_pairs_with_the_schools_code_and_sees_that_child(
    town: Town,
) -> None:
    admin = await town.staff_signs_up(ADMIN, "Ada Admin")
    [riley] = (await town.data(admin, '{ students(search: "Riley") { edges { node { id } } } }'))[
        "students"
    ]["edges"]
    codes = (
        await town.data(
            admin,
            "mutation($ids: [ID!]!) { enablePortalAccess(input: {studentIds: $ids}) "
            "{ accessCodes { code } userErrors { code } } }",
            ids=[riley["node"]["id"]],
        )
    )["enablePortalAccess"]
    [code] = codes["accessCodes"]

    email = "jordan@home.example.com"
    assert (await town.sign_up(email, PARENT_PASSWORD, "Jordan Morgan")).status_code == 202
    # Not before the address is confirmed.
    refused = await town.log_in(email, PARENT_PASSWORD)
    assert (refused.status_code, refused.json()["errors"][0]["extensions"]["code"]) == (
        403,
        "EMAIL_NOT_VERIFIED",
    )
    confirmation = await town.mail_to(email)
    opened = await town.confirm_on_the_page(town.link(confirmation, "/verify"), PARENT_PASSWORD)
    assert opened.status_code == 200
    bearer = await town.signed_in(email, PARENT_PASSWORD)
    assert await town.my_students(bearer) == []
    paired = (
        await town.data(
            bearer,
            'mutation($c: String!) { redeemAccessCode(input: {code: $c, relationship: "Mother"}) '
            "{ grant { student { displayName } } userErrors { code } } }",
            c=code["code"],
        )
    )["redeemAccessCode"]
    assert paired == {"grant": {"student": {"displayName": "Riley Morgan"}}, "userErrors": []}
    assert await town.my_students(bearer) == ["Riley Morgan"]


# ---------------------------------------------------------------- students


async def test_turning_on_a_year_group_emails_each_new_student_login_a_link_to_choose_a_password(
    town: Town,
) -> None:
    admin = await town.staff_signs_up(ADMIN, "Ada Admin")
    # Logins off: a student's address gets no link.
    assert (await town.forgot(STUDENT)).status_code == 202
    schools = (
        await town.data(
            admin, "{ schools(first: 20) { edges { node { id name yearGroups { id name } } } } }"
        )
    )["schools"]["edges"]
    [north] = [s["node"] for s in schools if s["node"]["name"] == "Northfield High School"]
    [year_9] = [y["id"] for y in north["yearGroups"] if y["name"] == "Year 9"]
    assert await town.inbox.nothing_more() == []

    students = tables.Student.__table__
    year_groups = tables.YearGroup.__table__
    schools_table = tables.School.__table__
    in_year_9 = sorted(
        r.email
        for r in await _read(
            town.engine,
            sa.select(students.c.email)
            .join(year_groups, year_groups.c.id == students.c.year_group_id)
            .join(schools_table, schools_table.c.id == students.c.school_id)
            .where(
                schools_table.c.sourced_id == "northfield",
                year_groups.c.name == "Year 9",
                students.c.status == "ENROLLED",
                students.c.email.is_not(None),
            ),
        )
    )
    assert STUDENT in in_year_9
    changed = (
        await town.data(
            admin,
            "mutation($school: ID!, $years: [ID!]!) { updateStudentLoginSettings(input: "
            "{schoolId: $school, enabled: true, enabledYearGroupIds: $years, "
            "visibleSections: [HOMEWORK, TIMETABLE]}) "
            "{ studentLoginsCreated welcomeEmailsSent userErrors { code } } }",
            school=north["id"],
            years=[year_9],
        )
    )["updateStudentLoginSettings"]
    assert changed == {
        "studentLoginsCreated": len(in_year_9),
        "welcomeEmailsSent": len(in_year_9),
        "userErrors": [],
    }
    welcome = await town.mail_to(STUDENT)
    assert welcome.subject == "Your student account is ready"
    others = [m.to for m in await town.inbox.nothing_more(wait=0.3)]
    assert sorted([STUDENT, *others]) == in_year_9

    done = await town.set_password_on_the_page(
        town.link(welcome, "/reset-password"), PARENT_PASSWORD
    )
    assert done.status_code == 200
    bearer = await town.signed_in(STUDENT, PARENT_PASSWORD)
    assert await town.my_students(bearer) == ["Alex Parker"]

    # A link asked for while the login is on...
    assert (await town.forgot(STUDENT)).status_code == 202
    unused = town.link(await town.mail_to(STUDENT), "/reset-password")

    # Logins off again: the session ends, and no route sends a link.
    town.clock.advance(minutes=1)
    off = await town.data(
        admin,
        "mutation($school: ID!) { updateStudentLoginSettings(input: {schoolId: $school, "
        "enabled: false, enabledYearGroupIds: [], visibleSections: []}) "
        "{ studentLoginsEnded welcomeEmailsSent } }",
        school=north["id"],
    )
    assert off["updateStudentLoginSettings"] == {
        "studentLoginsEnded": len(in_year_9),
        "welcomeEmailsSent": 0,
    }
    assert (await town.ask(bearer, MY_STUDENTS)).status_code == 401
    assert (await town.forgot(STUDENT)).status_code == 202
    assert (await town.sign_up(STUDENT, NEW_PASSWORD, "Alex Parker")).status_code == 202
    assert await town.inbox.nothing_more() == []
    assert (await town.http.get(unused)).status_code == 400

    # ...stays dead when logins come back; the new welcome email's link works.
    town.clock.advance(minutes=1)
    admin = await town.signed_in(ADMIN, STAFF_PASSWORD)  # the clock moved past its token
    on = await town.data(
        admin,
        "mutation($school: ID!, $years: [ID!]!) { updateStudentLoginSettings(input: "
        "{schoolId: $school, enabled: true, enabledYearGroupIds: $years, "
        "visibleSections: [HOMEWORK]}) { welcomeEmailsSent } }",
        school=north["id"],
        years=[year_9],
    )
    assert on["updateStudentLoginSettings"] == {"welcomeEmailsSent": len(in_year_9)}
    again = town.link(await town.mail_to(STUDENT), "/reset-password")
    dead = await town.reset(town.token_of(unused), NEW_PASSWORD)
    assert (dead.status_code, dead.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "INVALID_TOKEN",
    )
    assert (await town.reset(town.token_of(again), NEW_PASSWORD)).status_code == 200
    assert await town.my_students(await town.signed_in(STUDENT, NEW_PASSWORD)) == ["Alex Parker"]


# ---------------------------------------------------------------- resets


async def test_a_reset_link_works_once_for_an_hour_and_ends_the_old_password_and_sessions(
    town: Town,
) -> None:
    bearer = await town.staff_signs_up(TEACHER, "Terry Teacher")
    before = await town.my_students(bearer)

    assert (await town.forgot(TEACHER)).status_code == 202
    first = town.token_of(town.link(await town.mail_to(TEACHER), "/reset-password"))
    # A link older than an hour is dead.
    town.clock.advance(minutes=61)
    late = await town.reset(first, NEW_PASSWORD)
    assert (late.status_code, late.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "INVALID_TOKEN",
    )
    bearer = await town.signed_in(TEACHER, STAFF_PASSWORD)  # the old token expired meanwhile

    assert (await town.forgot(TEACHER)).status_code == 202
    second = town.token_of(town.link(await town.mail_to(TEACHER), "/reset-password"))
    weak = await town.reset(second, "password1234")
    assert weak.status_code == 400
    error = weak.json()["errors"][0]
    assert error["extensions"]["code"] == "WEAK_PASSWORD"
    assert error["message"].startswith("This password is too easy to guess.")
    assert (await town.reset(second, NEW_PASSWORD)).json()["status"] == "PASSWORD_SET"
    assert (await town.reset(second, NEW_PASSWORD + " again")).status_code == 400

    # The old password and every old session are gone.
    old = await town.log_in(TEACHER, STAFF_PASSWORD)
    assert (old.status_code, old.json()["errors"][0]["extensions"]["code"]) == (
        401,
        "INVALID_CREDENTIALS",
    )
    assert (await town.ask(bearer, MY_STUDENTS)).status_code == 401
    assert await town.my_students(await town.signed_in(TEACHER, NEW_PASSWORD)) == before


async def test_an_unknown_address_gets_the_same_answer_and_no_mail(town: Town) -> None:
    await town.staff_signs_up(TEACHER, "Terry Teacher")
    known = await town.forgot(TEACHER)
    await town.mail_to(TEACHER)
    unknown = await town.forgot("nobody@home.example.com")
    assert (known.status_code, known.json()) == (unknown.status_code, unknown.json())
    assert known.json() == {
        "status": "RESET_SENT",
        "message": "If this address has an account, a link to set a new password is on its way.",
    }
    assert await town.inbox.nothing_more() == []
    # Rate limits count the address typed, not whether it has an account.
    for _ in range(4):
        assert (await town.forgot("nobody@home.example.com")).status_code == 202
    limited = await town.forgot("nobody@home.example.com")
    assert (limited.status_code, limited.json()["errors"][0]["extensions"]["code"]) == (
        429,
        "RATE_LIMITED",
    )


async def test_a_revoked_parent_gets_no_mail_and_her_old_links_and_sessions_fail(
    town: Town,
) -> None:
    admin = await town.staff_signs_up(ADMIN, "Ada Admin")
    account_id = await town.provision(admin, PAT)
    welcome = town.link(await town.mail_to(PAT), "/reset-password")
    assert (await town.set_password_on_the_page(welcome, PARENT_PASSWORD)).status_code == 200
    bearer = await town.signed_in(PAT, PARENT_PASSWORD)
    assert await town.my_students(bearer) == ["Alex Parker", "Bailey Parker"]
    assert (await town.forgot(PAT)).status_code == 202
    reset = town.link(await town.mail_to(PAT), "/reset-password")

    revoked = (
        await town.data(
            admin,
            "mutation($ids: [ID!]!) { revokeAccounts(input: {accountIds: $ids}) "
            "{ revokedAccounts { id portalStatus } userErrors { code } } }",
            ids=[account_id],
        )
    )["revokeAccounts"]
    assert revoked == {
        "revokedAccounts": [{"id": account_id, "portalStatus": "REVOKED"}],
        "userErrors": [],
    }
    assert (await town.ask(bearer, MY_STUDENTS)).status_code == 401
    assert (await town.http.get(reset)).status_code == 400
    dead = await town.reset(town.token_of(reset), NEW_PASSWORD)
    assert (dead.status_code, dead.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "INVALID_TOKEN",
    )
    assert (await town.forgot(PAT)).json()["status"] == "RESET_SENT"
    assert await town.inbox.nothing_more() == []
    assert (await town.log_in(PAT, PARENT_PASSWORD)).status_code == 401


# ---------------------------------------------------------------- signed in


async def test_changing_the_password_needs_the_current_one_and_signs_out_the_other_devices(
    town: Town,
) -> None:
    laptop = await town.staff_signs_up(TEACHER, "Terry Teacher")
    phone = await town.signed_in(TEACHER, STAFF_PASSWORD)

    async def change(current: str, new: str) -> httpx.Response:
        return await town.http.post(
            "/auth/password/change",
            json={"currentPassword": current, "newPassword": new},
            headers={"authorization": f"Bearer {laptop}"},
        )

    anonymous = await town.http.post(
        "/auth/password/change",
        json={"currentPassword": STAFF_PASSWORD, "newPassword": NEW_PASSWORD},
    )
    assert anonymous.status_code == 401
    wrong = await change("not my password at all", NEW_PASSWORD)
    assert (wrong.status_code, wrong.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "INVALID_CREDENTIALS",
    )
    weak = await change(STAFF_PASSWORD, "teacher12345")
    assert (weak.status_code, weak.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "WEAK_PASSWORD",
    )
    changed = await change(STAFF_PASSWORD, NEW_PASSWORD)
    assert changed.json() == {"status": "PASSWORD_CHANGED", "otherSessionsEnded": 1}
    assert (await town.ask(laptop, MY_STUDENTS)).status_code == 200
    assert (await town.ask(phone, MY_STUDENTS)).status_code == 401
    assert (await town.log_in(TEACHER, STAFF_PASSWORD)).status_code == 401
    await town.signed_in(TEACHER, NEW_PASSWORD)


async def test_changing_the_email_takes_a_link_to_the_new_address_and_tells_the_old_one(
    town: Town,
) -> None:
    email, new_email = "jordan@home.example.com", "jordan.morgan@mail.example.net"
    assert (await town.sign_up(email, PARENT_PASSWORD, "Jordan Morgan")).status_code == 202
    await town.confirm_on_the_page(town.link(await town.mail_to(email), "/verify"), PARENT_PASSWORD)
    bearer = await town.signed_in(email, PARENT_PASSWORD)

    async def change(to: str, password: str) -> httpx.Response:
        return await town.http.post(
            "/auth/email/change",
            json={"newEmail": to, "currentPassword": password},
            headers={"authorization": f"Bearer {bearer}"},
        )

    wrong = await change(new_email, "not my password at all")
    assert (wrong.status_code, wrong.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "INVALID_CREDENTIALS",
    )
    asked = await change(new_email, PARENT_PASSWORD)
    assert asked.status_code == 202
    confirm = await town.mail_to(new_email)
    assert confirm.subject == "Confirm your new email address"
    notice = await town.mail_to(email)
    assert notice.subject == "Your email address is being changed"
    assert new_email in notice.body
    # Nothing changes before the link is opened.
    await town.signed_in(email, PARENT_PASSWORD)

    link = town.link(confirm, "/confirm-email")
    signed_in_json = {"accept": "application/json", "authorization": f"Bearer {bearer}"}
    opened = await town.http.get(link, headers=signed_in_json)
    assert opened.json()["status"] == "EMAIL_CHANGED"
    again = await town.http.get(link, headers=signed_in_json)
    assert (again.status_code, again.json()["errors"][0]["extensions"]["code"]) == (
        400,
        "INVALID_TOKEN",
    )
    assert (await town.log_in(email, PARENT_PASSWORD)).status_code == 401
    bearer = await town.signed_in(new_email, PARENT_PASSWORD)
    me = (await town.data(bearer, MY_STUDENTS))["viewer"]["account"]
    assert me == {"displayName": "Jordan Morgan", "email": new_email}

    # An address another account has: the same answer, a notice there, no link.
    await town.staff_signs_up(TEACHER, "Terry Teacher")
    taken = await change(TEACHER, PARENT_PASSWORD)
    assert (taken.status_code, taken.json()) == (asked.status_code, asked.json())
    refused = await town.mail_to(TEACHER)
    assert refused.subject == "This address already has an account"
    assert "/confirm-email" not in refused.body
    assert await town.inbox.nothing_more() == []


async def test_signing_out_everywhere_ends_every_session_of_the_account(town: Town) -> None:
    laptop = await town.staff_signs_up(TEACHER, "Terry Teacher")
    phone = await town.signed_in(TEACHER, STAFF_PASSWORD)
    # The SPA's cookies need the CSRF header.
    spa = await town.http.post(
        "/auth/login", json={"email": TEACHER, "password": STAFF_PASSWORD, "mode": "cookie"}
    )
    assert spa.status_code == 200
    forged = await town.http.post("/auth/logout/everywhere")
    assert (forged.status_code, forged.json()["errors"][0]["extensions"]["code"]) == (
        403,
        "CSRF_FAILED",
    )
    town.http.cookies.clear()

    ended = await town.http.post(
        "/auth/logout/everywhere", headers={"authorization": f"Bearer {phone}"}
    )
    assert ended.json() == {"status": "SIGNED_OUT", "sessionsEnded": 3}  # laptop, phone, SPA
    assert (await town.ask(laptop, MY_STUDENTS)).status_code == 401
    assert (await town.ask(phone, MY_STUDENTS)).status_code == 401
    await town.signed_in(TEACHER, STAFF_PASSWORD)


# ---------------------------------------------------------------- someone else's address
#
# An attacker signs up (or changes their address) to an address that is
# not theirs: a staff record's. Whatever the mailbox owner then clicks, the
# password the attacker chose never works, and the staff record's roles
# never reach an account whose credentials the owner did not set.


async def _counselor(town: Town) -> dict[str, Any]:
    staff = tables.StaffMember.__table__
    [(given, family)] = await _read(
        town.engine,
        sa.select(staff.c.given_name, staff.c.family_name).where(staff.c.email == COUNSELOR),
    )
    return {"displayName": f"{given} {family}", "email": COUNSELOR}


ACTING = "{ viewer { account { displayName } actingAs { displayName email } roles { role } } }"


def _refused(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["errors"][0]["extensions"]["code"]


async def test_signing_up_again_for_a_pending_address_changes_nothing_and_mails_its_owner_a_reset(
    town: Town,
) -> None:
    assert (await town.sign_up(COUNSELOR, VICTIM_PASSWORD, "Real Counselor")).status_code == 202
    first = await town.mail_to(COUNSELOR)
    assert first.subject == "Confirm your email address"

    again = await town.sign_up(COUNSELOR, ATTACKER_PASSWORD, "Attacker")
    fresh = await town.sign_up("nobody@home.example.com", ATTACKER_PASSWORD, "Attacker")
    assert again.status_code == fresh.status_code == 202
    assert again.json() == fresh.json()
    # The holder of the address is told, with a link to set a password; no
    # second confirmation link, and the first one still works.
    notice = await town.mail_to(COUNSELOR)
    assert notice.subject == "Set a new password"
    assert "/verify" not in notice.body
    await town.mail_to("nobody@home.example.com")  # the new address's own confirmation
    assert _refused(await town.log_in(COUNSELOR, ATTACKER_PASSWORD)) == (
        401,
        "INVALID_CREDENTIALS",
    )

    confirmed = await town.confirm_on_the_page(town.link(first, "/verify"), VICTIM_PASSWORD)
    assert confirmed.status_code == 200
    assert _refused(await town.log_in(COUNSELOR, ATTACKER_PASSWORD)) == (
        401,
        "INVALID_CREDENTIALS",
    )
    bearer = await town.signed_in(COUNSELOR, VICTIM_PASSWORD)
    viewer = (await town.data(bearer, ACTING))["viewer"]
    assert viewer == {
        "account": {"displayName": "Real Counselor"},
        "actingAs": await _counselor(town),
        "roles": [{"role": "SUPPORT_STAFF"}],
    }
    assert await town.inbox.nothing_more() == []


async def test_the_owner_opening_the_link_of_an_attackers_sign_up_confirms_nothing(
    town: Town,
) -> None:
    # The attacker signs up first, with the counselor's address.
    assert (await town.sign_up(COUNSELOR, ATTACKER_PASSWORD, "Attacker")).status_code == 202
    link = town.link(await town.mail_to(COUNSELOR), "/verify")

    # The counselor opens the link: a page that asks for the password chosen
    # at sign-up. Opening it confirms nothing; a mail scanner opening it
    # neither.
    page = await town.http.get(link)
    assert page.status_code == 200
    assert "type=password" in page.text
    json_open = await town.http.get(link, headers={"accept": "application/json"})
    assert json_open.status_code == 200
    assert json_open.json()["status"] == "PASSWORD_NEEDED"
    assert _refused(await town.log_in(COUNSELOR, ATTACKER_PASSWORD)) == (
        403,
        "EMAIL_NOT_VERIFIED",
    )
    # The counselor's own password does not confirm the attacker's.
    wrong = await town.confirm_on_the_page(link, VICTIM_PASSWORD)
    assert wrong.status_code == 400
    assert "type=password" in wrong.text
    wrong_json = await town.http.post(
        "/auth/verify", json={"token": town.token_of(link), "password": VICTIM_PASSWORD}
    )
    assert _refused(wrong_json) == (400, "INVALID_CREDENTIALS")
    for password in (ATTACKER_PASSWORD, VICTIM_PASSWORD):
        assert (await town.log_in(COUNSELOR, password)).status_code in {401, 403}

    # The counselor signs up (or asks for a link): a reset link, whose
    # password replaces the attacker's.
    assert (await town.sign_up(COUNSELOR, VICTIM_PASSWORD, "Real Counselor")).status_code == 202
    reset = await town.mail_to(COUNSELOR)
    assert reset.subject == "Set a new password"
    set_ = await town.reset(town.token_of(town.link(reset, "/reset-password")), VICTIM_PASSWORD)
    assert set_.status_code == 200
    assert _refused(await town.log_in(COUNSELOR, ATTACKER_PASSWORD)) == (
        401,
        "INVALID_CREDENTIALS",
    )
    # The attacker's confirmation link is dead now, with their password too.
    late = await town.http.post(
        "/auth/verify", json={"token": town.token_of(link), "password": ATTACKER_PASSWORD}
    )
    assert _refused(late) == (400, "INVALID_TOKEN")
    bearer = await town.signed_in(COUNSELOR, VICTIM_PASSWORD)
    viewer = (await town.data(bearer, ACTING))["viewer"]
    assert viewer["actingAs"] == await _counselor(town)
    assert viewer["roles"] == [{"role": "SUPPORT_STAFF"}]
    assert await town.inbox.nothing_more() == []


async def test_the_right_password_confirms_the_address_through_the_json_route(town: Town) -> None:
    email = "jordan@home.example.com"
    assert (await town.sign_up(email, PARENT_PASSWORD, "Jordan Morgan")).status_code == 202
    token = town.token_of(town.link(await town.mail_to(email), "/verify"))
    confirmed = await town.http.post(
        "/auth/verify", json={"token": token, "password": PARENT_PASSWORD}
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "EMAIL_VERIFIED"
    again = await town.http.post("/auth/verify", json={"token": token, "password": PARENT_PASSWORD})
    assert _refused(again) == (400, "TOKEN_USED")
    await town.signed_in(email, PARENT_PASSWORD)


async def test_a_new_address_is_confirmed_only_by_the_account_that_asked_for_it(
    town: Town,
) -> None:
    # The attacker has an account of their own and asks for the counselor's
    # address; the counselor opens the link that arrives.
    email = "mallory@home.example.com"
    assert (await town.sign_up(email, ATTACKER_PASSWORD, "Mallory")).status_code == 202
    await town.confirm_on_the_page(
        town.link(await town.mail_to(email), "/verify"), ATTACKER_PASSWORD
    )
    bearer = await town.signed_in(email, ATTACKER_PASSWORD)
    asked = await town.http.post(
        "/auth/email/change",
        json={"newEmail": COUNSELOR, "currentPassword": ATTACKER_PASSWORD},
        headers={"authorization": f"Bearer {bearer}"},
    )
    assert asked.status_code == 202
    link = town.link(await town.mail_to(COUNSELOR), "/confirm-email")
    await town.mail_to(email)  # the notice to the old address

    page = await town.http.get(link)
    assert page.status_code == 401
    as_json = await town.http.get(link, headers={"accept": "application/json"})
    assert _refused(as_json) == (401, "UNAUTHENTICATED")
    assert _refused(await town.log_in(COUNSELOR, ATTACKER_PASSWORD)) == (
        401,
        "INVALID_CREDENTIALS",
    )
    viewer = (await town.data(bearer, ACTING))["viewer"]
    assert viewer == {"account": {"displayName": "Mallory"}, "actingAs": None, "roles": []}
    assert await town.inbox.nothing_more() == []


async def test_an_unverified_sign_up_at_the_districts_domain_is_no_colleague_of_anyone(
    town: Town,
) -> None:
    """Account administrators see their district's unlinked staff accounts
    (new colleagues) only once the address is verified, by its owner."""
    admin = await town.staff_signs_up(ADMIN, "Ada Admin")
    newcomer = "new.colleague@riverside.example.edu"  # the district's own domain
    assert (await town.sign_up(newcomer, ATTACKER_PASSWORD, "Principal Skinner")).status_code == 202
    link = town.link(await town.mail_to(newcomer), "/verify")
    query = (
        '{ accounts(first: 50, filter: {kind: STAFF, search: "Skinner"}) '
        "{ totalCount edges { node { displayName email } } } }"
    )
    assert (await town.data(admin, query))["accounts"] == {"totalCount": 0, "edges": []}

    confirmed = await town.confirm_on_the_page(link, ATTACKER_PASSWORD)
    assert confirmed.status_code == 200
    assert (await town.data(admin, query))["accounts"] == {
        "totalCount": 1,
        "edges": [{"node": {"displayName": "Principal Skinner", "email": newcomer}}],
    }


async def test_the_spa_confirms_a_new_address_by_opening_the_link_in_the_signed_in_browser(
    town: Town,
) -> None:
    """A browser opening the link carries the SPA's session cookie but no
    CSRF header (a top-level navigation): that is enough, since the link's
    token only acts on the account it is bound to."""
    email, new_email = "jordan@home.example.com", "jordan.morgan@mail.example.net"
    assert (await town.sign_up(email, PARENT_PASSWORD, "Jordan Morgan")).status_code == 202
    await town.confirm_on_the_page(town.link(await town.mail_to(email), "/verify"), PARENT_PASSWORD)
    spa = await town.http.post(
        "/auth/login", json={"email": email, "password": PARENT_PASSWORD, "mode": "cookie"}
    )
    assert spa.status_code == 200
    asked = await town.http.post(
        "/auth/email/change",
        json={"newEmail": new_email, "currentPassword": PARENT_PASSWORD},
        headers={"x-csrf-token": spa.json()["csrfToken"]},
    )
    assert asked.status_code == 202
    link = town.link(await town.mail_to(new_email), "/confirm-email")
    await town.mail_to(email)  # the notice to the old address
    opened = await town.http.get(link)
    assert opened.status_code == 200, opened.text
    assert "Email address changed" in opened.text
    town.http.cookies.clear()
    await town.signed_in(new_email, PARENT_PASSWORD)
