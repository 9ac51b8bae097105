"""Staff accounts over their lifetime: invitations, roles, deactivation, passwords.

Who may call what is declared on the resolvers (graph/staff/permissions.py); these
operations enforce what holds whoever calls them: the company scope, single-use expiring
tokens (stored as SHA-256 digests, like bearer tokens), the password policy of
`fields.Password`, and that a company always keeps an active OWNER. Emails go through the
email outbox, in the same transaction.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from classbridge.models import email as email_model
from classbridge.models import staff as staff_model
from classbridge.models.base import utcnow
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.inputs.staff import (
    InvitationAcceptance,
    PasswordChange,
    PasswordReset,
    StaffInvite,
    StaffUserCreate,
)
from classbridge.models.passwords import hash_password, verify_password
from classbridge.models.staff import StaffActor
from classbridge.models.tables import Company
from classbridge.models.tables.staff import (
    StaffInvitation,
    StaffPasswordReset,
    StaffRole,
    StaffUser,
)
from classbridge.models.tokens import new_token, token_digest

INVITATION_PREFIX = "cbi"
RESET_PREFIX = "cbr"


async def _lock_company(db: AsyncSession, company_id: uuid.UUID) -> Company:
    # Role changes and deactivations of one company are serialized on its row (PostgreSQL;
    # SQLite's write transactions are exclusive anyway): two OWNERs demoting each other at
    # once cannot both succeed and leave nobody in charge.
    company = await db.scalar(select(Company).where(Company.id == company_id).with_for_update())
    if company is None:
        raise not_found("company")
    return company


async def _member(db: AsyncSession, company_id: uuid.UUID, user_id: uuid.UUID) -> StaffUser:
    user = await db.get(StaffUser, user_id)
    if user is None or user.company_id != company_id:
        raise not_found("staff member")
    return user


async def _keep_an_owner(db: AsyncSession, user: StaffUser) -> None:
    """Refuse a change that takes `user` out of the company's active OWNERs when they are
    the last one."""
    if user.role is not StaffRole.OWNER or user.deactivated_at is not None:
        return
    others = await db.scalar(
        select(func.count())
        .select_from(StaffUser)
        .where(
            StaffUser.company_id == user.company_id,
            StaffUser.role == StaffRole.OWNER,
            col(StaffUser.deactivated_at).is_(None),
            StaffUser.id != user.id,
        )
    )
    if not others:
        raise DomainError(
            ErrorCode.LAST_OWNER, "the company's last active OWNER cannot be demoted or deactivated"
        )


def _link(app_url: str | None, page: str, token: str) -> str:
    # The token goes in the fragment, which browsers never send to a server: it stays out
    # of access logs and Referer headers.
    return f"{app_url.rstrip('/')}/{page}#token={token}\n" if app_url else ""


def _until(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


async def list_staff(*, db: AsyncSession, company_id: uuid.UUID) -> list[StaffUser]:
    rows = await db.scalars(
        select(StaffUser)
        .where(StaffUser.company_id == company_id)
        .order_by(col(StaffUser.name), col(StaffUser.email))
    )
    return list(rows)


async def invite_staff(
    *,
    db: AsyncSession,
    actor: StaffActor,
    invite: StaffInvite,
    ttl: timedelta,
    app_url: str | None = None,
) -> StaffInvitation:
    """Invite someone to the actor's company: a single-use token, emailed, valid for `ttl`.
    A newer invitation to the same address replaces the pending one."""
    company = await _lock_company(db, actor.company_id)
    member = await db.scalar(
        select(StaffUser.id).where(
            StaffUser.company_id == company.id, StaffUser.email == invite.email
        )
    )
    if member is not None:
        raise invite.refuse("email", f"{invite.email} already has an account", ErrorCode.CONFLICT)
    now = utcnow()
    pending = await db.scalars(
        select(StaffInvitation).where(
            StaffInvitation.company_id == company.id,
            StaffInvitation.email == invite.email,
            col(StaffInvitation.accepted_at).is_(None),
            col(StaffInvitation.revoked_at).is_(None),
        )
    )
    for old in pending:
        old.revoked_at = now
    token = new_token(INVITATION_PREFIX)
    invitation = StaffInvitation(
        company_id=company.id,
        email=invite.email,
        name=invite.name,
        role=invite.role,
        invited_by=actor.user_id,
        token_digest=token_digest(token),
        expires_at=now + ttl,
    )
    db.add(invitation)
    inviter = await db.get(StaffUser, actor.user_id)
    email_model.queue_email(
        db=db,
        to=[invite.email],
        subject=f"You are invited to {company.name} on classbridge",
        body=(
            f"Hello {invite.name},\n\n"
            f"{inviter.name if inviter else 'The owner'} invited you to {company.name} "
            f"as {invite.role.value}.\n\n"
            f"{_link(app_url, 'accept-invitation', token)}"
            f"Your invitation token (single use, valid until {_until(invitation.expires_at)}):"
            f"\n\n    {token}\n\n"
            "Accept it by choosing a password (acceptInvitation in the staff API).\n"
            "If you did not expect this email, ignore it.\n"
        ),
        company_id=company.id,
    )
    await db.flush()
    return invitation


async def accept_invitation(
    *, db: AsyncSession, acceptance: InvitationAcceptance, token_ttl_days: int
) -> tuple[StaffUser, str]:
    """Create the invited account with the chosen password; returns it and a bearer token."""
    invitation = await db.scalar(
        select(StaffInvitation)
        .where(StaffInvitation.token_digest == token_digest(acceptance.token))
        .with_for_update()
    )
    if (
        invitation is None
        or invitation.accepted_at is not None
        or invitation.revoked_at is not None
        or invitation.expires_at <= utcnow()
    ):
        raise acceptance.refuse(
            "token", "the invitation is unknown, used, replaced or expired", ErrorCode.INVALID_TOKEN
        )
    user = await staff_model.create_staff_user(
        db=db,
        company_id=invitation.company_id,
        user=StaffUserCreate(
            email=invitation.email,
            name=invitation.name,
            password=acceptance.password,
            role=invitation.role,
        ),
    )
    invitation.accepted_at = utcnow()
    token = await staff_model.issue_token(db=db, user=user, ttl_days=token_ttl_days)
    return user, token


async def update_role(
    *, db: AsyncSession, actor: StaffActor, user_id: uuid.UUID, role: StaffRole
) -> StaffUser:
    """Change a member's role; it applies to their next request (tokens stay valid)."""
    await _lock_company(db, actor.company_id)
    user = await _member(db, actor.company_id, user_id)
    if user.role is role:
        return user
    if role is not StaffRole.OWNER:
        await _keep_an_owner(db, user)
    user.role = role
    await db.flush()
    return user


async def deactivate(*, db: AsyncSession, actor: StaffActor, user_id: uuid.UUID) -> StaffUser:
    """The member can no longer sign in; their tokens stop working at once."""
    await _lock_company(db, actor.company_id)
    user = await _member(db, actor.company_id, user_id)
    if user.deactivated_at is not None:
        return user
    await _keep_an_owner(db, user)
    now = utcnow()
    user.deactivated_at = now
    await staff_model.revoke_tokens(db=db, user_id=user.id)
    await _spend_resets(db, user.id, now)
    await db.flush()
    return user


async def change_password(
    *, db: AsyncSession, actor: StaffActor, change: PasswordChange, keep_token: str | None
) -> StaffUser:
    """Set a new password after checking the current one; every other token is revoked."""
    user = await _member(db, actor.company_id, actor.user_id)
    if not await verify_password(user.password_hash, change.current):
        raise change.refuse(
            "current", "the current password is wrong", ErrorCode.INVALID_CREDENTIALS
        )
    user.password_hash = await hash_password(change.new)
    await staff_model.revoke_tokens(db=db, user_id=user.id, keep=keep_token)
    await db.flush()
    return user


async def request_password_reset(
    *, db: AsyncSession, email: str, ttl: timedelta, app_url: str | None = None
) -> None:
    """Email a single-use reset token to an active account with this address. Whether one
    exists is not revealed: the caller answers the same either way."""
    user = await db.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    if user is None or user.deactivated_at is not None:
        return
    now = utcnow()
    await _spend_resets(db, user.id, now)  # only the newest link works
    token = new_token(RESET_PREFIX)
    reset = StaffPasswordReset(
        user_id=user.id, token_digest=token_digest(token), expires_at=now + ttl
    )
    db.add(reset)
    email_model.queue_email(
        db=db,
        to=[user.email],
        subject="Reset your classbridge password",
        body=(
            f"Hello {user.name},\n\n"
            "someone (hopefully you) asked to reset your classbridge password.\n\n"
            f"{_link(app_url, 'reset-password', token)}"
            f"Your reset token (single use, valid until {_until(reset.expires_at)}):\n\n"
            f"    {token}\n\n"
            "Choose a new password with it (resetPassword in the staff API). Your other "
            "sessions end when you do.\nIf you did not ask for this, ignore this email: "
            "your password stays as it is.\n"
        ),
        company_id=user.company_id,
    )
    await db.flush()


async def reset_password(*, db: AsyncSession, reset: PasswordReset) -> StaffUser:
    """Set a new password with an emailed token; every token of the account is revoked."""
    row = await db.scalar(
        select(StaffPasswordReset)
        .where(StaffPasswordReset.token_digest == token_digest(reset.token))
        .with_for_update()
    )
    now = utcnow()
    user = await db.get(StaffUser, row.user_id) if row is not None else None
    if (
        row is None
        or user is None
        or row.used_at is not None
        or row.expires_at <= now
        or user.deactivated_at is not None
    ):
        raise reset.refuse(
            "token", "the reset token is unknown, used or expired", ErrorCode.INVALID_TOKEN
        )
    user.password_hash = await hash_password(reset.password)
    await _spend_resets(db, user.id, now)
    await staff_model.revoke_tokens(db=db, user_id=user.id)
    await db.flush()
    return user


async def _spend_resets(db: AsyncSession, user_id: uuid.UUID, now: datetime) -> None:
    rows = await db.scalars(
        select(StaffPasswordReset).where(
            StaffPasswordReset.user_id == user_id, col(StaffPasswordReset.used_at).is_(None)
        )
    )
    for row in rows:
        row.used_at = now
