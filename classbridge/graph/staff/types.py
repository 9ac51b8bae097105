"""Types of the staff API, in the studio's own words."""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TypeVar, cast

import strawberry
from strawberry.dataloader import DataLoader

from classbridge.graph.context import Info
from classbridge.graph.loaders import load_each
from classbridge.models import series as series_model
from classbridge.models import tables, visit_report
from classbridge.models import waitlist as waitlist_model
from classbridge.models.booking import BookingCounts, BookingRow, counts_of, spot_counts
from classbridge.models.customer import CustomerAggregatorIdRow, CustomerRow
from classbridge.models.localtime import utc_to_local
from classbridge.models.product import ProductRow, is_built_in
from classbridge.models.session import SessionRow, effective_rules
from classbridge.models.sign_in_list import ListedBooking

# The domain's enums are the schema's: strawberry.enum registers each class in place.
strawberry.enum(tables.Aggregator, description="A corporate-fitness aggregator.")
for _enum in (
    tables.ActivityKind,
    tables.AggregatorMode,
    tables.BookingSource,
    tables.BookingStatus,
    tables.CancellationType,
    tables.ProductKind,
    tables.StaffRole,
    tables.StaffStatus,
    tables.ExtensionStatus,
    tables.WaitlistStatus,
):
    strawberry.enum(_enum)
Aggregator = tables.Aggregator
ActivityKind = tables.ActivityKind
AggregatorMode = tables.AggregatorMode
BookingSource = tables.BookingSource
BookingStatus = tables.BookingStatus
CancellationType = tables.CancellationType
ProductKind = tables.ProductKind
StaffRole = tables.StaffRole
StaffStatus = tables.StaffStatus
ExtensionStatus = tables.ExtensionStatus
WaitlistStatus = tables.WaitlistStatus

T = TypeVar("T")


@strawberry.type(description="A studio business.")
class Company:
    row: strawberry.Private[tables.Company]

    @strawberry.field(description="Stable UUID; aggregators need it to connect the studio.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name


@strawberry.type(description="A point on the map (WGS 84).")
class Coordinates:
    latitude: float
    longitude: float


@strawberry.type(description="A location of the company, with its own time zone.")
class Venue:
    row: strawberry.Private[tables.Venue]

    @strawberry.field(description="Stable UUID; aggregators need it to connect the venue.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description='IANA time zone, e.g. "Europe/Berlin".')
    def timezone(self) -> str:
        return self.row.timezone

    @strawberry.field
    def street(self) -> str | None:
        return self.row.street

    @strawberry.field
    def zip(self) -> str | None:
        return self.row.zip

    @strawberry.field
    def city(self) -> str | None:
        return self.row.city

    @strawberry.field
    def country(self) -> str | None:
        return self.row.country

    @strawberry.field
    def phone(self) -> str | None:
        return self.row.phone

    @strawberry.field
    def email(self) -> str | None:
        return self.row.email

    @strawberry.field
    def website(self) -> str | None:
        return self.row.website

    @strawberry.field(description="Where the venue is on the map; aggregators show it.")
    def coordinates(self) -> Coordinates | None:
        if self.row.latitude is None or self.row.longitude is None:
            return None
        return Coordinates(latitude=self.row.latitude, longitude=self.row.longitude)

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at


@strawberry.type(description="What updateVenue changed.")
class UpdateVenueResult:
    venue: Venue
    previous_timezone: str | None = strawberry.field(
        description="The venue's time zone before, when this change gave it a new one."
    )
    sessions_kept_at_instant: int = strawberry.field(
        description="With a new time zone: upcoming sessions that keep their instant (UTC "
        "start); their venue-local times now read in the new zone. 0 otherwise."
    )
    notice: str | None = strawberry.field(
        description="A sentence for the person who made the change, when it has consequences."
    )


@strawberry.type(description="Who may book an activity's sessions, how many, and when.")
class RegistrationRules:
    row: strawberry.Private[tables.Activity]

    @strawberry.field(description="Spots per session; null means unlimited.")
    def max_participants(self) -> int | None:
        return self.row.max_participants

    @strawberry.field(description="Bookings open this many minutes before the start; null: now.")
    def booking_opens_minutes_before_start(self) -> int | None:
        return self.row.booking_opens_minutes

    @strawberry.field(
        description="Bookings close this many minutes before the start; null: at the end."
    )
    def booking_closes_minutes_before_start(self) -> int | None:
        return self.row.booking_closes_minutes

    @strawberry.field(description="Cancelling is free (EARLY) until this many minutes before.")
    def free_cancellation_minutes_before_start(self) -> int:
        return self.row.free_cancellation_minutes

    @strawberry.field(description="Offer the sessions to aggregators with an active extension.")
    def allow_aggregator_bookings(self) -> bool:
        return self.row.allow_aggregator_bookings

    @strawberry.field(description="Spots aggregators may take per session; null: no limit.")
    def aggregator_limit(self) -> int | None:
        return self.row.aggregator_limit

    @strawberry.field(
        description="Places on a full session's waitlist; 0: no waitlist. Freed spots go to "
        "the waitlist in order until the booking window closes."
    )
    def waitlist_size(self) -> int:
        return self.row.waitlist_size


@strawberry.type(description="A class type, e.g. 'Vinyasa Flow'.")
class Activity:
    row: strawberry.Private[tables.Activity]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def description(self) -> str | None:
        return self.row.description

    @strawberry.field
    def sport(self) -> str:
        return self.row.sport

    @strawberry.field
    def kind(self) -> ActivityKind:
        return self.row.kind

    @strawberry.field
    def default_duration_minutes(self) -> int:
        return self.row.default_duration_minutes

    @strawberry.field
    def archived(self) -> bool:
        return self.row.archived

    @strawberry.field
    def registration_rules(self) -> RegistrationRules:
        return RegistrationRules(row=self.row)

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at


@strawberry.type(description="A session's own aggregator setting.")
class SessionAggregatorSetting:
    mode: AggregatorMode
    allowed: bool = strawberry.field(description="Used when mode is INDIVIDUAL.")
    limit: int | None = strawberry.field(description="Used when mode is INDIVIDUAL.")


@strawberry.type(description="How full a session is.")
class SessionCounts:
    booked: int = strawberry.field(description="Live bookings (booked, checked in, no-show).")
    capacity: int | None = strawberry.field(description="Spots in total; null: unlimited.")
    available: int | None = strawberry.field(description="Spots left; null: unlimited.")
    checked_in: int
    aggregator_booked: int = strawberry.field(description="Live bookings from aggregators.")
    aggregator_limit: int | None = strawberry.field(description="null: no aggregator limit.")


@dataclass(frozen=True)
class SessionHeld:
    """What a listed session's fields read, loaded for the whole page (`sessions_of`)."""

    activity: tables.Activity
    venue: tables.Venue
    counts: BookingCounts
    bookings: "list[Booking] | None" = None  # when the page selects them


def _later(awaitable: Awaitable[T]) -> T:
    """A field that returns what its parent holds may, when the parent holds nothing
    (a mutation's result), hand graphql-core a loader's awaitable instead: graphql-core
    awaits what a resolver returns. Its result type stays the field's type."""
    return cast(T, awaitable)


@strawberry.type(description="One appointment of an activity at a venue.")
class Session:
    """Lists build sessions with `sessions_of` (held: activity, venue and counts, loaded
    for the page at once) and those fields resolve synchronously; a session built from a
    row alone (a mutation's result) loads them through the request's DataLoaders."""

    row: strawberry.Private[SessionRow]
    held: strawberry.Private[SessionHeld | None] = None

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    async def _held(self, info: Info) -> SessionHeld:
        loaders = info.context.loaders
        activity = await loaders.activity.load(self.row.activity_id)
        venue = await loaders.venue.load(self.row.venue_id)
        counts = await loaders.counts.load(self.row.id)
        assert activity is not None and venue is not None
        return SessionHeld(activity=activity, venue=venue, counts=counts)

    def _from_held(self, info: Info, read: Callable[[SessionHeld], T]) -> T:
        if self.held is not None:
            return read(self.held)

        async def load() -> T:
            return read(await self._held(info))

        return _later(load())

    @strawberry.field
    def activity(self, info: Info) -> Activity:
        return self._from_held(info, lambda held: Activity(row=held.activity))

    @strawberry.field
    def venue(self, info: Info) -> Venue:
        return self._from_held(info, lambda held: Venue(row=held.venue))

    @strawberry.field(description="Start in UTC.")
    def starts_at(self) -> datetime:
        return self.row.starts_at

    @strawberry.field(description="End in UTC.")
    def ends_at(self) -> datetime:
        return self.row.ends_at

    @strawberry.field(
        description="Start in venue-local time with offset, e.g. 2026-03-29T18:00:00+02:00."
    )
    def local_start(self, info: Info) -> str:
        starts_at = self.row.starts_at
        return self._from_held(info, lambda h: utc_to_local(starts_at, h.venue.zone).isoformat())

    @strawberry.field(description="End in venue-local time with offset.")
    def local_end(self, info: Info) -> str:
        ends_at = self.row.ends_at
        return self._from_held(info, lambda h: utc_to_local(ends_at, h.venue.zone).isoformat())

    @strawberry.field
    def room(self) -> str | None:
        return self.row.room

    @strawberry.field
    def teacher(self) -> str | None:
        return self.row.teacher

    @strawberry.field(description="This session's own capacity; null: the activity's applies.")
    def capacity_override(self) -> int | None:
        return self.row.capacity_override

    @strawberry.field(description="This session's own waitlist size; null: the activity's.")
    def waitlist_size_override(self) -> int | None:
        return self.row.waitlist_size_override

    @strawberry.field(description="Who waits for a spot, in waitlist order.")
    async def waitlist(self, info: Info) -> list["WaitlistEntry"]:
        return await self.load_waitlist(info)

    async def load_waitlist(self, info: Info) -> list["WaitlistEntry"]:
        async with info.context.read() as db:
            rows = await waitlist_model.list_entries(
                db=db, session_ids=[self.row.id], waiting_only=True
            )
        return [WaitlistEntry(row=r) for r in rows]

    @strawberry.field
    def aggregator_setting(self) -> SessionAggregatorSetting:
        return SessionAggregatorSetting(
            mode=self.row.aggregator_mode,
            allowed=self.row.aggregator_allowed,
            limit=self.row.aggregator_limit,
        )

    @strawberry.field(description="Whether aggregators may book it (after following the activity).")
    def aggregator_bookings_allowed(self, info: Info) -> bool:
        row = self.row
        return self._from_held(info, lambda h: effective_rules(row, h.activity).aggregator_allowed)

    @strawberry.field
    def counts(self, info: Info) -> SessionCounts:
        return self._from_held(info, self._counts)

    def _counts(self, held: SessionHeld) -> SessionCounts:
        spots = spot_counts(effective_rules(self.row, held.activity), held.counts)
        return SessionCounts(
            booked=spots.booked,
            capacity=spots.capacity,
            available=spots.available,
            checked_in=spots.checked_in,
            aggregator_booked=spots.aggregator_booked,
            aggregator_limit=spots.aggregator_limit,
        )

    @strawberry.field(description="The sign-in list: every booking, ordered by customer name.")
    def bookings(self, info: Info) -> list["Booking"]:
        if self.held is not None and self.held.bookings is not None:
            return self.held.bookings
        return _later(self.load_bookings(info))

    @strawberry.field(description="The series it was scheduled with (a weekly repeat), if any.")
    async def series(self, info: Info) -> "SessionSeries | None":
        if self.row.series_id is None:
            return None
        row = await info.context.loaders.series.load(self.row.series_id)
        return SessionSeries(row=row) if row is not None else None

    async def load_counts(self, info: Info) -> SessionCounts:
        return self._counts(self.held or await self._held(info))

    async def load_bookings(
        self, info: Info, *, with_aggregator_ids: bool = False
    ) -> list["Booking"]:
        if self.held is not None and self.held.bookings is not None:
            return self.held.bookings
        listed = await _bookings_loader(info, with_aggregator_ids).load(self.row.id)
        return bookings_of(listed)

    @strawberry.field
    def is_cancelled(self) -> bool:
        return self.row.cancelled_at is not None

    @strawberry.field
    def cancelled_at(self) -> datetime | None:
        return self.row.cancelled_at

    @strawberry.field
    def cancellation_reason(self) -> str | None:
        return self.row.cancellation_reason

    @strawberry.field(description="Grows with every change an aggregator can see.")
    def version(self) -> int:
        return self.row.version

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at


@strawberry.type(description="A member id at an aggregator, matching its bookings to a customer.")
class CustomerAggregatorId:
    aggregator: Aggregator
    external_id: str


@strawberry.type(description="A person who books.")
class Customer:
    row: strawberry.Private[CustomerRow]
    # A list's customers hold their aggregator ids when the list selects them
    # (`bookings_of`); a customer built from its row alone loads them.
    held_aggregator_ids: strawberry.Private[list[CustomerAggregatorIdRow] | None] = None

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def first_name(self) -> str:
        return self.row.first_name

    @strawberry.field
    def last_name(self) -> str:
        return self.row.last_name

    @strawberry.field
    def email(self) -> str | None:
        return self.row.email

    @strawberry.field
    def phone(self) -> str | None:
        return self.row.phone

    @strawberry.field
    def birthday(self) -> date | None:
        return self.row.birthday

    @strawberry.field
    def notes(self) -> str | None:
        return self.row.notes

    @strawberry.field
    def street(self) -> str | None:
        return self.row.street

    @strawberry.field
    def zip(self) -> str | None:
        return self.row.zip

    @strawberry.field
    def city(self) -> str | None:
        return self.row.city

    @strawberry.field
    def country(self) -> str | None:
        return self.row.country

    @strawberry.field(description="Customer IDs from aggregators.")
    def aggregator_ids(self, info: Info) -> list[CustomerAggregatorId]:
        def shown(rows: list[CustomerAggregatorIdRow]) -> list[CustomerAggregatorId]:
            return [
                CustomerAggregatorId(aggregator=r.aggregator, external_id=r.external_id)
                for r in rows
            ]

        if self.held_aggregator_ids is not None:
            return shown(self.held_aggregator_ids)

        async def load() -> list[CustomerAggregatorId]:
            return shown(await info.context.loaders.aggregator_ids.load(self.row.id))

        return _later(load())

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field(description="When the profile was anonymised (eraseCustomer); else null.")
    def erased_at(self) -> datetime | None:
        return self.row.erased_at


@strawberry.type(description="How a booking is paid.")
class Product:
    row: strawberry.Private[ProductRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def kind(self) -> ProductKind:
        return self.row.kind

    @strawberry.field(description="Built-in aggregator products cannot be assigned or removed.")
    def built_in(self) -> bool:
        return is_built_in(self.row)

    @strawberry.field
    def aggregator(self) -> Aggregator | None:
        return self.row.aggregator

    @strawberry.field
    def archived(self) -> bool:
        return self.row.archived


@dataclass(frozen=True)
class BookingHeld:
    """What a listed booking's fields read, loaded with the whole list (`bookings_of`)."""

    customer: CustomerRow
    product: ProductRow
    aggregator_ids: list[CustomerAggregatorIdRow] | None = None  # when selected


@strawberry.type(description="A customer's place in a session.")
class Booking:
    """Lists build bookings with `bookings_of` (held: customer and product); a booking
    built from a row alone (a mutation's result) loads them through the DataLoaders."""

    row: strawberry.Private[BookingRow]
    held: strawberry.Private[BookingHeld | None] = None

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def customer(self, info: Info) -> Customer:
        if self.held is not None:
            return Customer(row=self.held.customer, held_aggregator_ids=self.held.aggregator_ids)

        async def load() -> Customer:
            row = await info.context.loaders.customer.load(self.row.customer_id)
            assert row is not None
            return Customer(row=row)

        return _later(load())

    @strawberry.field
    async def session(self, info: Info) -> Session:
        row = await info.context.loaders.session.load(self.row.session_id)
        assert row is not None
        return Session(row=row)

    @strawberry.field
    def product(self, info: Info) -> Product:
        if self.held is not None:
            return Product(row=self.held.product)

        async def load() -> Product:
            row = await info.context.loaders.product.load(self.row.product_id)
            assert row is not None
            return Product(row=row)

        return _later(load())

    @strawberry.field
    def source(self) -> BookingSource:
        return self.row.source

    @strawberry.field(description="Set when source is AGGREGATOR.")
    def aggregator(self) -> Aggregator | None:
        return self.row.aggregator

    @strawberry.field
    def status(self) -> BookingStatus:
        return self.row.status

    @strawberry.field
    def cancellation_type(self) -> CancellationType:
        return self.row.cancellation_type

    @strawberry.field
    def booked_at(self) -> datetime:
        return self.row.booked_at

    @strawberry.field
    def cancelled_at(self) -> datetime | None:
        return self.row.cancelled_at

    @strawberry.field
    def checked_in_at(self) -> datetime | None:
        return self.row.checked_in_at


@strawberry.type(description="A customer waiting for a spot in a full session.")
class WaitlistEntry:
    row: strawberry.Private[tables.WaitlistEntry]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field(description="Place in line (1 is next); numbers are not reused.")
    def position(self) -> int:
        return self.row.position

    @strawberry.field
    def status(self) -> WaitlistStatus:
        return self.row.status

    @strawberry.field
    async def customer(self, info: Info) -> Customer:
        row = await info.context.loaders.customer.load(self.row.customer_id)
        assert row is not None
        return Customer(row=row)

    @strawberry.field
    async def session(self, info: Info) -> Session:
        row = await info.context.loaders.session.load(self.row.session_id)
        assert row is not None
        return Session(row=row)

    @strawberry.field(description="The product the booking will carry.")
    async def product(self, info: Info) -> Product:
        row = await info.context.loaders.product.load(self.row.product_id)
        assert row is not None
        return Product(row=row)

    @strawberry.field
    def source(self) -> BookingSource:
        return self.row.source

    @strawberry.field(description="Set when source is AGGREGATOR.")
    def aggregator(self) -> Aggregator | None:
        return self.row.aggregator

    @strawberry.field(description="The booking it became (status PROMOTED).")
    async def booking(self, info: Info) -> Booking | None:
        if self.row.booking_id is None:
            return None
        async with info.context.read() as db:
            row = await db.get(tables.Booking, self.row.booking_id)
        return Booking(row=row) if row is not None else None

    @strawberry.field
    def joined_at(self) -> datetime:
        return self.row.joined_at

    @strawberry.field(description="When it was promoted, left or expired.")
    def ended_at(self) -> datetime | None:
        return self.row.ended_at


@strawberry.type(description="A session's bookings with its counts, for the front desk.")
class SignInList:
    session: Session
    bookings: list[Booking]
    counts: SessionCounts

    @strawberry.field(description="Who waits for a spot, in waitlist order (1 is next).")
    async def waitlist(self, info: Info) -> list[WaitlistEntry]:
        # Read when selected only: a dashboard that does not show it pays nothing for it.
        return await self.session.load_waitlist(info)


@strawberry.type(description="A staff account.")
class StaffUser:
    row: strawberry.Private[tables.StaffUser]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def email(self) -> str:
        return self.row.email

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def role(self) -> StaffRole:
        return self.row.role

    @strawberry.field(description="DEACTIVATED accounts cannot sign in.")
    def status(self) -> StaffStatus:
        return self.row.status

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.created_at

    @strawberry.field
    def deactivated_at(self) -> datetime | None:
        return self.row.deactivated_at


@strawberry.type(description="A pending invitation; its token went to `email` only.")
class StaffInvitation:
    row: strawberry.Private[tables.StaffInvitation]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def email(self) -> str:
        return self.row.email

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def role(self) -> StaffRole:
        return self.row.role

    @strawberry.field
    def expires_at(self) -> datetime:
        return self.row.expires_at


@strawberry.type
class LoginResult:
    token: str = strawberry.field(description="Send as Authorization: Bearer <token>.")
    user: StaffUser


async def sessions_of(
    info: Info,
    rows: Sequence[SessionRow],
    *,
    with_bookings: bool = False,
    with_aggregator_ids: bool = False,
) -> list[Session]:
    """Sessions holding what their fields read: activities, venues and counts — and with
    `with_bookings` (a page that selects them) the bookings with their customers and
    products (and with `with_aggregator_ids` the customers' aggregator ids), all in one
    statement, the counts then counted from them — each loaded once for all rows
    (DataLoaders: nested lists batch across parents too). What the sessions hold, their
    fields read synchronously."""
    loaders = info.context.loaders
    activities = await load_each(loaders.activity, [r.activity_id for r in rows])
    venues = await load_each(loaders.venue, [r.venue_id for r in rows])
    bookings: list[list[Booking] | None] = [None] * len(rows)
    if with_bookings:
        per_session = await load_each(
            _bookings_loader(info, with_aggregator_ids), [r.id for r in rows]
        )
        # Counted from the bookings shown (all of each session's): no query of their own.
        counts = [counts_of([b.row for b in bs]) for bs in per_session]
        bookings = [bookings_of(bs) for bs in per_session]
    else:
        counts = await load_each(loaders.counts, [r.id for r in rows])
    sessions = []
    for row, activity, venue, count, booked in zip(
        rows, activities, venues, counts, bookings, strict=True
    ):
        assert activity is not None and venue is not None
        held = SessionHeld(activity=activity, venue=venue, counts=count, bookings=booked)
        sessions.append(Session(row=row, held=held))
    return sessions


def _bookings_loader(
    info: Info, with_aggregator_ids: bool
) -> DataLoader[uuid.UUID, list[ListedBooking]]:
    """Sessions' bookings with their customers and products; with the customers'
    aggregator ids in the same statement when the list shows them
    (`Loaders._bookings_by_session`)."""
    loaders = info.context.loaders
    if with_aggregator_ids:
        return loaders.bookings_with_aggregator_ids_by_session
    return loaders.bookings_by_session


def bookings_of(listed: Sequence[ListedBooking]) -> list[Booking]:
    """Bookings holding what they were listed with: customers, products (and aggregator
    ids, when the list shows them)."""
    return [
        Booking(row=row, held=BookingHeld(customer=customer, product=product, aggregator_ids=ids))
        for row, customer, product, ids in listed
    ]


def _venue_id(self: visit_report.VisitRow) -> strawberry.ID:
    return strawberry.ID(str(self.venue_id))


def _activity_id(self: visit_report.VisitRow) -> strawberry.ID | None:
    return strawberry.ID(str(self.activity_id)) if self.activity_id is not None else None


@strawberry.type(
    description="Aggregator bookings of one aggregator, venue-local month and venue (and, in "
    "the drill-downs, activity or member id), counted by each booking's latest entry in the "
    "booking history (docs/aggregator-visit-report.md)."
)
class AggregatorVisitRow:
    """Resolved straight from the domain's `visit_report.VisitRow` tuples: the plain
    fields are their attributes, the ids are read by functions of the tuple. A report has
    thousands of rows; building an object per row cost more than the rest of the row."""

    aggregator: Aggregator
    month: str = strawberry.field(description="YYYY-MM, venue-local (the session's month).")
    venue_id: strawberry.ID = strawberry.field(resolver=_venue_id)
    venue_name: str
    activity_id: strawberry.ID | None = strawberry.field(
        resolver=_activity_id, description="In `byActivity` only."
    )
    activity_name: str | None = strawberry.field(description="In `byActivity` only.")
    member_id: str | None = strawberry.field(
        description="In `byMember` only: the aggregator's member id."
    )
    check_ins: int = strawberry.field(description="Visits: bookings signed in.")
    late_cancellations: int = strawberry.field(
        description="Cancelled after the free-cancellation period."
    )
    no_shows: int = strawberry.field(
        description="Booked, not cancelled, marked as not having come."
    )
    early_cancellations: int = strawberry.field(
        description="Cancelled within the free-cancellation period."
    )
    session_cancellations: int = strawberry.field(
        description="Cancelled because the studio cancelled the session."
    )
    open: int = strawberry.field(
        description="Still booked: neither signed in nor marked as no-show."
    )


VisitRows = dict[visit_report.Breakdown, list[visit_report.VisitRow]]


@strawberry.type(description="What aggregators owe for: visits, late cancellations, no-shows.")
class AggregatorVisitReport:
    company_id: strawberry.Private[uuid.UUID]
    query: strawberry.Private[visit_report.VisitReportQuery]
    levels: strawberry.Private[frozenset[visit_report.Breakdown]]
    """The levels the request selects: read together, in one statement."""
    read: strawberry.Private[asyncio.Future[VisitRows] | None] = None

    async def _rows(self, info: Info, by: visit_report.Breakdown) -> list[AggregatorVisitRow]:
        if self.read is None:  # the first of the fields reads for all (they run concurrently)
            self.read = asyncio.ensure_future(self._read(info, self.levels | {by}))
        found = await self.read
        if by not in found:  # not foreseen (should not happen): read it alone
            found = await self._read(info, {by})
        # The tuples are the rows (see AggregatorVisitRow).
        return cast(list[AggregatorVisitRow], found[by])

    async def _read(self, info: Info, levels: Collection[visit_report.Breakdown]) -> VisitRows:
        async with info.context.read() as db:
            return await visit_report.visit_reports(
                db=db, company_id=self.company_id, query=self.query, levels=levels
            )

    @strawberry.field(description="Per aggregator, month and venue.")
    async def rows(self, info: Info) -> list[AggregatorVisitRow]:
        return await self._rows(info, visit_report.Breakdown.VENUE)

    @strawberry.field(description="Per aggregator, month, venue and activity.")
    async def by_activity(self, info: Info) -> list[AggregatorVisitRow]:
        return await self._rows(info, visit_report.Breakdown.ACTIVITY)

    @strawberry.field(description="Per aggregator, month, venue and member id.")
    async def by_member(self, info: Info) -> list[AggregatorVisitRow]:
        return await self._rows(info, visit_report.Breakdown.MEMBER)


@strawberry.type(
    description="Sessions scheduled together (a weekly repeat), and how the series goes on: "
    "without `until` it is scheduled ahead for a rolling horizon."
)
class SessionSeries:
    row: strawberry.Private[tables.SessionSeries]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    async def activity(self, info: Info) -> Activity:
        row = await info.context.loaders.activity.load(self.row.activity_id)
        assert row is not None
        return Activity(row=row)

    @strawberry.field
    async def venue(self, info: Info) -> Venue:
        row = await info.context.loaders.venue.load(self.row.venue_id)
        assert row is not None
        return Venue(row=row)

    @strawberry.field(description="ISO weekdays (1 = Monday).")
    def weekdays(self) -> list[int]:
        return sorted(self.row.weekday_set)

    @strawberry.field(description="Venue-local start time of its sessions.")
    def start_time(self) -> time:
        return self.row.start_time

    @strawberry.field
    def duration_minutes(self) -> int:
        return self.row.duration_minutes

    @strawberry.field
    def room(self) -> str | None:
        return self.row.room

    @strawberry.field
    def teacher(self) -> str | None:
        return self.row.teacher

    @strawberry.field
    def capacity_override(self) -> int | None:
        return self.row.capacity_override

    @strawberry.field(description="Venue-local day of the first session.")
    def first_date(self) -> date:
        return self.row.first_date

    @strawberry.field(description="Last day (inclusive); null: rolling, extended periodically.")
    def until(self) -> date | None:
        return self.row.until

    @strawberry.field(description="Sessions are scheduled up to this venue-local day.")
    def scheduled_through(self) -> date:
        return self.row.scheduled_through

    @strawberry.field(
        description="Its sessions in start order, past and cancelled ones included: from "
        "the venue-local day fromDate on (all when left out), at most 366."
    )
    async def sessions(self, info: Info, from_date: date | None = None) -> list[Session]:
        async with info.context.read() as db:
            rows = await series_model.series_sessions(
                db=db,
                series=self.row,
                from_date=from_date,
                changeable=False,
                limit=series_model.SERIES_PAGE,
            )
        return [Session(row=r) for r in rows]


@strawberry.type(description="A series and the sessions editSeries or cancelSeries changed.")
class SeriesChange:
    series: SessionSeries
    sessions: list[Session] = strawberry.field(
        description="Each session changed (or cancelled), as if one by one."
    )
