"""Test actors: a studio with an owner, a venue, an activity, a product and a customer."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from classbridge.models import activity as activity_model
from classbridge.models import booking as booking_model
from classbridge.models import company as company_model
from classbridge.models import customer as customer_model
from classbridge.models import product as product_model
from classbridge.models import session as session_model
from classbridge.models import staff as staff_model
from classbridge.models import tables
from classbridge.models import waitlist as waitlist_model
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.errors import DomainError
from classbridge.models.inputs.activity import ActivityCreate, RegistrationRules
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.inputs.customer import CustomerCreate
from classbridge.models.inputs.session import SessionSchedule
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.localtime import utc_to_local
from classbridge.models.tables import ProductKind


@dataclass
class Studio:
    database: Database
    company_id: uuid.UUID
    venue_id: uuid.UUID
    activity_id: uuid.UUID
    product_id: uuid.UUID
    customer_id: uuid.UUID
    token: str
    owner_email: str
    extra: dict[str, Any] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def session(
        self,
        *,
        days_ahead: int = 2,
        hour: int = 18,
        capacity: int | None = None,
        activity_id: uuid.UUID | None = None,
        venue_id: uuid.UUID | None = None,
    ) -> uuid.UUID:
        """Schedule one session `days_ahead` days from now at `hour` venue time (at the
        studio's first venue unless `venue_id` names another, see `venue`)."""
        venue_id = venue_id or self.venue_id
        async with self.database.transaction() as db:
            venue = await db.get(tables.Venue, venue_id)
            assert venue is not None
            day = utc_to_local(utcnow(), venue.zone).date() + timedelta(days=days_ahead)
            sessions = await session_model.schedule_sessions(
                db=db,
                company_id=self.company_id,
                schedule=SessionSchedule(
                    activity_id=activity_id or self.activity_id,
                    venue_id=venue_id,
                    start=datetime(day.year, day.month, day.day, hour),
                    capacity_override=capacity,
                ),
            )
        return sessions[0].id

    async def venue(self, name: str) -> uuid.UUID:
        """Another venue of the studio (Europe/Berlin)."""
        async with self.database.transaction() as db:
            venue = await company_model.create_venue(
                db=db,
                company_id=self.company_id,
                venue=VenueCreate(name=name, timezone="Europe/Berlin"),
            )
        return venue.id

    async def starts_in(
        self, session_id: uuid.UUID | str, minutes: float, *, duration_minutes: int = 60
    ) -> None:
        """Move a session to start `minutes` from now (negative: it has started), as time
        passing would; not through the API, which refuses a start in the past."""
        start = utcnow() + timedelta(minutes=minutes)
        async with self.database.transaction() as db:
            await db.execute(
                sa.update(tables.ClassSession)
                .where(tables.ClassSession.id == uuid.UUID(str(session_id)))
                .values(starts_at=start, ends_at=start + timedelta(minutes=duration_minutes))
            )

    async def desk_token(self, email: str | None = None) -> str:
        """A token of a STAFF (not OWNER) member of this studio."""
        async with self.database.transaction() as db:
            clerk = await staff_model.create_staff_user(
                db=db,
                company_id=self.company_id,
                user=StaffUserCreate(
                    email=email or f"desk-{uuid.uuid4().hex[:8]}@example.com",
                    name="Front Desk",
                    password="correct horse battery",
                    role=tables.StaffRole.STAFF,
                ),
            )
            return await staff_model.issue_token(db=db, user=clerk, ttl_days=1)

    async def customer(self, first: str = "Kim", last: str = "Meyer") -> uuid.UUID:
        async with self.database.transaction() as db:
            customer = await customer_model.create_customer(
                db=db,
                company_id=self.company_id,
                customer=CustomerCreate(first_name=first, last_name=last),
            )
        return customer.id

    async def book(
        self,
        session_id: uuid.UUID,
        customer_id: uuid.UUID | None = None,
        *,
        db: AsyncSession | None = None,
    ) -> tables.Booking:
        """A staff booking with the studio's product (of its customer unless another is
        named), in a transaction of its own unless `db` is one the caller holds open."""
        if db is None:
            async with self.database.transaction() as own:
                return await self.book(session_id, customer_id, db=own)
        return await booking_model.book(
            db=db,
            company_id=self.company_id,
            session_id=session_id,
            customer_id=customer_id or self.customer_id,
            product_id=self.product_id,
            source=tables.BookingSource.STAFF,
        )

    async def join_waitlist(
        self,
        session_id: uuid.UUID,
        customer_id: uuid.UUID | None = None,
        *,
        db: AsyncSession | None = None,
    ) -> tables.WaitlistEntry:
        """Staff put a customer (the studio's own unless another is named) on a session's
        waitlist, with the studio's product, as `book` books."""
        if db is None:
            async with self.database.transaction() as own:
                return await self.join_waitlist(session_id, customer_id, db=own)
        return await waitlist_model.join_waitlist(
            db=db,
            company_id=self.company_id,
            session_id=session_id,
            customer_id=customer_id or self.customer_id,
            source=tables.BookingSource.STAFF,
            product_id=self.product_id,
        )

    async def try_to_book(self, session_id: uuid.UUID, customer_id: uuid.UUID | None = None) -> str:
        """ "booked", or the code it was refused with."""
        try:
            await self.book(session_id, customer_id)
        except DomainError as exc:
            return exc.code
        return "booked"


async def make_studio(database: Database, *, name: str) -> Studio:
    slug = uuid.uuid4().hex[:8]
    async with database.transaction() as db:
        company = await company_model.create_company(db=db, name=name)
        venue = await company_model.create_venue(
            db=db,
            company_id=company.id,
            venue=VenueCreate(name=f"{name} Mitte", timezone="Europe/Berlin"),
        )
        owner = await staff_model.create_staff_user(
            db=db,
            company_id=company.id,
            user=StaffUserCreate(
                email=f"owner-{slug}@example.com",
                name="Owner",
                password="correct horse battery",
                role=tables.StaffRole.OWNER,
            ),
        )
        activity = await activity_model.create_activity(
            db=db,
            company_id=company.id,
            activity=ActivityCreate(name="Vinyasa", rules=RegistrationRules(max_participants=10)),
        )
        product = await product_model.create_product(
            db=db, company_id=company.id, name="Drop-in", kind=ProductKind.DROP_IN
        )
        customer = await customer_model.create_customer(
            db=db,
            company_id=company.id,
            customer=CustomerCreate(first_name="Ada", last_name="Lovelace"),
        )
        token = await staff_model.issue_token(db=db, user=owner, ttl_days=1)
    return Studio(
        database=database,
        company_id=company.id,
        venue_id=venue.id,
        activity_id=activity.id,
        product_id=product.id,
        customer_id=customer.id,
        token=token,
        owner_email=owner.email,
    )


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    path: str = "/graphql",
) -> dict[str, Any]:
    """POST a GraphQL operation; returns the JSON body (asserting a 200 response)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        path, json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def error_codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]
