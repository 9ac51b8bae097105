"""Print SQL queries and latency of the staff API's heaviest reads at two sizes.

    .venv/bin/python bench/staff_api_queries.py [DATABASE_URL]

Without a URL it uses a fresh SQLite file in a temporary directory. The database is
migrated and filled with one studio; nothing else is touched.
"""

import asyncio
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import event

from classbridge.graph.app import create_app
from classbridge.migrate import upgrade
from classbridge.models import activity, booking, company, customer, product, session, staff, tables
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.activity import ActivityCreate
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.inputs.customer import CustomerCreate
from classbridge.models.inputs.session import SessionSchedule, WeeklyRepeat
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.localtime import utc_to_local
from classbridge.models.tables import BookingSource, ProductKind
from classbridge.settings import Settings

SIGN_IN_LIST = """query($id: ID!) { signInList(sessionId: $id) {
  session { localStart activity { name } venue { name } } counts { booked capacity checkedIn }
  bookings { status source customer { lastName aggregatorIds { externalId } } product { name } }
} }"""
SCHEDULE = """query($first: Int) { sessions(first: $first) { edges { node {
  localStart activity { name } venue { name } counts { booked available }
  bookings { status customer { lastName } product { name } }
} } } }"""


async def fill(database: Database) -> tuple[str, dict[int, str]]:
    """One studio: sessions with 10 and 200 bookings, and 100 daily sessions of 2."""
    async with database.transaction() as db:
        co = await company.create_company(db=db, name="Bench Studio")
        venue = await company.create_venue(
            db=db, company_id=co.id, venue=VenueCreate(name="Mitte", timezone="Europe/Berlin")
        )
        owner = await staff.create_staff_user(
            db=db,
            company_id=co.id,
            user=StaffUserCreate(
                email="bench@example.com",
                name="B",
                password="bench-password",
                role=tables.StaffRole.OWNER,
            ),
        )
        act = await activity.create_activity(
            db=db, company_id=co.id, activity=ActivityCreate(name="Flow")
        )
        drop_in = await product.create_product(
            db=db, company_id=co.id, name="Drop-in", kind=ProductKind.DROP_IN
        )
        people = [
            await customer.create_customer(
                db=db,
                company_id=co.id,
                customer=CustomerCreate(first_name="P", last_name=f"G{i:04d}"),
            )
            for i in range(200)
        ]
        day = utc_to_local(utcnow(), venue.zone).date() + timedelta(days=1)
        daily = await session.schedule_sessions(
            db=db,
            company_id=co.id,
            schedule=SessionSchedule(
                activity_id=act.id,
                venue_id=venue.id,
                start=datetime(day.year, day.month, day.day, 18),
                repeat=WeeklyRepeat(weekdays=[1, 2, 3, 4, 5, 6, 7], until=day + timedelta(days=99)),
            ),
        )
        lists = {}
        for n, s in ((10, daily[0]), (200, daily[1])):
            s.capacity_override = 1000
            lists[n] = str(s.id)
            for person in people[:n]:
                await booking.book(
                    db=db,
                    company_id=co.id,
                    session_id=s.id,
                    customer_id=person.id,
                    product_id=drop_in.id,
                    source=BookingSource.STAFF,
                )
        for s in daily[2:]:
            for person in people[:2]:
                await booking.book(
                    db=db,
                    company_id=co.id,
                    session_id=s.id,
                    customer_id=person.id,
                    product_id=drop_in.id,
                    source=BookingSource.STAFF,
                )
        token = await staff.issue_token(db=db, user=owner, ttl_days=1)
    return token, lists


async def main(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    database = Database(url)
    token, lists = await fill(database)
    count = 0

    def counter(*_: object) -> None:
        nonlocal count
        count += 1

    event.listen(database.engine.sync_engine, "before_cursor_execute", counter)
    app = create_app(Settings(database_url=url), database)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=headers
    ) as client:
        cases = [(f"signInList, {n} bookings", SIGN_IN_LIST, {"id": lists[n]}) for n in (10, 200)]
        cases += [(f"sessions page of {n}", SCHEDULE, {"first": n}) for n in (10, 100)]
        print(f"{database.url.get_backend_name()}: queries per request and median latency")
        for name, query, variables in cases:
            timings = []
            for _ in range(7):
                count = 0
                started = time.perf_counter()
                response = await client.post(
                    "/graphql", json={"query": query, "variables": variables}
                )
                timings.append(time.perf_counter() - started)
                assert "errors" not in response.json(), response.text
            print(f"  {name:28} {count:3d} queries  {sorted(timings)[3] * 1000:7.1f} ms")
    await database.dispose()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"))
