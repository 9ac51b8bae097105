"""Fixtures for the push tests: a connected studio, the simulator, worker processes."""

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from classbridge.jobs.client import AggregatorClient
from classbridge.jobs.push import PushRuntime
from classbridge.models import activity as activity_model
from classbridge.models import reservation as reservation_model
from classbridge.models import session_cancellation
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.activity import RegistrationRules
from classbridge.models.inputs.customer import Member
from classbridge.models.tables import (
    Aggregator,
    AggregatorExtension,
    AggregatorVenueLink,
    Booking,
    ClassSession,
    ExtensionStatus,
    PushDelivery,
)
from classbridge.settings import Settings
from tests.jobs.processes import SECRET, Process, Receiver, classbridge_args, push_env
from tests.services import REDIS_URL
from tests.studio import Studio

WELLPASS = Aggregator.EGYM_WELLPASS


async def reserve(studio: Studio, session_id: uuid.UUID, member_id: str) -> Booking:
    """A Wellpass member's reservation, as the partner API makes it."""
    async with studio.database.transaction() as db:
        return await reservation_model.make_reservation(
            db=db,
            aggregator=WELLPASS,
            session_id=session_id,
            member=Member(id=member_id, first_name="Mia", last_name="Member"),
        )


async def cancel(studio: Studio, session_id: uuid.UUID) -> None:
    """The studio cancels a session (its reservations' events become owed)."""
    async with studio.database.transaction() as db:
        await session_cancellation.cancel_session(
            db=db, company_id=studio.company_id, session_id=session_id, reason="teacher ill"
        )


async def connect(studio: Studio, aggregator: Aggregator = WELLPASS) -> None:
    """An ACTIVE connection, set up directly through the models: extension, venue link,
    and the activity offered to aggregators."""
    async with studio.database.transaction() as db:
        db.add(
            AggregatorExtension(
                company_id=studio.company_id,
                aggregator=aggregator,
                status=ExtensionStatus.ACTIVE,
                activated_at=utcnow(),
            )
        )
        db.add(
            AggregatorVenueLink(
                venue_id=studio.venue_id, aggregator=aggregator, aggregator_venue_id="wp-4711"
            )
        )
        await activity_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=studio.activity_id,
            rules=RegistrationRules(allow_aggregator_bookings=True),
        )


async def versions(database: Database, session_ids: list[uuid.UUID]) -> dict[str, int]:
    async with database.read() as db:
        rows = await db.execute(
            select(ClassSession.id, ClassSession.version).where(
                ClassSession.id.in_(session_ids)  # type: ignore[attr-defined]
            )
        )
        return {str(r[0]): r[1] for r in rows}


async def settled(database: Database, session_ids: list[uuid.UUID]) -> bool:
    """Every delivery of these sessions is acknowledged at its current version: nothing
    pending, leased or in flight that a worker could still (re)send."""
    async with database.read() as db:
        rows = (
            await db.execute(
                select(PushDelivery, ClassSession.version)
                .join(ClassSession, ClassSession.id == PushDelivery.session_id)  # type: ignore[arg-type]
                .where(PushDelivery.session_id.in_(session_ids))  # type: ignore[attr-defined]
            )
        ).all()
    return len({d.session_id for d, _ in rows}) == len(session_ids) and all(
        not d.pending and d.lease_token is None and d.acked_version == version
        for d, version in rows
    )


def all_arrived(state: dict, expected: dict[str, int]) -> bool:
    held = state["sessions"]
    return all(sid in held and held[sid]["version"] == v for sid, v in expected.items())


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    r = Receiver(tmp_path)
    try:
        yield r
    finally:
        r.process.stop()


@pytest.fixture
def queue(redis_namespace: str) -> str:
    """This test's arq queue (its keys are deleted at the end, see redis_namespace)."""
    return redis_namespace


class Workers:
    """Start `classbridge worker` processes; all are ended at teardown."""

    def __init__(self, tmp: Path, database_url: str, receiver: Receiver, queue: str) -> None:
        self.tmp, self.database_url, self.receiver, self.queue = tmp, database_url, receiver, queue
        self.started: list[Process] = []

    def start(self, **settings: object) -> Process:
        n = len(self.started) + 1
        proc = Process(
            f"worker-{n}",
            classbridge_args("worker"),
            push_env(self.database_url, self.receiver.url, self.queue, **settings),
            self.tmp / f"worker-{n}.log",
        )
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()}" for p in self.started)


@pytest.fixture
def workers(tmp_path: Path, database_url: str, receiver: Receiver, queue: str) -> Iterator[Workers]:
    w = Workers(tmp_path, database_url, receiver, queue)
    try:
        yield w
    finally:
        w.stop_all()


def push_settings(database_url: str, receiver: Receiver, queue: str, **extra: object) -> Settings:
    """The settings a worker or server of these tests runs with (for in-test use)."""
    env = push_env(database_url, receiver.url, queue, **extra)
    values = {
        k.removeprefix("CLASSBRIDGE_").lower(): v
        for k, v in env.items()
        if k.startswith("CLASSBRIDGE_")
    }
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def runtime(
    database: Database, database_url: str, receiver: Receiver
) -> AsyncIterator[PushRuntime]:
    """The push run in this process (no Redis): the same functions the worker runs."""
    settings = push_settings(database_url, receiver, "unused")
    scheduled = []

    async def schedule(at):  # type: ignore[no-untyped-def]
        scheduled.append(at)

    rt = PushRuntime(
        database=database, client=AggregatorClient(settings), settings=settings, schedule=schedule
    )
    rt.stats["scheduled"] = 0
    try:
        yield rt
    finally:
        await rt.client.aclose()


__all__ = ["REDIS_URL", "SECRET"]
