"""`classbridge seed-demo`: a demo studio to click through, created once and reused after."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models import activity as activity_model
from classbridge.models import booking as booking_model
from classbridge.models import company as company_model
from classbridge.models import customer as customer_model
from classbridge.models import extension as extension_model
from classbridge.models import partner_token as token_model
from classbridge.models import product as product_model
from classbridge.models import session as session_model
from classbridge.models import staff as staff_model
from classbridge.models import tables
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.activity import ActivityCreate, RegistrationRules
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.inputs.customer import CustomerCreate
from classbridge.models.inputs.session import SessionSchedule, WeeklyRepeat
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.localtime import utc_to_local
from classbridge.models.tables import ActivityKind, Aggregator, BookingSource, ProductKind

DEMO_COMPANY = "Demo Studio"
DEMO_OWNER_EMAIL = "owner@demo-studio.example"
DEMO_OWNER_PASSWORD = "demo-password"
DEMO_DAYS = 14

_ACTIVITIES = [
    # name, sport, kind, minutes, max participants, local start times
    ("Vinyasa Flow", "Yoga", ActivityKind.CLASS, 75, 20, [time(7, 30), time(18, 30)]),
    ("HIIT Express", "Fitness", ActivityKind.CLASS, 45, 15, [time(12, 15)]),
    ("Pilates Mat", "Pilates", ActivityKind.CLASS, 60, 12, [time(10, 0)]),
]
# Activities offered to EGYM Wellpass, with how many spots its members may take.
_AGGREGATOR_LIMITS = {"Vinyasa Flow": 5, "HIIT Express": 4}
_CUSTOMERS = [
    ("Anna", "Becker", "anna.becker@example.com"),
    ("Jonas", "Schmidt", "jonas.schmidt@example.com"),
    ("Lea", "Wagner", "lea.wagner@example.com"),
    ("Mehmet", "Yilmaz", "mehmet.yilmaz@example.com"),
    ("Sofia", "Rossi", "sofia.rossi@example.com"),
]


@dataclass
class DemoResult:
    company_id: uuid.UUID
    venue_ids: list[uuid.UUID]
    staff_token: str
    created: bool
    extra: dict[str, object] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "companyId": str(self.company_id),
            "venueIds": [str(v) for v in self.venue_ids],
            "staffToken": self.staff_token,
            "ownerEmail": DEMO_OWNER_EMAIL,
            "ownerPassword": DEMO_OWNER_PASSWORD,
            "created": self.created,
            **self.extra,
        }


async def seed_demo(database: Database, *, token_ttl_days: int) -> DemoResult:
    """Create the demo studio, or reuse it when it exists (nothing is duplicated)."""
    async with database.transaction() as db:
        owner = await db.scalar(
            select(tables.StaffUser).where(col(tables.StaffUser.email) == DEMO_OWNER_EMAIL)
        )
        created = owner is None
        if owner is None:
            owner = await _create(db)
        venues = await company_model.list_venues(db=db, company_id=owner.company_id)
        await _connect_egym(db, owner, venues)
        token = await staff_model.issue_token(db=db, user=owner, ttl_days=token_ttl_days)
        _, partner_token = await token_model.create_token(
            db=db, aggregator=Aggregator.EGYM_WELLPASS, label="seed-demo"
        )
    return DemoResult(
        company_id=owner.company_id,
        venue_ids=[v.id for v in venues],
        staff_token=token,
        created=created,
        extra={"aggregatorTokens": {Aggregator.EGYM_WELLPASS.value: partner_token}},
    )


async def _connect_egym(
    db: AsyncSession, owner: tables.StaffUser, venues: list[tables.Venue]
) -> None:
    """EGYM Wellpass is activated, linked to every venue and offered two activities.
    Every step is idempotent, so a re-run changes nothing."""
    actor = staff_model.StaffActor(user_id=owner.id, company_id=owner.company_id, role=owner.role)
    await extension_model.activate_extension(
        db=db, actor=actor, aggregator=Aggregator.EGYM_WELLPASS
    )
    for i, venue in enumerate(venues, start=1):
        await extension_model.set_aggregator_venue_id(
            db=db,
            aggregator=Aggregator.EGYM_WELLPASS,
            venue_id=venue.id,
            aggregator_venue_id=f"wellpass-demo-{i}",
        )
    activities = await activity_model.list_activities(db=db, company_id=owner.company_id)
    for activity in activities:
        if activity.name in _AGGREGATOR_LIMITS:
            await activity_model.update_rules(
                db=db,
                company_id=owner.company_id,
                activity_id=activity.id,
                rules=RegistrationRules(
                    allow_aggregator_bookings=True,
                    aggregator_limit=_AGGREGATOR_LIMITS[activity.name],
                ),
            )


async def _create(db: AsyncSession) -> tables.StaffUser:
    company = await company_model.create_company(db=db, name=DEMO_COMPANY)
    owner = await staff_model.create_staff_user(
        db=db,
        company_id=company.id,
        user=StaffUserCreate(
            email=DEMO_OWNER_EMAIL,
            name="Demo Owner",
            password=DEMO_OWNER_PASSWORD,
            role=tables.StaffRole.OWNER,
        ),
    )
    venues = [
        await company_model.create_venue(
            db=db,
            company_id=company.id,
            venue=VenueCreate(
                name=name,
                timezone="Europe/Berlin",
                street=street,
                zip=zip,
                city="Berlin",
                country="DE",
            ),
        )
        for name, street, zip in (
            ("Demo Studio Mitte", "Torstraße 1", "10119"),
            ("Demo Studio Kreuzberg", "Oranienstraße 2", "10999"),
        )
    ]
    drop_in = await product_model.create_product(
        db=db, company_id=company.id, name="Drop-in", kind=ProductKind.DROP_IN
    )
    await product_model.create_product(
        db=db, company_id=company.id, name="10-Class Card", kind=ProductKind.CLASS_CARD
    )
    await product_model.create_product(
        db=db, company_id=company.id, name="Monthly Membership", kind=ProductKind.MEMBERSHIP
    )
    customers = [
        await customer_model.create_customer(
            db=db,
            company_id=company.id,
            customer=CustomerCreate(first_name=f, last_name=last, email=e),
        )
        for f, last, e in _CUSTOMERS
    ]
    tomorrow = utc_to_local(utcnow(), venues[0].zone).date() + timedelta(days=1)
    first_sessions = []
    for i, (name, sport, kind, minutes, max_participants, starts) in enumerate(_ACTIVITIES):
        activity = await activity_model.create_activity(
            db=db,
            company_id=company.id,
            activity=ActivityCreate(
                name=name,
                sport=sport,
                kind=kind,
                default_duration_minutes=minutes,
                rules=RegistrationRules(
                    max_participants=max_participants, free_cancellation_minutes=12 * 60
                ),
            ),
        )
        for start in starts:
            sessions = await session_model.schedule_sessions(
                db=db,
                company_id=company.id,
                schedule=SessionSchedule(
                    activity_id=activity.id,
                    venue_id=venues[i % 2].id,
                    start=datetime.combine(tomorrow, start),
                    teacher=["Mara", "Tom", "Ines"][i],
                    room="Studio 1",
                    repeat=WeeklyRepeat(
                        weekdays=[1, 2, 3, 4, 5, 6, 7],
                        until=tomorrow + timedelta(days=DEMO_DAYS - 1),
                    ),
                ),
            )
            first_sessions.append(sessions[0])
    for session in first_sessions:
        for customer in customers[:3]:
            await booking_model.book(
                db=db,
                company_id=company.id,
                session_id=session.id,
                customer_id=customer.id,
                product_id=drop_in.id,
                source=BookingSource.STAFF,
            )
    return owner
