"""A push run that an exception ends inside a real `classbridge worker` process is run
again after the backoff (seconds), not at the next commit or the next reconciliation."""

import sqlalchemy as sa

from classbridge.models.db import Database
from tests.jobs.conftest import Workers, all_arrived, connect, versions
from tests.jobs.processes import Receiver, eventually
from tests.studio import Studio


async def _rename(database: Database, old: str, new: str) -> None:
    async with database.transaction() as db:
        await db.execute(sa.text(f"ALTER TABLE {old} RENAME TO {new}"))


async def test_an_exception_escaping_a_push_run_reschedules_it_within_seconds(
    studio: Studio, receiver: Receiver, workers: Workers
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)  # committed; nobody enqueues a job for it
    # Every push run now fails on its first statement (the outbox cannot be read).
    await _rename(studio.database, "outbox_item", "outbox_item_away")
    worker = workers.start()  # its start-up run fails

    async def failed_once() -> bool:
        return "push run failed" in worker.log.read_text(errors="replace")

    await eventually(failed_once, deadline=30, what="a failed run")
    await _rename(studio.database, "outbox_item_away", "outbox_item")

    # No commit, no enqueue from outside and the reconciliation an hour away: only the
    # rescheduled run can deliver it.
    async def arrived() -> bool:
        return all_arrived(await receiver.state(), await versions(studio.database, [sid]))

    await eventually(arrived, deadline=20, what=workers.logs())
