"""Print how long the aggregator visit report takes for one year of a busy studio.

    .venv/bin/python bench/visit_report.py [DATABASE_URL]

One studio, two venues, 40 sessions a week for the past 52 weeks with 20 bookings each
(41,600 bookings; 60 % through three aggregators, 300 members each), every booking with
its booking-history rows (booked, then its outcome). Then, over HTTP (in process), the
year's report: venue level, with both drill-downs, and the CSV per member — each timed
(median, best and worst of 5) with its SQL statement count (the whole request: the token
check and the report). Without a URL: a fresh SQLite file in a
temporary directory. The target is ≤ 1 s for the report.
"""

import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event, insert

from classbridge.graph.app import create_app
from classbridge.migrate import upgrade
from classbridge.models import company, product, staff, tables, visit_report
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.localtime import utc_to_local
from classbridge.models.tables import (
    Aggregator,
    BookingSource,
    BookingStatus,
    CancellationType,
    ProductKind,
)
from classbridge.settings import Settings

WEEKS, SESSIONS_PER_WEEK, BOOKINGS_PER_SESSION = 52, 40, 20
MEMBERS = 300
AGGREGATORS = list(Aggregator)
OUTCOMES = [  # (status, cancellation type, weight)
    (BookingStatus.CHECKED_IN, CancellationType.NONE, 70),
    (BookingStatus.NO_SHOW, CancellationType.NONE, 8),
    (BookingStatus.CANCELLED, CancellationType.LATE, 7),
    (BookingStatus.CANCELLED, CancellationType.EARLY, 12),
    (BookingStatus.CANCELLED, CancellationType.SESSION, 2),
    (BookingStatus.BOOKED, CancellationType.NONE, 1),
]

REPORT_ROWS = """query($f: Date!, $t: Date!) { aggregatorVisitReport(from: $f, to: $t) {
  rows { aggregator month venueName checkIns lateCancellations noShows earlyCancellations
         sessionCancellations open } } }"""
REPORT_ALL = """query($f: Date!, $t: Date!) { aggregatorVisitReport(from: $f, to: $t) {
  rows { aggregator month venueName checkIns lateCancellations noShows }
  byActivity { month activityName checkIns noShows }
  byMember { month memberId checkIns lateCancellations noShows } } }"""


async def fill(database: Database) -> tuple[str, str, str, uuid.UUID]:
    """The studio; returns a staff token and the year's first and last local day."""
    rng = random.Random(14)
    async with database.transaction() as db:
        co = await company.create_company(db=db, name="Bench Studio")
        venues = [
            await company.create_venue(
                db=db, company_id=co.id, venue=VenueCreate(name=n, timezone="Europe/Berlin")
            )
            for n in ("Mitte", "Kreuzberg")
        ]
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
        token = await staff.issue_token(db=db, user=owner, ttl_days=1)
        prod = await product.create_product(
            db=db, company_id=co.id, name="Drop-in", kind=ProductKind.DROP_IN
        )
        activities = [
            tables.Activity(company_id=co.id, name=f"Class {i}", updated_at=utcnow())
            for i in range(8)
        ]
        db.add_all(activities)
        await db.flush()
        customers = [
            {
                "id": uuid.uuid4(),
                "company_id": co.id,
                "first_name": "P",
                "last_name": f"C{i:04d}",
                "updated_at": utcnow(),
            }
            for i in range(len(AGGREGATORS) * MEMBERS + 200)
        ]
        await db.execute(insert(tables.Customer), customers)
        members = {
            (agg, n): customers[a * MEMBERS + n]["id"]
            for a, agg in enumerate(AGGREGATORS)
            for n in range(MEMBERS)
        }
        await db.execute(
            insert(tables.CustomerAggregatorId),
            [
                {
                    "id": uuid.uuid4(),
                    "company_id": co.id,
                    "customer_id": cid,
                    "aggregator": agg,
                    "external_id": f"{agg.value.lower()}-{n}",
                }
                for (agg, n), cid in members.items()
            ],
        )
        studio_customers = [c["id"] for c in customers[len(AGGREGATORS) * MEMBERS :]]
        start = utcnow() - timedelta(weeks=WEEKS)
        sessions, bookings, history = [], [], []
        for i in range(WEEKS * SESSIONS_PER_WEEK):
            starts_at = start + timedelta(hours=i * 7 * 24 / SESSIONS_PER_WEEK)
            venue, act = venues[i % 2], activities[i % len(activities)]
            sid = uuid.uuid4()
            sessions.append(
                {
                    "id": sid,
                    "company_id": co.id,
                    "activity_id": act.id,
                    "venue_id": venue.id,
                    "starts_at": starts_at,
                    "ends_at": starts_at + timedelta(hours=1),
                    "updated_at": starts_at,
                }
            )
            local = utc_to_local(starts_at, venue.zone).date()
            booked_customers: set[uuid.UUID] = set()
            for _ in range(BOOKINGS_PER_SESSION):
                agg = rng.choice(AGGREGATORS) if rng.random() < 0.6 else None
                if agg is None:
                    cid, member = rng.choice(studio_customers), None
                else:
                    n = rng.randrange(MEMBERS)
                    cid, member = members[(agg, n)], f"{agg.value.lower()}-{n}"
                if cid in booked_customers:
                    continue
                booked_customers.add(cid)
                status, cancellation, _ = rng.choices(OUTCOMES, [w for *_, w in OUTCOMES])[0]
                bid = uuid.uuid4()
                common = {
                    "company_id": co.id,
                    "source": BookingSource.AGGREGATOR if agg else BookingSource.STAFF,
                    "aggregator": agg,
                }
                bookings.append(
                    {
                        "id": bid,
                        "session_id": sid,
                        "customer_id": cid,
                        "product_id": prod.id,
                        "status": status,
                        "cancellation_type": cancellation,
                        "booked_at": starts_at - timedelta(days=1),
                        "updated_at": starts_at,
                        **common,
                    }
                )
                row = {
                    "booking_id": bid,
                    "session_id": sid,
                    "venue_id": venue.id,
                    "activity_id": act.id,
                    "customer_id": cid,
                    "member_id": member,
                    "session_local_date": local,
                    "session_month": f"{local:%Y-%m}",
                    **common,
                }
                history.append(
                    {
                        **row,
                        "status": BookingStatus.BOOKED,
                        "cancellation_type": CancellationType.NONE,
                        "occurred_at": starts_at - timedelta(days=1),
                    }
                )
                if status is not BookingStatus.BOOKED:
                    history.append(
                        {
                            **row,
                            "status": status,
                            "cancellation_type": cancellation,
                            "occurred_at": starts_at,
                        }
                    )
        await db.execute(insert(tables.ClassSession), sessions)
        for chunk in range(0, len(bookings), 5000):
            await db.execute(insert(tables.Booking), bookings[chunk : chunk + 5000])
        for chunk in range(0, len(history), 5000):
            await db.execute(insert(tables.BookingHistory), history[chunk : chunk + 5000])
        zone = venues[0].zone
    first = utc_to_local(start, zone).date()
    last = utc_to_local(utcnow(), zone).date()
    print(
        f"filled: {len(sessions)} sessions, {len(bookings)} bookings, {len(history)} history rows"
    )
    return token, str(first), str(last), co.id


REPEAT = 5


async def measure(client: httpx.AsyncClient, counter: list[int], label: str, request: Any) -> None:
    timings = []
    for _ in range(REPEAT):
        counter[0] = 0
        began = time.perf_counter()
        response = await request()
        timings.append(time.perf_counter() - began)
        assert response.status_code == 200, response.text[:500]
        if response.headers["content-type"].startswith("application/json"):
            assert not response.json().get("errors"), response.text[:500]
    size = len(response.content)
    print(
        f"{label:<42} median {statistics.median(timings) * 1000:7.1f} ms"
        f"  best {min(timings) * 1000:7.1f} ms  worst {max(timings) * 1000:7.1f} ms"
        f"  {counter[0]:2d} SQL statements  {size / 1024:8.1f} KiB"
    )


async def main(url: str) -> None:
    await asyncio.to_thread(upgrade, url)
    database = Database(url)
    counter = [0]

    def count(*_: object) -> None:
        counter[0] += 1

    try:
        token, first, last, company_id = await fill(database)
        event.listen(database.engine.sync_engine, "before_cursor_execute", count)
        app = create_app(Settings(database_url=url), database)
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers, timeout=120
        ) as client:
            period = {"f": first, "t": last}

            def graphql(doc: str) -> Any:
                return lambda: client.post("/graphql", json={"query": doc, "variables": period})

            def csv(by: str) -> Any:
                return lambda: client.get(
                    "/reports/aggregator-visits.csv",
                    params={"from": first, "to": last, "by": by},
                )

            print(f"report {first} .. {last} on {url.split(':')[0]}")
            await measure(
                client, counter, "GraphQL rows (aggregator/month/venue)", graphql(REPORT_ROWS)
            )
            await measure(
                client, counter, "GraphQL rows + byActivity + byMember", graphql(REPORT_ALL)
            )
            await measure(client, counter, "CSV by=VENUE", csv("VENUE"))
            for by in visit_report.Breakdown:
                query = visit_report.VisitReportQuery(from_date=first, to_date=last)
                timings = []
                for _ in range(REPEAT):
                    began = time.perf_counter()
                    async with database.read() as db:
                        found = await visit_report.visit_report(
                            db=db, company_id=company_id, query=query, by=by
                        )
                    timings.append(time.perf_counter() - began)
                print(
                    f"{'domain only, by=' + by.value:<42} median"
                    f" {statistics.median(timings) * 1000:7.1f} ms"
                    f"  best {min(timings) * 1000:7.1f} ms  ({len(found)} rows)"
                )
            await measure(client, counter, "CSV by=MEMBER", csv("MEMBER"))
    finally:
        await database.dispose()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        asyncio.run(main(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"))
