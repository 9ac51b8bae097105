"""Claiming deliveries: leases keep workers apart, expire for dead workers, and an
acknowledgement never hides a change that arrived while its batch was in flight."""

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlmodel import col

from classbridge.models import session as session_model
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.session import SessionEdit
from classbridge.models.push import Ack, claim_deliveries, expand_outbox, record_acks
from classbridge.models.tables import (
    Aggregator,
    AggregatorExtension,
    ExtensionStatus,
    PushDelivery,
    PushState,
)
from tests.studio import Studio

WELLPASS = Aggregator.EGYM_WELLPASS
LEASE = timedelta(seconds=30)


async def pending_sessions(studio: Studio, n: int) -> list[uuid.UUID]:
    async with studio.database.transaction() as db:
        db.add(
            AggregatorExtension(
                company_id=studio.company_id, aggregator=WELLPASS, status=ExtensionStatus.ACTIVE
            )
        )
    ids = [await studio.session(days_ahead=1 + i % 5, hour=7 + i // 5) for i in range(n)]
    async with studio.database.transaction() as db:
        assert await expand_outbox(db=db) >= n
    return ids


async def claim(database: Database, token: str, limit: int = 100) -> list:  # type: ignore[type-arg]
    async with database.transaction() as db:
        return await claim_deliveries(
            db=db, aggregator=WELLPASS, token=token, limit=limit, lease=LEASE
        )


async def test_concurrent_claims_never_share_a_row(studio: Studio, database: Database) -> None:
    ids = await pending_sessions(studio, 12)
    batches = await asyncio.gather(*(claim(database, f"w{i}", limit=3) for i in range(6)))
    assert all(len(batch) <= 3 for batch in batches)
    taken = [c.session_id for batch in batches for c in batch]
    assert len(taken) == len(set(taken)) == 12
    assert set(taken) == set(ids)
    assert await claim(database, "late") == []


async def test_a_claim_takes_at_most_its_limit(studio: Studio, database: Database) -> None:
    await pending_sessions(studio, 7)
    assert [len(await claim(database, f"w{i}", limit=3)) for i in range(4)] == [3, 3, 1, 0]


async def test_an_expired_lease_is_taken_again(studio: Studio, database: Database) -> None:
    await pending_sessions(studio, 2)
    assert len(await claim(database, "dead-worker")) == 2
    assert await claim(database, "other") == []
    async with database.transaction() as db:  # time passes: the dead worker's lease runs out
        await db.execute(update(PushDelivery).values(lease_until=utcnow() - timedelta(seconds=1)))
    again = await claim(database, "other")
    assert len(again) == 2
    async with database.transaction() as db:
        # The dead worker's late acknowledgement no longer counts.
        await record_acks(db=db, token="dead-worker", acks=[Ack(again[0], 1, PushState.OFFERED)])
    async with database.read() as db:
        row = await db.get(PushDelivery, again[0].id)
    assert row is not None and row.acked_version is None and row.lease_token == "other"


async def test_change_during_flight_keeps_the_row_pending(
    studio: Studio, database: Database
) -> None:
    [sid] = await pending_sessions(studio, 1)
    [claimed] = await claim(database, "w1")
    async with database.transaction() as db:  # edited while the batch is on its way
        await session_model.edit_session(
            db=db, company_id=studio.company_id, session_id=sid, changes=SessionEdit(room="B")
        )
    async with database.transaction() as db:
        await expand_outbox(db=db)
        await record_acks(db=db, token="w1", acks=[Ack(claimed, 1, PushState.OFFERED)])
    async with database.read() as db:
        row = await db.scalar(select(PushDelivery).where(PushDelivery.session_id == sid))
    assert row is not None and row.pending and row.acked_version == 1
    assert [c.session_id for c in await claim(database, "w2")] == [sid]


async def test_acknowledgements_record_each_rows_own_state(
    studio: Studio, database: Database
) -> None:
    """All acknowledgements go in one statement: each row still gets its own version,
    state and digest, and a newer version already acknowledged is never lowered."""
    ids = await pending_sessions(studio, 3)
    claimed = {c.session_id: c for c in await claim(database, "w1")}
    first, second, third = (claimed[sid] for sid in ids)
    async with database.transaction() as db:
        await db.execute(
            update(PushDelivery).where(PushDelivery.id == third.id).values(acked_version=9)
        )
    async with database.transaction() as db:
        await record_acks(
            db=db,
            token="w1",
            acks=[
                Ack(first, 4, PushState.OFFERED, "d" * 64),
                Ack(second, 5, PushState.CANCELLED, "e" * 64),
                Ack(third, 6, PushState.NOT_OFFERED),
            ],
        )
    async with database.read() as db:
        rows = {
            r.session_id: r
            for r in await db.scalars(
                select(PushDelivery).where(col(PushDelivery.session_id).in_(ids))
            )
        }
    got = [
        (r.acked_version, r.acked_state, r.acked_digest, r.pending, r.lease_token)
        for r in (rows[sid] for sid in ids)
    ]
    assert got == [
        (4, PushState.OFFERED, "d" * 64, False, None),
        (5, PushState.CANCELLED, "e" * 64, False, None),
        (9, PushState.NOT_OFFERED, None, False, None),
    ]
    assert all(r.acked_at is not None and r.attempts == 0 for r in rows.values())
