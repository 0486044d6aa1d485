"""The database tables: every entity of docs/architecture.md section 1.

Conventions, and why:
- Every table of school data carries ``district_id``, the tenant key. Every
  query filters by it, and it is what a later Citus distribution column will be.
  Accounts, their identities and sessions are global (a parent may hold children
  in two districts with one account); each grant carries its student's district.
- Enumerations are stored as short strings, not database enums, so that adding
  a value is a code change, not a migration that locks a large table.
- Times are stored as naive UTC and read back as aware UTC (``UTCDateTime``),
  the same on SQLite and PostgreSQL.
- Nothing that records access is ever deleted: grants get ``revoked_at``,
  codes become RESET, requests become DELETED, staff and students are marked.
- Indexes are named after what they serve; every scope filter of
  ``resolvers.scope`` has one.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

# Large append-only tables get 64-bit keys on PostgreSQL; SQLite only
# autoincrements an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in Python, naive UTC in the database."""

    impl = sa.DateTime
    cache_ok = True

    @property
    def python_type(self) -> type[dt.datetime]:
        return dt.datetime  # keyset cursors decode by python_type

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use an aware UTC datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite through raw SQL
            value = dt.datetime.fromisoformat(value)
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _time(*, nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _required_time() -> Any:
    return Field(default_factory=utc_now, sa_type=UTCDateTime, nullable=False)


def _fk(target: str, *, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, foreign_key=target, nullable=nullable, index=index)


# ------------------------------------------------------------- stored values

# The values of the enumeration columns (short strings, see above). StrEnum
# members are those strings, so statements and comparisons use the members,
# never string literals; schema/enums.py exposes them as the GraphQL enums.
# Account kinds and roles are policy's words (permissions/roles.py).


class EnrolmentStatus(enum.StrEnum):
    """``students.status``."""

    ENROLLED = "ENROLLED"
    WITHDRAWN = "WITHDRAWN"
    GRADUATED = "GRADUATED"


class GrantSource(enum.StrEnum):
    """``student_access_grants.source``: how the guardian (or the student) got access."""

    ACCESS_CODE = "ACCESS_CODE"
    CONNECTION_REQUEST = "CONNECTION_REQUEST"
    SIS_SYNC = "SIS_SYNC"
    STUDENT_LOGIN = "STUDENT_LOGIN"


class RoleGrantSource(enum.StrEnum):
    """``role_grants.source``: from the SIS, or by hand (grantRole, the CLI)."""

    SIS_SYNC = "SIS_SYNC"
    MANUAL = "MANUAL"


class AccessCodeStatus(enum.StrEnum):
    """``access_codes.status``."""

    ACTIVE = "ACTIVE"
    RESET = "RESET"


class ConnectionRequestStatus(enum.StrEnum):
    """``connection_requests.status``; REQUEST_EXPIRED is also derived from
    ``expires_at`` when read."""

    WAITING_FOR_ACTIVATION = "WAITING_FOR_ACTIVATION"
    ACTIVATED = "ACTIVATED"
    REQUEST_EXPIRED = "REQUEST_EXPIRED"
    DELETED = "DELETED"


class QuestionType(enum.StrEnum):
    """``form_questions.question_type``."""

    TEXT = "TEXT"
    CHOICE = "CHOICE"
    DATE = "DATE"
    GUARDIAN_DETAILS = "GUARDIAN_DETAILS"


class FormAssignmentStatus(enum.StrEnum):
    """``form_assignments.status``."""

    ASSIGNED = "ASSIGNED"
    SUBMITTED = "SUBMITTED"


class AccessAction(enum.StrEnum):
    """``access_events.action``: what was read or changed."""

    STUDENT_PROFILE = "STUDENT_PROFILE"
    ACCESS_CODE_ISSUED = "ACCESS_CODE_ISSUED"
    ACCESS_CODE_RESET = "ACCESS_CODE_RESET"
    ACCESS_CODE_REDEEMED = "ACCESS_CODE_REDEEMED"
    GRANT_CREATED = "GRANT_CREATED"
    GRANT_REVOKED = "GRANT_REVOKED"
    CONNECTION_REQUEST_CREATED = "CONNECTION_REQUEST_CREATED"
    CONNECTION_REQUEST_DELETED = "CONNECTION_REQUEST_DELETED"
    CONNECTION_REQUEST_ACTIVATED = "CONNECTION_REQUEST_ACTIVATED"
    CONNECTION_REQUEST_LOCKED = "CONNECTION_REQUEST_LOCKED"
    ACCOUNT_PROVISIONED = "ACCOUNT_PROVISIONED"
    ACCOUNT_REVOKED = "ACCOUNT_REVOKED"
    ACCOUNT_LINKED_TO_STAFF = "ACCOUNT_LINKED_TO_STAFF"
    SESSIONS_TERMINATED = "SESSIONS_TERMINATED"
    ROLE_GRANTED = "ROLE_GRANTED"
    ROLE_REVOKED = "ROLE_REVOKED"
    STUDENT_LOGIN_SETTINGS_CHANGED = "STUDENT_LOGIN_SETTINGS_CHANGED"
    STUDENT_LOGIN_ENABLED = "STUDENT_LOGIN_ENABLED"
    STUDENT_LOGIN_ENDED = "STUDENT_LOGIN_ENDED"
    FORM_ASSIGNED = "FORM_ASSIGNED"
    FORM_SUBMITTED = "FORM_SUBMITTED"


class TableModel(SQLModel):
    """Base of every table: declares ``__table__`` so the Core tables at the
    end of this module are typed ``sa.Table``."""

    __table__: ClassVar[sa.Table]


# ---------------------------------------------------------------- organisation


class District(TableModel, table=True):
    __tablename__ = "districts"

    id: int | None = Field(default=None, primary_key=True)
    sourced_id: str = Field(max_length=255, unique=True)
    name: str = Field(max_length=255)
    # Space-separated: the district's own email domains, refused for
    # connection requests (a request must go to a personal address).
    email_domains: str = Field(default="", max_length=2000)


class School(TableModel, table=True):
    __tablename__ = "schools"
    __table_args__ = (sa.UniqueConstraint("district_id", "sourced_id"),)

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    sourced_id: str = Field(max_length=255)
    name: str = Field(max_length=255)
    # Student logins (docs/architecture.md section 3): off by default; the year groups are on YearGroup.
    student_logins_enabled: bool = Field(default=False)
    # Space-separated StudentSection names a signed-in student may see.
    student_visible_sections: str = Field(default="HOMEWORK TIMETABLE", max_length=200)
    price_per_student_per_term: int = Field(default=50)
    currency: str = Field(default="GBP", max_length=3)


class YearGroup(TableModel, table=True):
    __tablename__ = "year_groups"
    __table_args__ = (sa.UniqueConstraint("school_id", "code"),)

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    school_id: int = _fk("schools.id")
    # The OneRoster grade code ("09"); the name comes from metadata.yearGroupNames.
    code: str = Field(max_length=32)
    name: str = Field(max_length=255)
    student_logins_enabled: bool = Field(default=False)


class SisSyncState(TableModel, table=True):
    """When a OneRoster REST provider was last pulled successfully: the next
    pull asks only for what changed since (docs/architecture.md section 4)."""

    __tablename__ = "sis_sync_states"

    id: int | None = Field(default=None, primary_key=True)
    # The provider's base URL.
    source: str = Field(max_length=1000, unique=True)
    # When the last successful pull started (the provider's records changed
    # after it are the next pull's).
    last_success_at: dt.datetime = _required_time()


class AcademicSession(TableModel, table=True):
    """A OneRoster academic session: a term, semester or school year."""

    __tablename__ = "academic_sessions"
    __table_args__ = (sa.UniqueConstraint("district_id", "sourced_id"),)

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    sourced_id: str = Field(max_length=255)
    title: str = Field(max_length=255)
    session_type: str = Field(max_length=32)
    start_date: dt.date
    end_date: dt.date
    # False when the SIS marks the session tobedeleted: kept, as sections are.
    active: bool = Field(default=True, sa_column_kwargs={"server_default": sa.true()})


# ---------------------------------------------------------------- people


class Student(TableModel, table=True):
    __tablename__ = "students"
    __table_args__ = (
        sa.UniqueConstraint("district_id", "sourced_id"),
        # Admin scope (school) and its keyset pagination in one index.
        sa.Index("ix_students_school_name", "school_id", "family_name", "given_name", "id"),
        sa.Index("ix_students_district_name", "district_id", "family_name", "given_name", "id"),
        sa.Index("ix_students_year_group", "year_group_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id")
    school_id: int = _fk("schools.id")
    year_group_id: int | None = _fk("year_groups.id", nullable=True)
    sourced_id: str = Field(max_length=255)
    given_name: str = Field(max_length=255)
    family_name: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    date_of_birth: dt.date | None = None
    # ENROLLED, WITHDRAWN or GRADUATED.
    status: str = Field(default=EnrolmentStatus.ENROLLED, max_length=16)
    status_changed_at: dt.datetime | None = _time()


class Guardian(TableModel, table=True):
    """A contact record from the SIS (Mother, Father, Caseworker, ...)."""

    __tablename__ = "guardians"
    __table_args__ = (
        sa.UniqueConstraint("district_id", "sourced_id"),
        sa.Index("ix_guardians_district_name", "district_id", "family_name", "given_name", "id"),
        sa.Index("ix_guardians_email", "email"),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id")
    sourced_id: str = Field(max_length=255)
    given_name: str = Field(max_length=255)
    family_name: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    active: bool = Field(default=True)


class StudentContact(TableModel, table=True):
    """A guardian recorded against a student, with the SIS's flags."""

    __tablename__ = "student_contacts"
    __table_args__ = (
        sa.UniqueConstraint("student_id", "guardian_id"),
        sa.Index("ix_student_contacts_guardian", "guardian_id", "student_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    student_id: int = _fk("students.id")
    guardian_id: int = _fk("guardians.id")
    contact_type: str = Field(default="Guardian", max_length=64)
    portal_eligible: bool = Field(default=False)
    # A custody or safeguarding restriction: never access to this student.
    restricted: bool = Field(default=False)


class StaffMember(TableModel, table=True):
    """The SIS's staff record. Kept when the SIS deactivates or deletes it."""

    __tablename__ = "staff_members"
    __table_args__ = (
        sa.UniqueConstraint("district_id", "sourced_id"),
        sa.Index("ix_staff_members_email", "email"),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    sourced_id: str = Field(max_length=255)
    given_name: str = Field(max_length=255)
    family_name: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    active: bool = Field(default=True)
    deactivated_at: dt.datetime | None = _time()


class StaffSchool(TableModel, table=True):
    __tablename__ = "staff_schools"
    __table_args__ = (sa.Index("ix_staff_schools_school", "school_id", "staff_member_id"),)

    staff_member_id: int = Field(foreign_key="staff_members.id", primary_key=True)
    school_id: int = Field(foreign_key="schools.id", primary_key=True)
    district_id: int = _fk("districts.id", index=True)


class Section(TableModel, table=True):
    """A class at a school (OneRoster: class)."""

    __tablename__ = "sections"
    __table_args__ = (
        sa.UniqueConstraint("district_id", "sourced_id"),
        sa.Index("ix_sections_school_name", "school_id", "name", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    school_id: int = _fk("schools.id")
    term_id: int | None = _fk("academic_sessions.id", nullable=True)
    sourced_id: str = Field(max_length=255)
    name: str = Field(max_length=255)
    active: bool = Field(default=True)


class SectionTeacher(TableModel, table=True):
    __tablename__ = "section_teachers"
    __table_args__ = (sa.Index("ix_section_teachers_staff", "staff_member_id", "section_id"),)

    section_id: int = Field(foreign_key="sections.id", primary_key=True)
    staff_member_id: int = Field(foreign_key="staff_members.id", primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    sourced_id: str | None = Field(default=None, max_length=255)


class SectionEnrolment(TableModel, table=True):
    """A student in a section. Teacher scope is the *current* enrolments."""

    __tablename__ = "section_enrolments"
    __table_args__ = (sa.Index("ix_section_enrolments_student", "student_id", "section_id"),)

    section_id: int = Field(foreign_key="sections.id", primary_key=True)
    student_id: int = Field(foreign_key="students.id", primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    sourced_id: str | None = Field(default=None, max_length=255)
    active: bool = Field(default=True)


# ---------------------------------------------------------------- accounts


class Account(TableModel, table=True):
    """A login identity: STAFF (a "user"), GUARDIAN or STUDENT. Global."""

    __tablename__ = "accounts"
    __table_args__ = (
        sa.Index("ix_accounts_email", "email"),
        sa.Index("ix_accounts_staff_member", "staff_member_id"),
        # Unlinked STAFF accounts, for account administrators (scope.account_filter).
        sa.Index("ix_accounts_kind_staff_member", "kind", "staff_member_id"),
        sa.Index("ix_accounts_guardian", "guardian_id"),
        sa.Index("ix_accounts_student", "student_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    email: str | None = Field(default=None, max_length=320)
    email_verified_at: dt.datetime | None = _time()
    display_name: str = Field(max_length=255)
    password_hash: str | None = Field(default=None, max_length=255)
    created_at: dt.datetime = _required_time()
    last_login_at: dt.datetime | None = _time()
    # Set by revokeAccounts: credentials removed, sessions ended.
    revoked_at: dt.datetime | None = _time()
    staff_member_id: int | None = _fk("staff_members.id", nullable=True)
    guardian_id: int | None = _fk("guardians.id", nullable=True)
    student_id: int | None = _fk("students.id", nullable=True)


class AccountIdentity(TableModel, table=True):
    """An OIDC identity: keyed by the provider's subject, never the email."""

    __tablename__ = "account_identities"
    __table_args__ = (sa.UniqueConstraint("issuer", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = _fk("accounts.id", index=True)
    issuer: str = Field(max_length=500)
    subject: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=320)
    created_at: dt.datetime = _required_time()


class RoleGrant(TableModel, table=True):
    """A role at a school or district, held by an account or a staff record.

    SIS roles attach to the staff record (the SIS knows staff, not logins) and
    reach an account through its link; ``grantRole`` attaches to the account.
    Exactly one of school_id / scope_district is the grant's scope: a grant
    with ``school_id`` null covers the whole district.
    """

    __tablename__ = "role_grants"
    __table_args__ = (
        sa.Index("ix_role_grants_account", "account_id"),
        sa.Index("ix_role_grants_staff", "staff_member_id"),
        sa.Index("ix_role_grants_school", "school_id"),
        sa.CheckConstraint(
            "(account_id IS NULL) <> (staff_member_id IS NULL)", name="ck_role_grants_holder"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id")
    account_id: int | None = _fk("accounts.id", nullable=True)
    staff_member_id: int | None = _fk("staff_members.id", nullable=True)
    role: str = Field(max_length=32)
    school_id: int | None = _fk("schools.id", nullable=True)
    source: str = Field(default=RoleGrantSource.MANUAL, max_length=16)
    created_at: dt.datetime = _required_time()


class Session(TableModel, table=True):
    """A signed-in device. Access tokens name it; it is checked every request."""

    __tablename__ = "sessions"
    __table_args__ = (sa.Index("ix_sessions_account", "account_id"),)

    id: str = Field(primary_key=True, max_length=64)
    account_id: int = _fk("accounts.id")
    # Refresh tokens rotate inside a family; reuse of an old one ends the family.
    family_id: str = Field(max_length=64, index=True)
    refresh_token_hash: str | None = Field(default=None, max_length=128, unique=True)
    created_at: dt.datetime = _required_time()
    last_used_at: dt.datetime | None = _time()
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    revoked_at: dt.datetime | None = _time()
    revoked_reason: str | None = Field(default=None, max_length=255)
    client: str | None = Field(default=None, max_length=255)


class AuthHandoff(TableModel, table=True):
    """A native app's OIDC sign-in, waiting to be exchanged for tokens
    (RFC 8252 with PKCE): single use, a minute to live. Only the code's
    SHA-256 is stored."""

    __tablename__ = "auth_handoffs"

    code_hash: str = Field(primary_key=True, max_length=64)
    account_id: int = _fk("accounts.id", index=True)
    code_challenge: str = Field(max_length=128)
    client: str | None = Field(default=None, max_length=255)
    created_at: dt.datetime = _required_time()
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: dt.datetime | None = _time()


class PasswordToken(TableModel, table=True):
    """An emailed single-use link: set or reset a password (``PASSWORD``:
    reset links, welcome links) or confirm a new email address (``EMAIL``,
    with ``new_email``). Only the token's SHA-256 is stored; a token ends
    when used, when it expires, or when any password token of its account
    is used (the password changed)."""

    __tablename__ = "password_tokens"
    __table_args__ = (sa.Index("ix_password_tokens_account", "account_id", "used_at"),)

    token_hash: str = Field(primary_key=True, max_length=64)
    account_id: int = _fk("accounts.id")
    purpose: str = Field(max_length=16)
    new_email: str | None = Field(default=None, max_length=320)
    created_at: dt.datetime = _required_time()
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    used_at: dt.datetime | None = _time()


# ---------------------------------------------------------------- portal access


class StudentAccessGrant(TableModel, table=True):
    """One account's access to one student. Never deleted: revoked_at is set."""

    __tablename__ = "student_access_grants"
    __table_args__ = (
        sa.Index("ix_grants_account", "account_id", "revoked_at"),
        sa.Index("ix_grants_student", "student_id", "revoked_at"),
        sa.Index("ix_grants_district", "district_id", "account_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id")
    account_id: int = _fk("accounts.id")
    student_id: int = _fk("students.id")
    # ACCESS_CODE, CONNECTION_REQUEST, SIS_SYNC or STUDENT_LOGIN.
    source: str = Field(max_length=32)
    relationship: str | None = Field(default=None, max_length=64)
    access_code_id: int | None = _fk("access_codes.id", nullable=True)
    connection_request_id: int | None = _fk("connection_requests.id", nullable=True)
    granted_at: dt.datetime = _required_time()
    revoked_at: dt.datetime | None = _time()
    revoked_by_staff_id: int | None = _fk("staff_members.id", nullable=True)
    revoke_reason: str | None = Field(default=None, max_length=255)


class AccessCode(TableModel, table=True):
    """A student's multi-use pairing code: ACTIVE until reset, then RESET."""

    __tablename__ = "access_codes"
    __table_args__ = (
        sa.Index("ix_access_codes_student", "student_id", "status"),
        # At most one ACTIVE code per student is kept by the workflows; the
        # normalised code is unique so that redemption is one indexed lookup.
        sa.UniqueConstraint("code", name="uq_access_codes_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    student_id: int = _fk("students.id")
    # Stored normalised: upper case, no separators.
    code: str = Field(max_length=32)
    status: str = Field(default=AccessCodeStatus.ACTIVE, max_length=16)
    created_at: dt.datetime = _required_time()
    created_by_staff_id: int | None = _fk("staff_members.id", nullable=True)
    reset_at: dt.datetime | None = _time()


class ConnectionRequest(TableModel, table=True):
    """A request for one person to access one student (the PIN flow)."""

    __tablename__ = "connection_requests"
    __table_args__ = (
        sa.Index("ix_connection_requests_student", "student_id", "status"),
        sa.UniqueConstraint("token_hash", name="uq_connection_requests_token"),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    student_id: int = _fk("students.id")
    for_student_self: bool = Field(default=False)
    relationship: str | None = Field(default=None, max_length=64)
    individual_name: str = Field(max_length=255)
    email: str = Field(max_length=320)
    pin_hash: str = Field(max_length=255)
    token_hash: str = Field(max_length=128)
    # WAITING_FOR_ACTIVATION, ACTIVATED, REQUEST_EXPIRED (derived from
    # expires_at as well), DELETED.
    status: str = Field(default=ConnectionRequestStatus.WAITING_FOR_ACTIVATION, max_length=32)
    failed_pin_attempts: int = Field(default=0)
    locked_at: dt.datetime | None = _time()
    created_at: dt.datetime = _required_time()
    expires_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    activated_at: dt.datetime | None = _time()
    activated_account_id: int | None = _fk("accounts.id", nullable=True)
    created_by_staff_id: int | None = _fk("staff_members.id", nullable=True)
    deleted_at: dt.datetime | None = _time()


class AccessEvent(TableModel, table=True):
    """The audit trail: who read or changed what of which student, when."""

    __tablename__ = "access_events"
    __table_args__ = (
        sa.Index("ix_access_events_student_at", "student_id", "at", "id"),
        sa.Index("ix_access_events_district_at", "district_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    district_id: int = _fk("districts.id")
    student_id: int | None = _fk("students.id", nullable=True)
    at: dt.datetime = _required_time()
    actor_account_id: int | None = _fk("accounts.id", nullable=True)
    actor_staff_id: int | None = _fk("staff_members.id", nullable=True)
    # STAFF, GUARDIAN, STUDENT; null for the SIS sync and the system.
    actor_kind: str | None = Field(default=None, max_length=16)
    actor_name: str = Field(max_length=255)
    action: str = Field(max_length=64)
    # Free text for people reading the trail (the grant id, the reason, ...).
    detail: str | None = Field(default=None, max_length=1000)


class OutboxEmail(TableModel, table=True):
    """Every email is written here first and sent from here (retried)."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_unsent", "sent_at", "id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    to_address: str = Field(max_length=320)
    subject: str = Field(max_length=255)
    body: str = Field(sa_type=sa.Text)
    kind: str = Field(max_length=32)
    created_at: dt.datetime = _required_time()
    sent_at: dt.datetime | None = _time()
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=1000)
    # After a failure, not tried again before this (backoff); None: now.
    next_attempt_at: dt.datetime | None = _time()


# ---------------------------------------------------------------- student-facing data


class Homework(TableModel, table=True):
    __tablename__ = "homework"
    __table_args__ = (sa.Index("ix_homework_section_due", "section_id", "due_on", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    section_id: int = _fk("sections.id")
    title: str = Field(max_length=255)
    details: str | None = Field(default=None, sa_type=sa.Text)
    due_on: dt.date
    # Recorded as the linked staff member, not the login account (docs/architecture.md section 2).
    recorded_by_staff_id: int = _fk("staff_members.id")
    recorded_by_account_id: int | None = _fk("accounts.id", nullable=True)
    created_at: dt.datetime = _required_time()


class TimetableEntry(TableModel, table=True):
    __tablename__ = "timetable_entries"
    __table_args__ = (sa.Index("ix_timetable_section_date", "section_id", "date"),)

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    section_id: int = _fk("sections.id")
    date: dt.date
    period: str = Field(max_length=32)
    room: str | None = Field(default=None, max_length=64)


class Form(TableModel, table=True):
    __tablename__ = "forms"

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    school_id: int = _fk("schools.id", index=True)
    title: str = Field(max_length=255)
    created_by_staff_id: int | None = _fk("staff_members.id", nullable=True)
    created_at: dt.datetime = _required_time()


class FormQuestion(TableModel, table=True):
    __tablename__ = "form_questions"
    __table_args__ = (sa.Index("ix_form_questions_form", "form_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    form_id: int = _fk("forms.id")
    position: int
    prompt: str = Field(max_length=1000)
    # TEXT, CHOICE, DATE or GUARDIAN_DETAILS.
    question_type: str = Field(max_length=32)
    required: bool = Field(default=False)
    # Newline-separated choices for CHOICE questions.
    choices: str | None = Field(default=None, sa_type=sa.Text)


# The predicate of ux_form_assignments_open (and of its migration, 0004).
OPEN_ASSIGNMENT = "status = 'ASSIGNED'"


class FormAssignment(TableModel, table=True):
    __tablename__ = "form_assignments"
    __table_args__ = (
        sa.Index("ix_form_assignments_student", "student_id", "id"),
        sa.Index("ix_form_assignments_assignee", "assignee_account_id", "id"),
        # At most one open assignment of a form per student and audience:
        # assignForm inserts ON CONFLICT DO NOTHING against it, so two
        # concurrent assignments end with one row (ADR 0008).
        sa.Index(
            "ux_form_assignments_open",
            "form_id",
            "student_id",
            "assigned_to_student",
            unique=True,
            sqlite_where=sa.text(OPEN_ASSIGNMENT),
            postgresql_where=sa.text(OPEN_ASSIGNMENT),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    form_id: int = _fk("forms.id", index=True)
    student_id: int = _fk("students.id")
    # True: the student completes it; false: their guardians do.
    assigned_to_student: bool = Field(default=False)
    assignee_account_id: int | None = _fk("accounts.id", nullable=True)
    status: str = Field(default=FormAssignmentStatus.ASSIGNED, max_length=16)
    submitted_at: dt.datetime | None = _time()
    submitted_by_account_id: int | None = _fk("accounts.id", nullable=True)
    created_at: dt.datetime = _required_time()


class FormAnswer(TableModel, table=True):
    __tablename__ = "form_answers"

    id: int | None = Field(default=None, primary_key=True)
    district_id: int = _fk("districts.id", index=True)
    assignment_id: int = _fk("form_assignments.id", index=True)
    question_id: int = _fk("form_questions.id")
    value: str = Field(sa_type=sa.Text)


class TrustedDocument(TableModel, table=True):
    """A GraphQL document a client registered ahead of time (by its SHA-256).

    Mobile apps send the hash instead of the text; with trusted documents
    required, nothing else runs."""

    __tablename__ = "trusted_documents"

    sha256: str = Field(primary_key=True, max_length=64)
    document: str = Field(sa_type=sa.Text)
    client_name: str = Field(max_length=100)
    created_at: dt.datetime = _required_time()


class RateLimitWindow(TableModel, table=True):
    """Attempts per key in a fixed window, shared by every worker."""

    __tablename__ = "rate_limit_windows"

    bucket: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    window_start: int = Field(primary_key=True, sa_type=sa.BigInteger)
    attempts: int = Field(default=0)


metadata = SQLModel.metadata


# ----------------------------------------------------------------- Core tables

# Reads and writes are SQLAlchemy Core statements on these tables, not ORM
# queries: no identity map or unit of work on the request path, and hot
# statements built once with bind parameters (docs/architecture.md section 8).
# One name per table, imported where used (``from resolvers.tables import
# STUDENTS``); the model classes stay for the columns' definitions.
DISTRICTS: sa.Table = District.__table__
SCHOOLS: sa.Table = School.__table__
YEAR_GROUPS: sa.Table = YearGroup.__table__
ACADEMIC_SESSIONS: sa.Table = AcademicSession.__table__
SIS_SYNC_STATES: sa.Table = SisSyncState.__table__
STUDENTS: sa.Table = Student.__table__
GUARDIANS: sa.Table = Guardian.__table__
CONTACTS: sa.Table = StudentContact.__table__
STAFF: sa.Table = StaffMember.__table__
STAFF_SCHOOLS: sa.Table = StaffSchool.__table__
SECTIONS: sa.Table = Section.__table__
SECTION_TEACHERS: sa.Table = SectionTeacher.__table__
ENROLMENTS: sa.Table = SectionEnrolment.__table__
ACCOUNTS: sa.Table = Account.__table__
ACCOUNT_IDENTITIES: sa.Table = AccountIdentity.__table__
ROLE_GRANTS: sa.Table = RoleGrant.__table__
SESSIONS: sa.Table = Session.__table__
AUTH_HANDOFFS: sa.Table = AuthHandoff.__table__
PASSWORD_TOKENS: sa.Table = PasswordToken.__table__
GRANTS: sa.Table = StudentAccessGrant.__table__
ACCESS_CODES: sa.Table = AccessCode.__table__
CONNECTION_REQUESTS: sa.Table = ConnectionRequest.__table__
ACCESS_EVENTS: sa.Table = AccessEvent.__table__
OUTBOX: sa.Table = OutboxEmail.__table__
HOMEWORK: sa.Table = Homework.__table__
TIMETABLE_ENTRIES: sa.Table = TimetableEntry.__table__
FORMS: sa.Table = Form.__table__
FORM_QUESTIONS: sa.Table = FormQuestion.__table__
FORM_ASSIGNMENTS: sa.Table = FormAssignment.__table__
FORM_ANSWERS: sa.Table = FormAnswer.__table__
TRUSTED_DOCUMENTS: sa.Table = TrustedDocument.__table__
RATE_LIMIT_WINDOWS: sa.Table = RateLimitWindow.__table__
