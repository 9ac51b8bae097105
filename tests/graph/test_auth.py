"""Staff auth over HTTP: login, bearer tokens, logout, 401s, hashing, roles."""

from datetime import timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy import update

from classbridge.models import staff as staff_model
from classbridge.models import tables
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.tables import StaffRole, StaffToken
from tests.graph.rows import snapshot
from tests.studio import Studio, error_codes, gql

PASSWORD = "correct horse battery"

LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { __typename token user { email role } }
}
"""
LOGOUT = "mutation { logout }"
ME = "query { me { __typename email role } }"
CREATE_VENUE = """
mutation { createVenue(input: {name: "Annex", timezone: "Europe/Berlin"}) { __typename id } }
"""


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _login(client: httpx.AsyncClient, email: str, password: str) -> dict:
    return await gql(client, LOGIN, {"email": email, "password": password})


async def test_login_with_the_right_password_gives_a_working_token(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    body = await _login(client, studio.owner_email.upper(), PASSWORD)
    login = body["data"]["login"]
    assert login["__typename"] == "LoginResult"
    assert login["user"] == {"email": studio.owner_email, "role": "OWNER"}
    me = await gql(client, ME, token=login["token"])
    assert me["data"]["me"] == {
        "__typename": "StaffUser",
        "email": studio.owner_email,
        "role": "OWNER",
    }


async def test_login_with_a_wrong_password_or_unknown_email_is_refused(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    for email, password in [(studio.owner_email, "wrong password"), ("nobody@x.example", PASSWORD)]:
        body = await _login(client, email, password)
        assert body["data"] is None
        assert error_codes(body) == ["INVALID_CREDENTIALS"]
        assert body["errors"][0]["message"] == "email or password is wrong"


async def test_logout_revokes_the_token(client: httpx.AsyncClient, studio: Studio) -> None:
    token = (await _login(client, studio.owner_email, PASSWORD))["data"]["login"]["token"]
    assert (await gql(client, LOGOUT, token=token))["data"] == {"logout": True}
    response = await client.post("/graphql", json={"query": ME}, headers=_bearer(token))
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The studio's other token still works: logout revokes only the one it was sent with.
    assert (await gql(client, ME, token=studio.token))["data"]["me"]["role"] == "OWNER"


async def test_garbage_malformed_and_expired_tokens_get_401_with_a_code(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    async with database.transaction() as db:
        await db.execute(update(StaffToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    for header in [
        "Bearer cbs_garbage",
        "Bearer ",
        "Basic b3duZXI6cGFzcw==",
        "Bearer " + "x" * 5000,
        f"Bearer {studio.token}",  # expired above
    ]:
        response = await client.post(
            "/graphql", json={"query": ME}, headers={"Authorization": header}
        )
        assert response.status_code == 401, header
        assert response.headers["www-authenticate"] == "Bearer"
        body = response.json()
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "Traceback" not in response.text
        # Looked up in a read session of the request; refused, the request returns it.
        assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_protected_field_without_a_token_is_unauthenticated(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    for query in [ME, "{ sessions { edges { cursor } } }", CREATE_VENUE, LOGOUT]:
        body = await gql(client, query)
        assert body["data"] is None
        assert error_codes(body) == ["UNAUTHENTICATED"], query


async def test_tokens_and_passwords_are_stored_hashed(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    token = (await _login(client, studio.owner_email, PASSWORD))["data"]["login"]["token"]
    dump = repr(await snapshot(database))
    for secret in (token, studio.token, PASSWORD):
        assert secret not in dump
    async with database.read() as db:
        hashes = list(await db.scalars(sa.select(tables.StaffUser.password_hash)))
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


async def test_staff_role_cannot_create_a_venue(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    async with database.transaction() as db:
        user = await staff_model.create_staff_user(
            db=db,
            company_id=studio.company_id,
            user=StaffUserCreate(
                email="desk@example.com", name="Front Desk", password=PASSWORD, role=StaffRole.STAFF
            ),
        )
        token = await staff_model.issue_token(db=db, user=user, ttl_days=1)
    before = await snapshot(database)
    body = await gql(client, CREATE_VENUE, token=token)
    assert body["data"] is None
    assert error_codes(body) == ["FORBIDDEN"]
    assert await snapshot(database) == before
    owner = await gql(client, CREATE_VENUE, token=studio.token)
    assert owner["data"]["createVenue"]["__typename"] == "Venue"
