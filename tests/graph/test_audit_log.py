"""The audit log: every change by staff or an aggregator, in the same transaction, without
secrets; `auditLog` for OWNERs, filtered and paginated."""

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlmodel import select

from classbridge.models import audit as audit_model
from classbridge.models import customer as customer_model
from classbridge.models import staff as staff_model
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.customer import CustomerUpdate
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.tables import Aggregator, AuditActorKind, AuditEntry, StaffRole, StaffUser
from tests.aggregators.partner import connect, make_partner, member, pgql
from tests.studio import Studio, error_codes, gql

LOG = """
query($f: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $f, first: $first, after: $after) {
    edges { cursor node {
      id at transactionId actorKind actorId actorLabel entityType entityId action changes
    } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
UPDATE_CUSTOMER = """
mutation($id: ID!, $input: CustomerInput!) { updateCustomer(id: $id, input: $input) { id } }
"""
BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id }
}
"""
CANCEL_SESSION = 'mutation($id: ID!) { cancelSession(id: $id, reason: "rain") { id } }'
CHANGE = "mutation($c: String!, $n: String!) { changePassword(current: $c, new: $n) }"
MAKE = """
mutation($sessionId: ID!, $user: UserInput!) {
  makeReservation(sessionId: $sessionId, user: $user) { id }
}
"""


async def _log(
    client: httpx.AsyncClient, studio: Studio, f: dict[str, Any] | None = None, **kw: Any
) -> list[dict[str, Any]]:
    body = await gql(client, LOG, {"f": f, **kw}, token=studio.token)
    assert "errors" not in body, body
    return [e["node"] for e in body["data"]["auditLog"]["edges"]]


async def _owner_id(studio: Studio) -> str:
    async with studio.database.read() as db:
        owner = await db.scalar(select(StaffUser).where(StaffUser.email == studio.owner_email))
    assert owner is not None
    return str(owner.id)


async def test_a_staff_change_records_who_when_and_the_changed_fields(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    before = utcnow()
    body = await gql(
        client,
        UPDATE_CUSTOMER,
        {"id": str(studio.customer_id), "input": {"lastName": "Byron", "email": "ada@x.example"}},
        token=studio.token,
    )
    assert "errors" not in body, body
    [entry] = await _log(client, studio)
    assert entry["actorKind"] == "STAFF"
    assert entry["actorId"] == await _owner_id(studio)
    assert entry["actorLabel"] == studio.owner_email
    assert (entry["entityType"], entry["entityId"], entry["action"]) == (
        "customer",
        str(studio.customer_id),
        "UPDATE",
    )
    # Only the changed fields; bookkeeping columns (updated_at) are left out.
    assert entry["changes"] == {
        "last_name": {"before": "Lovelace", "after": "Byron"},
        "email": {"before": None, "after": "ada@x.example"},
    }
    assert before.isoformat() <= entry["at"]


async def test_a_refused_change_records_nothing(client: httpx.AsyncClient, studio: Studio) -> None:
    body = await gql(
        client,
        UPDATE_CUSTOMER,
        {"id": str(studio.customer_id), "input": {"lastName": "x" * 500}},
        token=studio.token,
    )
    assert error_codes(body) == ["VALIDATION"]
    assert await _log(client, studio) == []


async def test_bookings_and_a_session_cancelled_with_them_are_recorded(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = str(await studio.session())
    booked = await gql(
        client,
        BOOK,
        {"s": session_id, "c": str(studio.customer_id), "p": str(studio.product_id)},
        token=studio.token,
    )
    booking_id = booked["data"]["bookCustomer"]["id"]
    [created] = await _log(client, studio, {"entityType": "booking"})
    assert created["action"] == "CREATE" and created["entityId"] == booking_id
    assert created["changes"]["status"] == {"after": "BOOKED"}
    assert created["changes"]["customer_id"] == {"after": str(studio.customer_id)}

    await gql(client, CANCEL_SESSION, {"id": session_id}, token=studio.token)
    # The bookings are cancelled by one bulk UPDATE; it is recorded all the same.
    entries = await _log(client, studio, {"entityId": booking_id})
    assert [e["action"] for e in entries] == ["UPDATE", "CREATE"]  # newest first
    assert entries[0]["changes"]["status"] == {"before": "BOOKED", "after": "CANCELLED"}
    [session] = await _log(client, studio, {"entityType": "class_session", "entityId": session_id})
    assert session["changes"]["cancellation_reason"] == {"before": None, "after": "rain"}
    assert entries[0]["transactionId"] == session["transactionId"]


async def test_an_aggregators_reservation_is_recorded_as_the_aggregator(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    session_id = str(await studio.session())
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    made = await pgql(client, partner, MAKE, {"sessionId": session_id, "user": member(1)})
    assert "errors" not in made, made
    entries = await _log(client, studio, {"entityType": "booking"})
    [booking] = entries
    assert booking["actorKind"] == "AGGREGATOR"
    assert booking["actorLabel"] == Aggregator.EGYM_WELLPASS.display_name
    customers = await _log(client, studio, {"entityType": "customer"})
    assert [c["action"] for c in customers] == ["CREATE"]  # the member's new profile
    assert customers[0]["actorId"] == booking["actorId"]


async def test_secrets_never_reach_the_log(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    new = "violet tigers pour tea"
    done = await gql(client, CHANGE, {"c": "correct horse battery", "n": new}, token=studio.token)
    assert done["data"] == {"changePassword": True}
    invited = await gql(
        client,
        'mutation { inviteStaff(email: "d@x.example", name: "D", role: STAFF) { id } }',
        token=studio.token,
    )
    assert "errors" not in invited
    entries = await _log(client, studio)
    by_type = {e["entityType"]: e for e in entries}
    assert by_type["staff_user"]["changes"] == {
        "password_hash": {"before": "[secret]", "after": "[secret]"}
    }
    assert by_type["staff_invitation"]["changes"]["token_digest"] == {"after": "[secret]"}
    async with database.read() as db:
        owner = await db.scalar(select(StaffUser).where(StaffUser.email == studio.owner_email))
        assert owner is not None
        stored = [e.changes for e in await db.scalars(select(AuditEntry))]
    text = repr(stored)
    assert owner.password_hash not in text and new not in text
    assert "staff_token" not in {e["entityType"] for e in entries}  # bookkeeping


async def test_filters_by_actor_and_time_and_pages(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    async with database.transaction() as db:
        desk = await staff_model.create_staff_user(
            db=db,
            company_id=studio.company_id,
            user=StaffUserCreate(
                email="desk@x.example",
                name="Desk",
                password="correct horse battery",
                role=StaffRole.STAFF,
            ),
        )
        desk_token = await staff_model.issue_token(db=db, user=desk, ttl_days=1)
    for n in range(3):
        await gql(
            client,
            UPDATE_CUSTOMER,
            {"id": str(studio.customer_id), "input": {"notes": f"owner {n}"}},
            token=studio.token,
        )
    middle = utcnow()
    await gql(
        client,
        UPDATE_CUSTOMER,
        {"id": str(studio.customer_id), "input": {"notes": "desk"}},
        token=desk_token,
    )
    forbidden = await gql(client, LOG, token=desk_token)
    assert error_codes(forbidden) == ["FORBIDDEN"]

    by_desk = await _log(client, studio, {"actorId": str(desk.id)})
    assert [e["changes"]["notes"]["after"] for e in by_desk] == ["desk"]
    assert by_desk[0]["actorLabel"] == "desk@x.example"
    by_owner = await _log(client, studio, {"actorId": await _owner_id(studio)})
    assert [e["changes"]["notes"]["after"] for e in by_owner] == ["owner 2", "owner 1", "owner 0"]
    since = await _log(client, studio, {"from": middle.isoformat()})
    assert [e["changes"]["notes"]["after"] for e in since] == ["desk"]
    until = await _log(client, studio, {"to": middle.isoformat()})
    assert len(until) == 3
    later = (utcnow() + timedelta(days=1)).isoformat()
    assert await _log(client, studio, {"from": later}) == []

    seen: list[str] = []
    after = None
    while True:
        body = await gql(client, LOG, {"first": 2, "after": after}, token=studio.token)
        page = body["data"]["auditLog"]
        seen += [e["node"]["changes"]["notes"]["after"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["desk", "owner 2", "owner 1", "owner 0"]


async def test_the_primitives_name_hide_record_and_forget(
    studio: Studio, database: Database
) -> None:
    actor = audit_model.AuditActor(
        kind=AuditActorKind.STAFF, id=uuid.uuid4(), label="script", company_id=studio.company_id
    )
    async with database.transaction() as db:
        audit_model.act_as(db, actor)
        customer = await customer_model.update_customer(
            db=db,
            company_id=studio.company_id,
            customer_id=studio.customer_id,
            changes=CustomerUpdate(first_name="Augusta"),
        )
        audit_model.name_change(db, customer, "ERASE")
        audit_model.hide_values(db, customer)
        audit_model.record(
            db,
            company_id=studio.company_id,
            entity_type="customer",
            entity_id=studio.customer_id,
            action="EXPORT",
        )
    async with database.transaction() as db:  # no actor: not audited
        await customer_model.update_customer(
            db=db,
            company_id=studio.company_id,
            customer_id=studio.customer_id,
            changes=CustomerUpdate(first_name="Ada"),
        )
    async with database.read() as db:
        entries = {e.action: e for e in await db.scalars(select(AuditEntry))}
    assert set(entries) == {"ERASE", "EXPORT"}
    assert entries["ERASE"].changes == {"first_name": {"before": "[hidden]", "after": "[hidden]"}}
    assert entries["ERASE"].transaction_id == entries["EXPORT"].transaction_id
    async with database.transaction() as db:
        scrubbed = await audit_model.forget_values(
            db, entity_type="customer", entity_id=studio.customer_id
        )
    assert scrubbed == 2
