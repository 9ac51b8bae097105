"""Types of the partner API. Names, fields and enum values follow the schema that
aggregators' clients already speak; what they mean is ours (see docs/aggregators.md)."""

import enum
import functools
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Generic, NewType, TypeVar

import strawberry
from strawberry.schema.config import StrawberryConfig

from classbridge.graph.execution import later
from classbridge.graph.loaders import load_each
from classbridge.graph.pagination import PageInfo, encode_cursor
from classbridge.graph.partner.context import PartnerInfo
from classbridge.models import company as company_model
from classbridge.models import tables
from classbridge.models.offer import SessionOffer, format_local
from classbridge.models.session import SessionRow
from classbridge.models.tables import Activity, BookingStatus

T = TypeVar("T")
Cursor = NewType("Cursor", str)

# Stable ids for things we keep as plain names (sport, room, teacher).
_NAMES = uuid.UUID("6f1c2a4e-3b8d-4f7a-9c1e-2d5b8a7f0c31")


# Cached: a page asks for the same few sports, rooms and teachers again and again, and a
# uuid5 (a SHA-1) was a tenth of a partner page's time.
@functools.lru_cache(maxsize=4096)
def name_id(*parts: object) -> strawberry.ID:
    return strawberry.ID(str(uuid.uuid5(_NAMES, "/".join(str(p).casefold() for p in parts))))


def partner_config() -> StrawberryConfig:
    return StrawberryConfig(
        scalar_map={
            Cursor: strawberry.scalar(
                name="Cursor",
                description="An opaque position in a list; pass it back as `after`.",
                serialize=str,
                parse_value=str,
            )
        }
    )


@strawberry.enum(description="How a reservation was cancelled.")
class CancellationType(enum.Enum):
    CANCELLATION_TYPE_NONE = "CANCELLATION_TYPE_NONE"
    CANCELLATION_TYPE_SESSION = "CANCELLATION_TYPE_SESSION"
    CANCELLATION_TYPE_USER_EARLY = "CANCELLATION_TYPE_USER_EARLY"
    CANCELLATION_TYPE_USER_LATE = "CANCELLATION_TYPE_USER_LATE"


@strawberry.enum(description="Where a reservation stands.")
class ReservationStatus(enum.Enum):
    RESERVATION_STATUS_CANCELLED = "RESERVATION_STATUS_CANCELLED"
    RESERVATION_STATUS_CHECKED_IN = "RESERVATION_STATUS_CHECKED_IN"
    RESERVATION_STATUS_ENROLLED = "RESERVATION_STATUS_ENROLLED"


@strawberry.enum(description="A person's gender, where known.")
class Gender(enum.Enum):
    GENDER_FEMALE = "GENDER_FEMALE"
    GENDER_MALE = "GENDER_MALE"
    GENDER_OTHER = "GENDER_OTHER"


_CANCELLATION = {
    tables.CancellationType.NONE: CancellationType.CANCELLATION_TYPE_NONE,
    tables.CancellationType.SESSION: CancellationType.CANCELLATION_TYPE_SESSION,
    tables.CancellationType.EARLY: CancellationType.CANCELLATION_TYPE_USER_EARLY,
    tables.CancellationType.LATE: CancellationType.CANCELLATION_TYPE_USER_LATE,
}
# A no-show keeps its place in the list: for the aggregator it stays enrolled.
_STATUS = {
    BookingStatus.BOOKED: ReservationStatus.RESERVATION_STATUS_ENROLLED,
    BookingStatus.NO_SHOW: ReservationStatus.RESERVATION_STATUS_ENROLLED,
    BookingStatus.CHECKED_IN: ReservationStatus.RESERVATION_STATUS_CHECKED_IN,
    BookingStatus.CANCELLED: ReservationStatus.RESERVATION_STATUS_CANCELLED,
}


def _cursor(self: "Edge[Any]") -> Cursor:
    return Cursor(encode_cursor(self.key))


@strawberry.type
class Edge(Generic[T]):
    cursor: Cursor = strawberry.field(resolver=_cursor)
    node: T
    # The row's sort key: its cursor is encoded only where a page selects it.
    key: strawberry.Private[Sequence[Any]]


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


@strawberry.type(description="A postal address.")
class Address:
    city: str | None
    country: str | None
    street: str | None
    zip: str | None


@strawberry.type(description="A point on the map (WGS 84).")
class Coordinate:
    latitude: float
    longitude: float


@strawberry.type(description="Where a session takes place: the venue's address.")
class Location:
    id: strawberry.ID
    city: str | None
    country: str | None
    street: str | None
    zip: str | None


def _address(venue: tables.Venue) -> Address:
    return Address(city=venue.city, country=venue.country, street=venue.street, zip=venue.zip)


def _coordinate(venue: tables.Venue) -> Coordinate | None:
    if venue.latitude is None or venue.longitude is None:
        return None
    return Coordinate(latitude=venue.latitude, longitude=venue.longitude)


@strawberry.type(description="A studio business connected to you.")
class Company:
    row: strawberry.Private[tables.Company]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(description="The company's venues (locations).")
    async def venues(
        self, info: PartnerInfo, after: Cursor | None = None, first: int = 50
    ) -> Connection["Venue"]:
        from classbridge.graph.partner.queries import venue_page

        return await venue_page(info, after=after, first=first, company_id=self.row.id)


@strawberry.type(description="A location of a studio.")
class Venue:
    row: strawberry.Private[tables.Venue]
    link: strawberry.Private[tuple[str | None] | None] = None
    """Your id of the venue, when the builder loaded it: (id or None,)."""

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def address(self) -> Address:
        return _address(self.row)

    @strawberry.field(description="Your own id for this venue, once you set it.")
    def aggregator_venue_id(self, info: PartnerInfo) -> str | None:
        if self.link is not None:  # held: a session's venue (sessions_of)
            return self.link[0]
        return later(info.context.venue_link.load(self.row.id))

    @strawberry.field
    async def company(self, info: PartnerInfo) -> Company:
        row = await info.context.loaders.company.load(self.row.company_id)
        assert row is not None
        return Company(row=row)

    @strawberry.field
    def coordinate(self) -> Coordinate | None:
        return _coordinate(self.row)

    @strawberry.field
    def email(self) -> str | None:
        return self.row.email

    @strawberry.field
    def phone(self) -> str | None:
        return self.row.phone

    @strawberry.field
    def website(self) -> str | None:
        return self.row.website

    @strawberry.field(description="IANA time zone of the venue, e.g. Europe/Berlin.")
    def timezone(self) -> str:
        return self.row.timezone

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(description="Sessions on offer here in the next 14 days.")
    async def sessions(
        self, info: PartnerInfo, after: Cursor | None = None, first: int = 50
    ) -> Connection["Session"]:
        from classbridge.graph.partner.queries import session_page

        return await session_page(info, after=after, first=first, venue_id=self.row.id)


@strawberry.type(name="Class", description="A class type (activity) of a studio.")
class ClassType:
    row: strawberry.Private[Activity]
    venue_id: strawberry.Private[uuid.UUID | None]
    venue_held: strawberry.Private[Venue | None] = None

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at

    @strawberry.field(
        description="The venue of the session it was reached through, else "
        "the studio's first venue."
    )
    def venue(self, info: PartnerInfo) -> Venue:
        if self.venue_held is not None:  # reached through a listed session
            return self.venue_held
        return later(self._venue(info))

    async def _venue(self, info: PartnerInfo) -> Venue:
        if self.venue_id is not None:
            row = await info.context.loaders.venue.load(self.venue_id)
        else:
            async with info.context.read() as db:
                venues = await company_model.list_venues(db=db, company_id=self.row.company_id)
            row = venues[0]
        assert row is not None
        return Venue(row=row)


@strawberry.type(description="A sport (the studio's category of a class).")
class Sport:
    id: strawberry.ID
    name: str = strawberry.field(description="The sport's name as the studio wrote it.")


@strawberry.type(description="A room of a venue.")
class Room:
    id: strawberry.ID
    name: str
    updated_at: datetime


@strawberry.type(description="Who teaches a session.")
class Teacher:
    id: strawberry.ID
    name: str
    updated_at: datetime
    description: str | None = None
    gender: Gender | None = None


@strawberry.type(description="Online stream details; no session is streamed yet.")
class OnlineStreamInformation:
    online_stream_link: str | None = strawberry.field(
        default=None, deprecation_reason="Per-participant links are on Reservation."
    )
    password: str | None = strawberry.field(
        default=None, deprecation_reason="Per-participant links are on Reservation."
    )
    raw_online_stream_link: str | None = strawberry.field(
        default=None, deprecation_reason="Per-participant links are on Reservation."
    )


@strawberry.type(
    description="One appointment of a class. A session that was cancelled by the studio, "
    "or that is no longer offered to you, has isCancelled: true."
)
class Session:
    """Built by `sessions_of` with everything its fields read (the offer, venue and
    activity rows, loaded for a whole page at once), so those fields resolve
    synchronously; only lists of other things (reservations) load."""

    row: strawberry.Private[SessionRow]
    offer: strawberry.Private[SessionOffer]
    venue_row: strawberry.Private[tables.Venue]
    activity: strawberry.Private[Activity]
    venue_link: strawberry.Private[str | None]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.offer.name

    @strawberry.field
    def description(self) -> str | None:
        return self.offer.description

    @strawberry.field(name="class")
    def class_(self) -> ClassType:
        return ClassType(row=self.activity, venue_id=self.row.venue_id, venue_held=self.venue())

    def venue(self) -> Venue:
        return Venue(row=self.venue_row, link=(self.venue_link,))

    @strawberry.field
    def sport(self) -> Sport:
        name = self.offer.sport
        return Sport(id=name_id("sport", name), name=name)

    @strawberry.field(name="venue")
    def venue_(self) -> Venue:
        return self.venue()

    @strawberry.field
    def location(self) -> Location:
        v = self.venue_row
        return Location(
            id=strawberry.ID(str(v.id)), city=v.city, country=v.country, street=v.street, zip=v.zip
        )

    @strawberry.field(deprecation_reason="Use `location`: it has the same address and an id.")
    def address(self) -> Address:
        return _address(self.venue_row)

    @strawberry.field
    def coordinate(self) -> Coordinate | None:
        return _coordinate(self.venue_row)

    @strawberry.field
    def room(self) -> Room | None:
        if not self.row.room:
            return None
        return Room(
            id=name_id("room", self.row.venue_id, self.row.room),
            name=self.row.room,
            updated_at=self.row.updated_at,
        )

    @strawberry.field
    def teachers(self) -> list[Teacher]:
        if not self.row.teacher:
            return []
        return [
            Teacher(
                id=name_id("teacher", self.row.company_id, self.row.teacher),
                name=self.row.teacher,
                updated_at=self.row.updated_at,
            )
        ]

    @strawberry.field(
        description="Start, venue-local time with UTC offset (YYYY-MM-DDTHH:mm:ss±hh:mm)."
    )
    def startv2(self) -> str:
        return format_local(self.offer.start_local, with_offset=True)

    @strawberry.field(description="End, venue-local time with UTC offset.")
    def endv2(self) -> str:
        return format_local(self.offer.end_local, with_offset=True)

    @strawberry.field(
        description="Start, venue-local time without offset (YYYY-MM-DDTHH:mm).",
        deprecation_reason="Use startv2: it carries the UTC offset.",
    )
    def start(self) -> str:
        return format_local(self.offer.start_local, with_offset=False)

    @strawberry.field(
        description="End, venue-local time without offset.",
        deprecation_reason="Use endv2: it carries the UTC offset.",
    )
    def end(self) -> str:
        return format_local(self.offer.end_local, with_offset=False)

    @strawberry.field(
        description="True when the studio cancelled it or it is no longer "
        "offered to you; book nothing into it."
    )
    def is_cancelled(self) -> bool:
        return self.offer.shown_cancelled

    @strawberry.field(description="When it was cancelled (or withdrawn from you).")
    def cancelled_at(self) -> datetime | None:
        offer = self.offer
        if offer.cancelled_at is not None:
            return offer.cancelled_at
        return None if offer.offered else offer.updated_at

    @strawberry.field(description="Capacity; null means unlimited.")
    def total_spots(self) -> int | None:
        return self.offer.total_spots

    @strawberry.field(
        description="How many spots aggregators may take in total; null means no separate limit."
    )
    def total_aggregator_spots(self) -> int | None:
        return self.offer.total_aggregator_spots

    @strawberry.field(
        description="What you can still book now: the smaller of the free spots "
        "and what is left of the aggregator limit; null means unlimited."
    )
    def available_spots(self) -> int | None:
        return self.offer.available_spots

    @strawberry.field(
        description="Booking opens this long before the start (HH:MM); null means it is open now."
    )
    def booking_window_start(self) -> str | None:
        return self.offer.booking_window_start

    @strawberry.field(
        description="Booking closes this long before the start (HH:MM); null "
        "means it stays open until the session ends."
    )
    def booking_window_end(self) -> str | None:
        return self.offer.booking_window_end

    @strawberry.field(
        description="Cancelling later than this before the start (HH:MM) is a late cancellation."
    )
    def late_cancel_window(self) -> str:
        return self.offer.late_cancel_window

    @strawberry.field
    def has_online_stream(self) -> bool:
        return False

    @strawberry.field(deprecation_reason="Per-participant links are on Reservation.")
    def online_stream_information(self) -> OnlineStreamInformation | None:
        return None

    @strawberry.field(description="Grows with every change you can see; drop older updates.")
    def version(self) -> int:
        return self.offer.version

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.offer.updated_at

    @strawberry.field(description="Your own reservations of this session.")
    async def reservations(
        self, info: PartnerInfo, after: Cursor | None = None, first: int = 50
    ) -> Connection["Reservation"]:
        from classbridge.graph.partner.queries import reservation_page

        return await reservation_page(info, session_id=self.row.id, after=after, first=first)


async def sessions_of(info: PartnerInfo, rows: Sequence[SessionRow]) -> list[Session]:
    """`Session` objects for rows, with what their fields read: offers, venues and
    activities each loaded once for all rows (DataLoaders: nested lists batch too). The
    rows are primed, so the offers are made from them, not from the rows read again."""
    context = info.context
    context.loaders.session.prime_many({r.id: r for r in rows})
    offers = await load_each(context.offer, [r.id for r in rows])
    venues = await load_each(context.loaders.venue, [r.venue_id for r in rows])
    activities = await load_each(context.loaders.activity, [r.activity_id for r in rows])
    links = await load_each(context.venue_link, [r.venue_id for r in rows])
    sessions = []
    for row, offer, venue, activity, link in zip(
        rows, offers, venues, activities, links, strict=True
    ):
        assert venue is not None and activity is not None
        sessions.append(
            Session(row=row, offer=offer, venue_row=venue, activity=activity, venue_link=link)
        )
    return sessions


@strawberry.type(
    description="A member's place in a session, booked by you (or by a waitlist promotion of "
    "your member's WaitlistEntry)."
)
class Reservation:
    row: strawberry.Private[tables.Booking]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def status(self) -> ReservationStatus:
        return _STATUS[self.row.status]

    @strawberry.field
    def cancellation_type(self) -> CancellationType:
        return _CANCELLATION[self.row.cancellation_type]

    @strawberry.field(
        description="True when the studio marked that your member held the spot but did not "
        "come (status stays RESERVATION_STATUS_ENROLLED); a later check-in clears it."
    )
    def is_no_show(self) -> bool:
        return self.row.status is BookingStatus.NO_SHOW

    @strawberry.field(description="Your member id (UserInput.id).")
    async def user_id(self, info: PartnerInfo) -> str:
        return await info.context.member_id.load(self.row.customer_id)

    @strawberry.field
    async def session(self, info: PartnerInfo) -> Session:
        row = await info.context.loaders.session.load(self.row.session_id)
        assert row is not None
        (session,) = await sessions_of(info, [row])
        return session

    @strawberry.field
    def online_stream_link(self) -> str | None:
        return None

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at


@strawberry.enum(description="Where a waitlist entry stands.")
class WaitlistEntryStatus(enum.Enum):
    WAITLIST_ENTRY_STATUS_WAITING = "WAITLIST_ENTRY_STATUS_WAITING"
    WAITLIST_ENTRY_STATUS_PROMOTED = "WAITLIST_ENTRY_STATUS_PROMOTED"
    WAITLIST_ENTRY_STATUS_LEFT = "WAITLIST_ENTRY_STATUS_LEFT"
    WAITLIST_ENTRY_STATUS_EXPIRED = "WAITLIST_ENTRY_STATUS_EXPIRED"


_WAITLIST_STATUS = {
    tables.WaitlistStatus.WAITING: WaitlistEntryStatus.WAITLIST_ENTRY_STATUS_WAITING,
    tables.WaitlistStatus.PROMOTED: WaitlistEntryStatus.WAITLIST_ENTRY_STATUS_PROMOTED,
    tables.WaitlistStatus.LEFT: WaitlistEntryStatus.WAITLIST_ENTRY_STATUS_LEFT,
    tables.WaitlistStatus.EXPIRED: WaitlistEntryStatus.WAITLIST_ENTRY_STATUS_EXPIRED,
}


@strawberry.type(
    description="Your member waiting for a spot in a full session. When a spot frees before "
    "the booking window closes, the first in line (within your spot limit) is booked: the "
    "entry becomes WAITLIST_ENTRY_STATUS_PROMOTED with its reservation. Entries still waiting "
    "when the window closes become WAITLIST_ENTRY_STATUS_EXPIRED. Changes the studio side "
    "makes (promoted, expired, ended by staff) are also pushed as signed waitlist events "
    "with these status names (docs/aggregator-push.md)."
)
class WaitlistEntry:
    row: strawberry.Private[tables.WaitlistEntry]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def status(self) -> WaitlistEntryStatus:
        return _WAITLIST_STATUS[self.row.status]

    @strawberry.field(
        description="Place in the session's whole waitlist (lower is earlier; numbers are "
        "not reused, and other members' and the studio's entries share the sequence)."
    )
    def position(self) -> int:
        return self.row.position

    @strawberry.field(description="Your member id (UserInput.id).")
    async def user_id(self, info: PartnerInfo) -> str:
        return await info.context.member_id.load(self.row.customer_id)

    @strawberry.field
    async def session(self, info: PartnerInfo) -> Session:
        row = await info.context.loaders.session.load(self.row.session_id)
        assert row is not None
        (session,) = await sessions_of(info, [row])
        return session

    @strawberry.field(description="The reservation it became (status PROMOTED).")
    async def reservation(self, info: PartnerInfo) -> Reservation | None:
        if self.row.booking_id is None:
            return None
        async with info.context.read() as db:
            row = await db.get(tables.Booking, self.row.booking_id)
        return Reservation(row=row) if row is not None else None

    @strawberry.field
    def created_at(self) -> datetime:
        return self.row.joined_at

    @strawberry.field
    def updated_at(self) -> datetime:
        return self.row.updated_at


@strawberry.input(description="A postal address.")
class AddressInput:
    city: str
    country: str
    street: str
    zip: str


@strawberry.input(
    description="Your member; `id` is your member id and matches them to the "
    "studio's customer profile."
)
class UserInput:
    id: str
    first_name: str
    last_name: str
    email: str | None = None
    phone: str | None = None
    birthday: date | None = None
    address: AddressInput | None = None
