"""A change that aggregators see on many sessions at once (an activity's rules edited, a
venue moved, an extension switched on): the write transaction of `outbox.touch_sessions`
for N upcoming sessions, its outbox rows written as one INSERT of plain rows (what
models/outbox.py does) against an ORM object per row (as it did before), alternating in
one process, on one database.

    .venv/bin/python bench/touch_sessions.py [--sessions 100 1000] [--rounds 7] [--postgres]

Prints the median and minimum wall time of the transaction per variant and their ratio.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from push_bench import PG, create_sessions, setup_studio
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from classbridge.migrate import upgrade
from classbridge.models import outbox
from classbridge.models.aggregator import Aggregator
from classbridge.models.db import Database, notify
from classbridge.models.tables import ClassSession, OutboxItem
from classbridge.models.tables.outbox import OutboxKind

Writer = Callable[..., Awaitable[None]]


async def orm_rows(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    kind: OutboxKind,
    session_ids: list[uuid.UUID] | None = None,
    aggregator: Aggregator | None = None,
) -> None:
    """The outbox rows as ORM objects, flushed with the commit (before)."""
    name = aggregator.value if aggregator is not None else None
    db.add_all(
        OutboxItem(company_id=company_id, kind=kind, session_id=sid, aggregator=name)
        for sid in (session_ids if session_ids is not None else [None])
    )
    notify(db, outbox.OutboxWritten(company_id=company_id))


async def measure(database: Database, ids: list[uuid.UUID], writer: Writer) -> float:
    outbox.add_outbox_items = writer  # type: ignore[assignment]  # touch_sessions' writer
    started = time.perf_counter()
    async with database.transaction() as db:
        await outbox.touch_sessions(db, col(ClassSession.id).in_(ids))
    return time.perf_counter() - started


async def run(url: str, sizes: list[int], rounds: int) -> None:
    await asyncio.to_thread(upgrade, url)
    database = Database(url)
    one_insert = outbox.add_outbox_items
    variants: dict[str, Writer] = {"one INSERT": one_insert, "ORM objects": orm_rows}
    try:
        studio = await setup_studio(database)
        sessions = await create_sessions(database, studio, max(sizes))
        print(f"backend={url.split(':', 1)[0]} rounds={rounds}")
        for n in sizes:
            times: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(rounds):
                for name, writer in variants.items():
                    times[name].append(await measure(database, sessions[:n], writer))
            medians = {name: statistics.median(t) * 1000 for name, t in times.items()}
            line = f"  {n:6} sessions"
            for name, t in times.items():
                line += f"  {name}: median {medians[name]:7.1f} ms (min {min(t) * 1000:7.1f})"
            ratio = medians["one INSERT"] / medians["ORM objects"]
            print(line + f"  ratio {ratio:.2f}")
    finally:
        outbox.add_outbox_items = one_insert  # type: ignore[assignment]
        await database.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--postgres", action="store_true", help="a temporary PG database")
    args = parser.parse_args()
    if not args.postgres:
        with tempfile.TemporaryDirectory() as tmp:
            await run(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}", args.sessions, args.rounds)
        return
    name = f"cb_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(database="postgres", **PG)
    await conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
        await run(url, args.sessions, args.rounds)
    finally:
        await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
