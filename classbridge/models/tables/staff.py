"""Staff accounts and their login tokens."""

import enum
import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field, uuid_pk
from classbridge.models.fields import EMAIL_LENGTH, NAME_LENGTH


class StaffRole(enum.StrEnum):
    OWNER = "OWNER"
    """Runs the company: everything STAFF may do, plus extensions and staff accounts."""
    STAFF = "STAFF"
    """Front desk: schedule, customers, bookings, sign-in."""


class StaffStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    DEACTIVATED = "DEACTIVATED"


class StaffUser(SQLModel, table=True):
    """A person who works for one company."""

    __tablename__ = "staff_user"

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=EMAIL_LENGTH, unique=True)
    name: str = Field(max_length=NAME_LENGTH)
    role: StaffRole = Field(sa_type=enum_type(StaffRole))
    password_hash: str = Field(max_length=200)
    created_at: datetime = created_at_field()
    deactivated_at: datetime | None = timestamp_field()
    """Set by deactivateStaff: the account can no longer sign in, its tokens stop at once."""

    @property
    def status(self) -> StaffStatus:
        return StaffStatus.DEACTIVATED if self.deactivated_at else StaffStatus.ACTIVE


class StaffToken(SQLModel, table=True):
    """A login session; only the digest of the bearer token is kept."""

    __tablename__ = "staff_token"

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True, ondelete="CASCADE")
    token_digest: str = Field(max_length=64, unique=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = timestamp_field(nullable=False)
    revoked_at: datetime | None = timestamp_field()


class StaffInvitation(SQLModel, table=True):
    """An OWNER's invitation: accepting its single-use token creates the account."""

    __tablename__ = "staff_invitation"

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=EMAIL_LENGTH, index=True)
    name: str = Field(max_length=NAME_LENGTH)
    role: StaffRole = Field(sa_type=enum_type(StaffRole))
    invited_by: uuid.UUID | None = Field(
        default=None, foreign_key="staff_user.id", ondelete="SET NULL"
    )
    token_digest: str = Field(max_length=64, unique=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = timestamp_field(nullable=False)
    accepted_at: datetime | None = timestamp_field()
    revoked_at: datetime | None = timestamp_field()
    """Set when a newer invitation to the same address replaces this one."""


class StaffPasswordReset(SQLModel, table=True):
    """A single-use token, emailed on request, that sets a new password."""

    __tablename__ = "staff_password_reset"

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True, ondelete="CASCADE")
    token_digest: str = Field(max_length=64, unique=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = timestamp_field(nullable=False)
    used_at: datetime | None = timestamp_field()
