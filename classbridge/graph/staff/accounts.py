"""Staff accounts in the staff API: invitations, roles, deactivation, passwords.

Parse, call models/staff_accounts.py, format; who may call what is declared once with
each field's permission class (docs/staff-roles.md)."""

from datetime import timedelta

import strawberry

from classbridge.graph.context import Info
from classbridge.graph.ids import parse_id
from classbridge.graph.inputs import arguments_to_domain
from classbridge.graph.staff.permissions import Anyone, AnyStaff, OwnerOnly
from classbridge.graph.staff.types import LoginResult, StaffInvitation, StaffRole, StaffUser
from classbridge.models import staff_accounts
from classbridge.models.inputs.staff import (
    InvitationAcceptance,
    PasswordChange,
    PasswordReset,
    StaffInvite,
)


@strawberry.type
class StaffAccountQuery:
    @strawberry.field(
        description="The company's staff accounts with role and status.",
        permission_classes=[AnyStaff],
    )
    async def staff_members(self, info: Info) -> list[StaffUser]:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            rows = await staff_accounts.list_staff(db=db, company_id=actor.company_id)
        return [StaffUser(row=r) for r in rows]


@strawberry.type
class StaffAccountMutation:
    @strawberry.mutation(
        description="Invite someone: emails a single-use token (valid "
        "CLASSBRIDGE_INVITE_TTL_HOURS, default 72) that acceptInvitation takes. A newer "
        "invitation to the same address replaces the pending one.",
        permission_classes=[OwnerOnly],
    )
    async def invite_staff(
        self, info: Info, email: str, name: str, role: StaffRole
    ) -> StaffInvitation:
        actor = info.context.require_staff()
        invite = arguments_to_domain(StaffInvite, {"email": email, "name": name, "role": role})
        settings = info.context.settings
        async with info.context.transaction() as db:
            row = await staff_accounts.invite_staff(
                db=db,
                actor=actor,
                invite=invite,
                ttl=timedelta(hours=settings.invite_ttl_hours),
                app_url=settings.app_url,
            )
        return StaffInvitation(row=row)

    @strawberry.mutation(
        description="Accept an invitation with a password: creates the account and "
        "returns a bearer token.",
        permission_classes=[Anyone],
    )
    async def accept_invitation(self, info: Info, token: str, password: str) -> LoginResult:
        acceptance = arguments_to_domain(
            InvitationAcceptance, {"token": token, "password": password}
        )
        async with info.context.transaction() as db:
            user, bearer = await staff_accounts.accept_invitation(
                db=db, acceptance=acceptance, token_ttl_days=info.context.settings.token_ttl_days
            )
        return LoginResult(token=bearer, user=StaffUser(row=user))

    @strawberry.mutation(
        description="Change a member's role (the last active OWNER cannot be demoted).",
        permission_classes=[OwnerOnly],
    )
    async def update_staff_role(self, info: Info, id: strawberry.ID, role: StaffRole) -> StaffUser:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            row = await staff_accounts.update_role(
                db=db, actor=actor, user_id=parse_id(id), role=role
            )
        return StaffUser(row=row)

    @strawberry.mutation(
        description="Deactivate an account: it cannot sign in and its tokens stop at once "
        "(the last active OWNER cannot be deactivated).",
        permission_classes=[OwnerOnly],
    )
    async def deactivate_staff(self, info: Info, id: strawberry.ID) -> StaffUser:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            row = await staff_accounts.deactivate(db=db, actor=actor, user_id=parse_id(id))
        return StaffUser(row=row)

    @strawberry.mutation(
        description="Change your own password; your other tokens are revoked (this one stays).",
        permission_classes=[AnyStaff],
    )
    async def change_password(self, info: Info, current: str, new: str) -> bool:
        actor = info.context.require_staff()
        change = arguments_to_domain(PasswordChange, {"current": current, "new": new})
        async with info.context.transaction() as db:
            await staff_accounts.change_password(
                db=db, actor=actor, change=change, keep_token=info.context.token
            )
        return True

    @strawberry.mutation(
        description="Email a single-use password-reset token to this address if it has "
        "an active account. Always answers true: whether it has one is not told.",
        permission_classes=[Anyone],
    )
    async def request_password_reset(self, info: Info, email: str) -> bool:
        limit = info.context.login_limit
        if limit is not None:
            await limit.reset_request(email=email, address=info.context.client_address())
        settings = info.context.settings
        async with info.context.transaction() as db:
            await staff_accounts.request_password_reset(
                db=db,
                email=email,
                ttl=timedelta(minutes=settings.password_reset_ttl_minutes),
                app_url=settings.app_url,
            )
        return True

    @strawberry.mutation(
        description="Set a new password with a reset token; every token of the account "
        "is revoked (sign in again).",
        permission_classes=[Anyone],
    )
    async def reset_password(self, info: Info, token: str, password: str) -> bool:
        reset = arguments_to_domain(PasswordReset, {"token": token, "password": password})
        async with info.context.transaction() as db:
            await staff_accounts.reset_password(db=db, reset=reset)
        return True
