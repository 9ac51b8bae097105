"""Staff accounts, their bearer tokens, and who is acting (the Actor)."""

import asyncio
import enum
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field, utcnow, uuid_pk
from classbridge.models.errors import DomainError, ErrorCode, invalid
from classbridge.models.tokens import new_token, token_digest
from classbridge.models.validation import clean_email, clean_text

_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown email as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("classbridge-dummy-password")

MIN_PASSWORD_LENGTH = 8


class StaffRole(enum.StrEnum):
    OWNER = "OWNER"
    """Runs the company: everything STAFF may do, plus extensions and staff accounts."""
    STAFF = "STAFF"
    """Front desk: schedule, customers, bookings, sign-in."""


class StaffUser(SQLModel, table=True):
    """A person who works for one company."""

    __tablename__ = "staff_user"

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    role: StaffRole = Field(sa_type=enum_type(StaffRole))
    password_hash: str = Field(max_length=200)
    created_at: datetime = created_at_field()


class StaffToken(SQLModel, table=True):
    """A login session; only the digest of the bearer token is kept."""

    __tablename__ = "staff_token"

    id: uuid.UUID = uuid_pk()
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True, ondelete="CASCADE")
    token_digest: str = Field(max_length=64, unique=True)
    created_at: datetime = created_at_field()
    expires_at: datetime = timestamp_field(nullable=False)
    revoked_at: datetime | None = timestamp_field()


@dataclass(frozen=True)
class StaffActor:
    """A signed-in staff member: every query and change is scoped to `company_id`."""

    user_id: uuid.UUID
    company_id: uuid.UUID
    role: StaffRole

    def require_owner(self) -> None:
        if self.role is not StaffRole.OWNER:
            raise DomainError(ErrorCode.FORBIDDEN, "only the company's owner may do this")


async def create_staff_user(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    email: str,
    name: str,
    password: str,
    role: StaffRole,
) -> StaffUser:
    """Create a staff account with an argon2-hashed password."""
    clean = clean_email(email)
    if clean is None:
        raise invalid("email is required", field="email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise invalid(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if await db.scalar(select(StaffUser.id).where(StaffUser.email == clean)) is not None:
        raise DomainError(ErrorCode.CONFLICT, f"a staff account for {clean} exists", field="email")
    user = StaffUser(
        company_id=company_id,
        email=clean,
        name=clean_text(name, field="name", max_length=200),
        role=role,
        password_hash=await asyncio.to_thread(_hasher.hash, password),
    )
    db.add(user)
    await db.flush()
    return user


async def issue_token(*, db: AsyncSession, user: StaffUser, ttl_days: int) -> str:
    """A new bearer token for `user`; the plain token is returned once and never stored."""
    token = new_token("cbs")
    db.add(
        StaffToken(
            user_id=user.id,
            token_digest=token_digest(token),
            expires_at=utcnow() + timedelta(days=ttl_days),
        )
    )
    await db.flush()
    return token


async def login(*, db: AsyncSession, email: str, password: str, ttl_days: int) -> str:
    """Check email and password; return a new bearer token."""
    user = await db.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    try:
        # argon2 is deliberately slow (tens of ms): off the event loop, other requests go on.
        await asyncio.to_thread(
            _hasher.verify, user.password_hash if user else _DUMMY_HASH, password
        )
    except (VerificationError, InvalidHashError):
        user = None
    if user is None:
        raise DomainError(ErrorCode.INVALID_CREDENTIALS, "email or password is wrong")
    return await issue_token(db=db, user=user, ttl_days=ttl_days)


async def authenticate(*, db: AsyncSession, token: str) -> StaffActor | None:
    """The actor behind a bearer token, or None when it is unknown, expired or revoked."""
    row = (
        await db.execute(
            select(StaffToken, StaffUser)
            .join(StaffUser, StaffUser.id == StaffToken.user_id)
            .where(StaffToken.token_digest == token_digest(token))
        )
    ).first()
    if row is None:
        return None
    tok, user = row
    if tok.revoked_at is not None or tok.expires_at <= utcnow():
        return None
    return StaffActor(user_id=user.id, company_id=user.company_id, role=user.role)


async def active_tokens(*, db: AsyncSession, tokens: Collection[str]) -> set[str]:
    """Which of these bearer tokens still authenticate (not revoked, not expired); one
    query, for checking many live connections at once."""
    by_digest = {token_digest(t): t for t in tokens}
    if not by_digest:
        return set()
    rows = await db.scalars(
        select(StaffToken.token_digest).where(
            StaffToken.token_digest.in_(list(by_digest)),  # type: ignore[attr-defined]
            StaffToken.revoked_at.is_(None),  # type: ignore[union-attr]
            StaffToken.expires_at > utcnow(),
        )
    )
    return {by_digest[digest] for digest in rows}


async def logout(*, db: AsyncSession, token: str) -> bool:
    """Revoke a token; revoking twice is harmless."""
    tok = await db.scalar(select(StaffToken).where(StaffToken.token_digest == token_digest(token)))
    if tok is None:
        return False
    if tok.revoked_at is None:
        tok.revoked_at = utcnow()
    await db.flush()
    return True
