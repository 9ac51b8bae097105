"""Staff accounts over HTTP: invitations, roles, deactivation, passwords, brute force."""

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlmodel import col, select

from classbridge.graph.app import create_app
from classbridge.models import staff as staff_model
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.tables import (
    EmailMessage,
    StaffInvitation,
    StaffPasswordReset,
    StaffRole,
    StaffUser,
)
from classbridge.models.tokens import token_digest
from classbridge.settings import Settings
from tests.aggregators.smtp import smtp_server
from tests.graph.rows import diff, snapshot
from tests.jobs.processes import ClosedPort
from tests.studio import Studio, error_codes, gql

PASSWORD = "correct horse battery"
NEW_PASSWORD = "violet tigers pour tea"

INVITE = """
mutation($e: String!, $n: String!, $r: StaffRole!) {
  inviteStaff(email: $e, name: $n, role: $r) { id email name role expiresAt }
}
"""
ACCEPT = """
mutation($t: String!, $p: String!) {
  acceptInvitation(token: $t, password: $p) { token user { email role status } }
}
"""
MEMBERS = "{ staffMembers { id email name role status deactivatedAt } }"
ME = "{ me { email role } }"
UPDATE_ROLE = """
mutation($id: ID!, $r: StaffRole!) { updateStaffRole(id: $id, role: $r) { id role } }
"""
DEACTIVATE = "mutation($id: ID!) { deactivateStaff(id: $id) { id status deactivatedAt } }"
CHANGE = "mutation($c: String!, $n: String!) { changePassword(current: $c, new: $n) }"
REQUEST_RESET = "mutation($e: String!) { requestPasswordReset(email: $e) }"
RESET = "mutation($t: String!, $p: String!) { resetPassword(token: $t, password: $p) }"
LOGIN = """
mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token user { email } } }
"""

TOKEN = re.compile(r"\b(cb[ir]_[A-Za-z0-9_-]{20,})")


async def _member(database: Database, studio: Studio, role: StaffRole, email: str) -> StaffUser:
    async with database.transaction() as db:
        return await staff_model.create_staff_user(
            db=db,
            company_id=studio.company_id,
            user=StaffUserCreate(
                email=email, name=email.split("@")[0], password=PASSWORD, role=role
            ),
        )


async def _token(database: Database, user: StaffUser) -> str:
    async with database.transaction() as db:
        return await staff_model.issue_token(db=db, user=user, ttl_days=1)


async def _outbox_token(database: Database, to: str) -> str:
    """The token in the newest email to `to` (the outbox; SMTP delivery is tested below)."""
    async with database.read() as db:
        message = await db.scalar(
            select(EmailMessage)
            .where(EmailMessage.to_address == to)
            .order_by(col(EmailMessage.created_at).desc(), col(EmailMessage.id).desc())
        )
    assert message is not None, f"no email to {to}"
    found = TOKEN.search(message.body)
    assert found, message.body
    return found.group(1)


async def _status(client: httpx.AsyncClient, token: str) -> int:
    response = await client.post(
        "/graphql", json={"query": ME}, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


async def test_an_invitation_creates_the_account_once(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    start = utcnow()
    body = await gql(
        client, INVITE, {"e": "Desk@Loft.example", "n": "Desk", "r": "STAFF"}, token=studio.token
    )
    invitation = body["data"]["inviteStaff"]
    assert invitation["email"] == "desk@loft.example" and invitation["role"] == "STAFF"
    async with database.read() as db:
        row = await db.get(StaffInvitation, uuid.UUID(invitation["id"]))
    assert row is not None
    # Default CLASSBRIDGE_INVITE_TTL_HOURS: 72.
    assert start + timedelta(hours=72) <= row.expires_at <= utcnow() + timedelta(hours=72)
    token = await _outbox_token(database, "desk@loft.example")
    assert row.token_digest == token_digest(token)  # stored hashed only

    weak = await gql(client, ACCEPT, {"t": token, "p": "password"})
    assert error_codes(weak) == ["VALIDATION"]
    assert weak["errors"][0]["extensions"]["field"] == "password"

    accepted = await gql(client, ACCEPT, {"t": token, "p": NEW_PASSWORD})
    result = accepted["data"]["acceptInvitation"]
    assert result["user"] == {"email": "desk@loft.example", "role": "STAFF", "status": "ACTIVE"}
    me = await gql(client, ME, token=result["token"])
    assert me["data"]["me"] == {"email": "desk@loft.example", "role": "STAFF"}

    before = await snapshot(database)
    again = await gql(client, ACCEPT, {"t": token, "p": NEW_PASSWORD})
    assert error_codes(again) == ["INVALID_TOKEN"]
    assert again["errors"][0]["extensions"]["field"] == "token"
    assert await snapshot(database) == before

    members = (await gql(client, MEMBERS, token=studio.token))["data"]["staffMembers"]
    assert [(m["email"], m["role"], m["status"]) for m in members] == [
        ("desk@loft.example", "STAFF", "ACTIVE"),
        (studio.owner_email, "OWNER", "ACTIVE"),
    ]


async def test_expired_replaced_and_unknown_invitations_are_refused(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    variables = {"e": "late@loft.example", "n": "Late", "r": "STAFF"}
    await gql(client, INVITE, variables, token=studio.token)
    first = await _outbox_token(database, "late@loft.example")
    await gql(client, INVITE, variables, token=studio.token)  # replaces the first
    second = await _outbox_token(database, "late@loft.example")
    assert first != second
    replaced = await gql(client, ACCEPT, {"t": first, "p": NEW_PASSWORD})
    assert error_codes(replaced) == ["INVALID_TOKEN"]
    async with database.transaction() as db:
        await db.execute(update(StaffInvitation).values(expires_at=utcnow() - timedelta(seconds=1)))
    expired = await gql(client, ACCEPT, {"t": second, "p": NEW_PASSWORD})
    assert error_codes(expired) == ["INVALID_TOKEN"]
    unknown = await gql(client, ACCEPT, {"t": "cbi_nothing", "p": NEW_PASSWORD})
    assert error_codes(unknown) == ["INVALID_TOKEN"]
    async with database.read() as db:
        assert (
            await db.scalar(select(StaffUser).where(StaffUser.email == "late@loft.example"))
        ) is None
    existing = await gql(
        client, INVITE, {"e": studio.owner_email, "n": "Me", "r": "STAFF"}, token=studio.token
    )
    assert error_codes(existing) == ["CONFLICT"]
    assert existing["errors"][0]["extensions"]["field"] == "email"


async def test_the_last_active_owner_cannot_be_demoted_or_deactivated(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    members = (await gql(client, MEMBERS, token=studio.token))["data"]["staffMembers"]
    owner_id = members[0]["id"]
    before = await snapshot(database)
    for doc, variables in [
        (UPDATE_ROLE, {"id": owner_id, "r": "STAFF"}),
        (DEACTIVATE, {"id": owner_id}),
    ]:
        body = await gql(client, doc, variables, token=studio.token)
        assert error_codes(body) == ["LAST_OWNER"], body
    assert await snapshot(database) == before, diff(before, await snapshot(database))

    second = await _member(database, studio, StaffRole.STAFF, "second@loft.example")
    promoted = await gql(
        client, UPDATE_ROLE, {"id": str(second.id), "r": "OWNER"}, token=studio.token
    )
    assert promoted["data"]["updateStaffRole"]["role"] == "OWNER"
    demoted = await gql(client, UPDATE_ROLE, {"id": owner_id, "r": "STAFF"}, token=studio.token)
    assert demoted["data"]["updateStaffRole"]["role"] == "STAFF"
    # The role applies to the next request: the former owner's token is now STAFF's.
    refused = await gql(client, UPDATE_ROLE, {"id": owner_id, "r": "OWNER"}, token=studio.token)
    assert error_codes(refused) == ["FORBIDDEN"]


async def test_deactivation_stops_tokens_at_once_and_sign_in(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    desk = await _member(database, studio, StaffRole.STAFF, "desk@loft.example")
    desk_token = await _token(database, desk)
    assert await _status(client, desk_token) == 200
    body = await gql(client, DEACTIVATE, {"id": str(desk.id)}, token=studio.token)
    assert body["data"]["deactivateStaff"]["status"] == "DEACTIVATED"
    assert await _status(client, desk_token) == 401
    login = await gql(client, LOGIN, {"e": "desk@loft.example", "p": PASSWORD})
    assert error_codes(login) == ["INVALID_CREDENTIALS"]
    reset = await gql(client, REQUEST_RESET, {"e": "desk@loft.example"})
    assert reset["data"] == {"requestPasswordReset": True}
    async with database.read() as db:
        assert list(await db.scalars(select(StaffPasswordReset))) == []
    unknown = await gql(client, DEACTIVATE, {"id": str(uuid.uuid4())}, token=studio.token)
    assert error_codes(unknown) == ["NOT_FOUND"]


async def test_change_password_checks_the_current_one_and_revokes_the_others(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    desk = await _member(database, studio, StaffRole.STAFF, "desk@loft.example")
    this, other = await _token(database, desk), await _token(database, desk)
    wrong = await gql(client, CHANGE, {"c": "not my password", "n": NEW_PASSWORD}, token=this)
    assert error_codes(wrong) == ["INVALID_CREDENTIALS"]
    weak = await gql(client, CHANGE, {"c": PASSWORD, "n": "qwertyuiop"}, token=this)
    assert error_codes(weak) == ["VALIDATION"]
    assert weak["errors"][0]["extensions"]["field"] == "new"
    assert await _status(client, other) == 200
    done = await gql(client, CHANGE, {"c": PASSWORD, "n": NEW_PASSWORD}, token=this)
    assert done["data"] == {"changePassword": True}
    assert await _status(client, this) == 200
    assert await _status(client, other) == 401
    old = await gql(client, LOGIN, {"e": "desk@loft.example", "p": PASSWORD})
    assert error_codes(old) == ["INVALID_CREDENTIALS"]
    new = await gql(client, LOGIN, {"e": "desk@loft.example", "p": NEW_PASSWORD})
    assert new["data"]["login"]["user"]["email"] == "desk@loft.example"


async def test_password_reset_answers_the_same_and_works_once(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    old_token = await _token(database, await _owner(database, studio))
    known = await gql(client, REQUEST_RESET, {"e": studio.owner_email.upper()})
    unknown = await gql(client, REQUEST_RESET, {"e": "nobody@loft.example"})
    assert known == unknown == {"data": {"requestPasswordReset": True}}
    async with database.read() as db:
        recipients = list(await db.scalars(select(EmailMessage.to_address)))
    assert recipients == [studio.owner_email]
    token = await _outbox_token(database, studio.owner_email)
    weak = await gql(client, RESET, {"t": token, "p": "password1"})
    assert error_codes(weak) == ["VALIDATION"]
    done = await gql(client, RESET, {"t": token, "p": NEW_PASSWORD})
    assert done["data"] == {"resetPassword": True}
    assert await _status(client, old_token) == 401
    assert await _status(client, studio.token) == 401
    again = await gql(client, RESET, {"t": token, "p": "another fine password"})
    assert error_codes(again) == ["INVALID_TOKEN"]
    login = await gql(client, LOGIN, {"e": studio.owner_email, "p": NEW_PASSWORD})
    assert login["data"]["login"]["user"]["email"] == studio.owner_email


async def _owner(database: Database, studio: Studio) -> StaffUser:
    async with database.read() as db:
        owner = await db.scalar(select(StaffUser).where(StaffUser.email == studio.owner_email))
    assert owner is not None
    return owner


@asynccontextmanager
async def _app(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4711))
        async with httpx.AsyncClient(transport=transport, base_url="http://cb.test") as client:
            yield client


async def test_repeated_failed_logins_are_refused_per_account_and_per_address(
    database: Database, database_url: str, studio: Studio
) -> None:
    settings = Settings(
        database_url=database_url,
        login_rate_limit_account="3/15minutes",
        login_rate_limit_address="5/15minutes",
    )
    async with _app(settings, database) as client:
        for _ in range(3):
            wrong = await gql(client, LOGIN, {"e": studio.owner_email, "p": "wrong guess!"})
            assert error_codes(wrong) == ["INVALID_CREDENTIALS"]
        # The account's budget is spent: even the right password waits for the window.
        limited = await gql(client, LOGIN, {"e": studio.owner_email, "p": PASSWORD})
        assert error_codes(limited) == ["RATE_LIMITED"]
        assert "try again in" in limited["errors"][0]["message"]
        # Other accounts from the same address: two more failures spend the address's 5.
        for n in range(2):
            wrong = await gql(client, LOGIN, {"e": f"guess{n}@loft.example", "p": "wrong guess!"})
            assert error_codes(wrong) == ["INVALID_CREDENTIALS"]
        other = await gql(client, LOGIN, {"e": "guess9@loft.example", "p": "wrong guess!"})
        assert error_codes(other) == ["RATE_LIMITED"]


async def test_invitation_and_reset_emails_arrive_over_smtp(
    database: Database, database_url: str, studio: Studio
) -> None:
    closed = ClosedPort()
    settings = Settings(
        database_url=database_url,
        smtp_url=f"smtp://127.0.0.1:{closed.port}",
        email_sweep_seconds=60,  # only the after-commit wake-up can deliver in time
        app_url="https://studio.example/app/",
    )
    with smtp_server(closed.release()) as inbox:
        async with _app(settings, database) as client:
            invited = await gql(
                client,
                INVITE,
                {"e": "new@loft.example", "n": "Nia", "r": "OWNER"},
                token=studio.token,
            )
            assert "errors" not in invited, invited
            (invitation,) = await inbox.wait_for(1)
            reset = await gql(client, REQUEST_RESET, {"e": studio.owner_email})
            assert reset["data"] == {"requestPasswordReset": True}
            messages = await inbox.wait_for(2)
            invite_body = invitation.get_payload(decode=True).decode()
            token = TOKEN.search(invite_body)
            assert token is not None
            assert (
                f"https://studio.example/app/accept-invitation#token={token.group(1)}"
                in invite_body
            )
            accepted = await gql(client, ACCEPT, {"t": token.group(1), "p": NEW_PASSWORD})
            assert accepted["data"]["acceptInvitation"]["user"]["role"] == "OWNER"
            reset_body = messages[1].get_payload(decode=True).decode()
            reset_token = TOKEN.search(reset_body)
            assert reset_token is not None and reset_token.group(1).startswith("cbr_")
            assert "reset-password#token=" in reset_body
            done = await gql(client, RESET, {"t": reset_token.group(1), "p": NEW_PASSWORD})
            assert done["data"] == {"resetPassword": True}
    assert invitation["To"] == "new@loft.example"
    assert "invited" in invitation["Subject"]
    assert messages[1]["To"] == studio.owner_email
    assert "Reset" in messages[1]["Subject"]
