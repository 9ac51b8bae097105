"""Staff mutations: parse, authorize, call the domain function, format. No rules here."""

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import date, time

import strawberry

from classbridge.graph.context import Info
from classbridge.graph.ids import parse_id
from classbridge.graph.inputs import to_domain
from classbridge.graph.scalars import LocalDateTime
from classbridge.graph.staff.permissions import Anyone, AnyStaff, OwnerOnly
from classbridge.graph.staff.types import (
    Activity,
    ActivityKind,
    Aggregator,
    AggregatorMode,
    Booking,
    Customer,
    LoginResult,
    Product,
    ProductKind,
    SeriesChange,
    Session,
    SessionSeries,
    StaffUser,
    UpdateVenueResult,
    Venue,
)
from classbridge.models import activity as activity_model
from classbridge.models import booking as booking_model
from classbridge.models import company as company_model
from classbridge.models import customer as customer_model
from classbridge.models import merge, privacy, session_cancellation, tables
from classbridge.models import product as product_model
from classbridge.models import series as series_model
from classbridge.models import session as session_model
from classbridge.models import staff as staff_model
from classbridge.models.inputs.activity import ActivityCreate, ActivityUpdate, RegistrationRules
from classbridge.models.inputs.company import VenueCreate, VenueUpdate
from classbridge.models.inputs.customer import CustomerCreate, CustomerUpdate
from classbridge.models.inputs.session import SeriesEdit, SessionEdit, SessionSchedule
from classbridge.models.tables import ActivityKind as ActivityKindEnum
from classbridge.models.tables import BookingSource
from classbridge.models.tables import StaffUser as StaffUserRow

# Inputs name their fields as the domain's inputs do (models/inputs/); `name=` gives the
# schema's spelling where it differs. graph/inputs.py converts them in one place.


@strawberry.input(description="Registration rules; fields left out keep their value.")
class RegistrationRulesInput:
    max_participants: int | None = strawberry.UNSET
    booking_opens_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, name="bookingOpensMinutesBeforeStart"
    )
    booking_closes_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, name="bookingClosesMinutesBeforeStart"
    )
    free_cancellation_minutes: int | None = strawberry.field(
        default=strawberry.UNSET, name="freeCancellationMinutesBeforeStart"
    )
    allow_aggregator_bookings: bool | None = strawberry.UNSET
    aggregator_limit: int | None = strawberry.UNSET


@strawberry.input
class CreateActivityInput:
    name: str
    description: str | None = None
    sport: str = "Fitness"
    kind: ActivityKind = ActivityKindEnum.CLASS
    default_duration_minutes: int = 60
    rules: RegistrationRulesInput | None = strawberry.field(default=None, name="registrationRules")


@strawberry.input(description="Fields left out keep their value.")
class UpdateActivityInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    sport: str | None = strawberry.UNSET
    kind: ActivityKind | None = strawberry.UNSET
    default_duration_minutes: int | None = strawberry.UNSET


@strawberry.input(
    description="Repeat weekly on these ISO weekdays (1 = Monday) until a date; without one, "
    "for a rolling horizon (CLASSBRIDGE_SERIES_HORIZON_DAYS) extended periodically."
)
class WeeklyRepeatInput:
    weekdays: list[int]
    until: date | None = strawberry.field(
        default=None, description="Last day (inclusive), venue-local; null: no end."
    )


@strawberry.input
class ScheduleSessionsInput:
    activity_id: strawberry.ID
    venue_id: strawberry.ID
    start: LocalDateTime = strawberry.field(description="Venue-local start of the first session.")
    duration_minutes: int | None = strawberry.field(
        default=None, description="Defaults to the activity's duration."
    )
    room: str | None = None
    teacher: str | None = None
    capacity_override: int | None = None
    repeat: WeeklyRepeatInput | None = None


@strawberry.input(description="Fields left out keep their value; null clears an override.")
class EditSessionInput:
    start: LocalDateTime | None = strawberry.UNSET
    duration_minutes: int | None = strawberry.UNSET
    room: str | None = strawberry.UNSET
    teacher: str | None = strawberry.UNSET
    capacity_override: int | None = strawberry.UNSET
    aggregator_mode: AggregatorMode | None = strawberry.UNSET
    aggregator_allowed: bool | None = strawberry.UNSET
    aggregator_limit: int | None = strawberry.UNSET


@strawberry.input(
    description="A change to every session of a series from a date on; fields left out keep "
    "their value, null clears an override."
)
class EditSeriesInput:
    start_time: time | None = strawberry.field(
        default=strawberry.UNSET, description="New venue-local start time of each session."
    )
    duration_minutes: int | None = strawberry.UNSET
    room: str | None = strawberry.UNSET
    teacher: str | None = strawberry.UNSET
    capacity_override: int | None = strawberry.UNSET
    aggregator_mode: AggregatorMode | None = strawberry.UNSET
    aggregator_allowed: bool | None = strawberry.UNSET
    aggregator_limit: int | None = strawberry.UNSET


@strawberry.input
class CustomerInput:
    first_name: str | None = strawberry.UNSET
    last_name: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    birthday: date | None = strawberry.UNSET
    notes: str | None = strawberry.UNSET
    street: str | None = strawberry.UNSET
    zip: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET


@strawberry.input(description="A point on the map (WGS 84).")
class CoordinatesInput:
    latitude: float = strawberry.field(description="Degrees north, -90 to 90.")
    longitude: float = strawberry.field(description="Degrees east, -180 to 180.")


@strawberry.input
class VenueInput:
    name: str
    timezone: str = strawberry.field(description='IANA time zone, e.g. "Europe/Berlin".')
    street: str | None = None
    zip: str | None = None
    city: str | None = None
    country: str | None = None
    phone: str | None = None
    email: str | None = None
    website: str | None = strawberry.field(default=None, description="An http(s) address.")
    coordinates: CoordinatesInput | None = None


@strawberry.input(
    description="Fields left out keep their value; null clears one (not name or timezone)."
)
class UpdateVenueInput:
    name: str | None = strawberry.UNSET
    timezone: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="IANA time zone; sessions keep their instants, their local times follow.",
    )
    street: str | None = strawberry.UNSET
    zip: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    phone: str | None = strawberry.UNSET
    email: str | None = strawberry.UNSET
    website: str | None = strawberry.UNSET
    coordinates: CoordinatesInput | None = strawberry.UNSET


SignInStep = Callable[..., Awaitable[tables.Booking]]


async def _sign_in_step(
    info: Info, booking_id: strawberry.ID, step: SignInStep, **settings: object
) -> Booking:
    """Check in, undo or no-show: the same parse, authorize, call, format."""
    actor = info.context.require_staff()
    async with info.context.transaction() as db:
        booking = await step(
            db=db,
            company_id=actor.company_id,
            booking_id=parse_id(booking_id, field="bookingId"),
            **settings,
        )
    return Booking(row=booking)


@strawberry.type
class StaffMutation:
    @strawberry.mutation(
        description="Sign in; returns a bearer token.", permission_classes=[Anyone]
    )
    async def login(self, info: Info, email: str, password: str) -> LoginResult:
        limit = info.context.login_limit
        async with AsyncExitStack() as stack:
            if limit is not None:  # brute force: failed attempts count, RATE_LIMITED when spent
                await stack.enter_async_context(
                    limit.login(email=email, address=info.context.client_address())
                )
            async with info.context.transaction() as db:
                token = await staff_model.login(
                    db=db,
                    email=email,
                    password=password,
                    ttl_days=info.context.settings.token_ttl_days,
                )
                actor = await staff_model.authenticate(db=db, token=token)
                assert actor is not None
                user = await db.get(StaffUserRow, actor.user_id)
        assert user is not None
        return LoginResult(token=token, user=StaffUser(row=user))

    @strawberry.mutation(
        description="Revoke the token this request was sent with.", permission_classes=[AnyStaff]
    )
    async def logout(self, info: Info) -> bool:
        info.context.require_staff()
        assert info.context.token is not None
        async with info.context.transaction() as db:
            return await staff_model.logout(db=db, token=info.context.token)

    @strawberry.mutation(description="Add a venue (owners only).", permission_classes=[OwnerOnly])
    async def create_venue(self, info: Info, input: VenueInput) -> Venue:
        actor = info.context.require_staff()
        venue = to_domain(VenueCreate, input, at="input")
        async with info.context.transaction() as db:
            row = await company_model.create_venue(db=db, company_id=actor.company_id, venue=venue)
        return Venue(row=row)

    @strawberry.mutation(
        description="Change a venue (owners only). A new time zone keeps every session at "
        "its instant; the answer says how many upcoming sessions now read other local times.",
        permission_classes=[OwnerOnly],
    )
    async def update_venue(
        self, info: Info, id: strawberry.ID, input: UpdateVenueInput
    ) -> UpdateVenueResult:
        actor = info.context.require_staff()
        changes = to_domain(VenueUpdate, input, at="input")
        async with info.context.transaction() as db:
            change = await company_model.update_venue(
                db=db, company_id=actor.company_id, venue_id=parse_id(id), changes=changes
            )
        notice = None
        if change.previous_timezone is not None:
            notice = (
                f"The time zone changed from {change.previous_timezone} to "
                f"{change.venue.timezone}: {change.sessions_kept} upcoming session(s) keep "
                "their instant; their local times now read in the new zone."
            )
        return UpdateVenueResult(
            venue=Venue(row=change.venue),
            previous_timezone=change.previous_timezone,
            sessions_kept_at_instant=change.sessions_kept,
            notice=notice,
        )

    @strawberry.mutation(permission_classes=[AnyStaff])
    async def create_activity(self, info: Info, input: CreateActivityInput) -> Activity:
        actor = info.context.require_staff()
        activity = to_domain(ActivityCreate, input, at="input")
        async with info.context.transaction() as db:
            row = await activity_model.create_activity(
                db=db, company_id=actor.company_id, activity=activity
            )
        return Activity(row=row)

    @strawberry.mutation(permission_classes=[AnyStaff])
    async def update_activity(
        self, info: Info, id: strawberry.ID, input: UpdateActivityInput
    ) -> Activity:
        actor = info.context.require_staff()
        changes = to_domain(ActivityUpdate, input, at="input")
        async with info.context.transaction() as db:
            row = await activity_model.update_activity(
                db=db, company_id=actor.company_id, activity_id=parse_id(id), changes=changes
            )
        return Activity(row=row)

    @strawberry.mutation(
        description="Archive an activity (or restore it with archived: false).",
        permission_classes=[AnyStaff],
    )
    async def archive_activity(
        self, info: Info, id: strawberry.ID, archived: bool = True
    ) -> Activity:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            activity = await activity_model.set_archived(
                db=db, company_id=actor.company_id, activity_id=parse_id(id), archived=archived
            )
        return Activity(row=activity)

    @strawberry.mutation(
        description="Change an activity's registration rules.", permission_classes=[AnyStaff]
    )
    async def update_registration_rules(
        self, info: Info, activity_id: strawberry.ID, input: RegistrationRulesInput
    ) -> Activity:
        actor = info.context.require_staff()
        rules = to_domain(RegistrationRules, input, at="input")
        async with info.context.transaction() as db:
            activity = await activity_model.update_rules(
                db=db,
                company_id=actor.company_id,
                activity_id=parse_id(activity_id, field="activityId"),
                rules=rules,
            )
        return Activity(row=activity)

    @strawberry.mutation(
        description="Schedule one session, or a weekly series.", permission_classes=[AnyStaff]
    )
    async def schedule_sessions(self, info: Info, input: ScheduleSessionsInput) -> list[Session]:
        actor = info.context.require_staff()
        schedule = to_domain(SessionSchedule, input, at="input")
        async with info.context.transaction() as db:
            sessions = await session_model.schedule_sessions(
                db=db,
                company_id=actor.company_id,
                schedule=schedule,
                horizon_days=info.context.settings.series_horizon_days,
            )
        return [Session(row=s) for s in sessions]

    @strawberry.mutation(permission_classes=[AnyStaff])
    async def edit_session(self, info: Info, id: strawberry.ID, input: EditSessionInput) -> Session:
        actor = info.context.require_staff()
        changes = to_domain(SessionEdit, input, at="input")
        async with info.context.transaction() as db:
            session = await session_model.edit_session(
                db=db, company_id=actor.company_id, session_id=parse_id(id), changes=changes
            )
        return Session(row=session)

    @strawberry.mutation(
        description="Cancel a session: bookings still BOOKED are cancelled (SESSION); "
        "check-ins and no-shows keep their status.",
        permission_classes=[AnyStaff],
    )
    async def cancel_session(
        self, info: Info, id: strawberry.ID, reason: str | None = None
    ) -> Session:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            session = await session_cancellation.cancel_session(
                db=db, company_id=actor.company_id, session_id=parse_id(id), reason=reason
            )
        return Session(row=session)

    @strawberry.mutation(
        description="Change every session of a series from a venue-local date on (those not "
        "started or cancelled), each exactly as editSession would, and how the series goes on.",
        permission_classes=[AnyStaff],
    )
    async def edit_series(
        self, info: Info, id: strawberry.ID, from_date: date, input: EditSeriesInput
    ) -> SeriesChange:
        actor = info.context.require_staff()
        changes = to_domain(SeriesEdit, input, at="input")
        async with info.context.transaction() as db:
            change = await series_model.edit_series(
                db=db,
                company_id=actor.company_id,
                series_id=parse_id(id),
                from_date=from_date,
                changes=changes,
            )
        return SeriesChange(
            series=SessionSeries(row=change.series),
            sessions=[Session(row=s) for s in change.sessions],
        )

    @strawberry.mutation(
        description="Cancel every session of a series from a venue-local date on (those not "
        "started or cancelled), each exactly as cancelSession would; the series ends there.",
        permission_classes=[AnyStaff],
    )
    async def cancel_series(
        self, info: Info, id: strawberry.ID, from_date: date, reason: str | None = None
    ) -> SeriesChange:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            change = await series_model.cancel_series(
                db=db,
                company_id=actor.company_id,
                series_id=parse_id(id),
                from_date=from_date,
                reason=reason,
            )
        return SeriesChange(
            series=SessionSeries(row=change.series),
            sessions=[Session(row=s) for s in change.sessions],
        )

    @strawberry.mutation(permission_classes=[AnyStaff])
    async def create_customer(self, info: Info, input: CustomerInput) -> Customer:
        actor = info.context.require_staff()
        customer = to_domain(CustomerCreate, input, at="input")
        async with info.context.transaction() as db:
            row = await customer_model.create_customer(
                db=db, company_id=actor.company_id, customer=customer
            )
        return Customer(row=row)

    @strawberry.mutation(
        description="Change a customer; fields left out keep their value.",
        permission_classes=[AnyStaff],
    )
    async def update_customer(
        self, info: Info, id: strawberry.ID, input: CustomerInput
    ) -> Customer:
        actor = info.context.require_staff()
        changes = to_domain(CustomerUpdate, input, at="input")
        async with info.context.transaction() as db:
            row = await customer_model.update_customer(
                db=db, company_id=actor.company_id, customer_id=parse_id(id), changes=changes
            )
        return Customer(row=row)

    @strawberry.mutation(
        description="Anonymise a customer (owners only): names, contact, birthday, notes, "
        "address and aggregator ids go; bookings stay for counts and reports. Refused with "
        "CUSTOMER_HAS_UPCOMING_BOOKINGS while a booking lies ahead.",
        permission_classes=[OwnerOnly],
    )
    async def erase_customer(self, info: Info, id: strawberry.ID) -> Customer:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            row = await privacy.erase_customer(
                db=db, company_id=actor.company_id, customer_id=parse_id(id)
            )
        return Customer(row=row)

    @strawberry.mutation(
        permission_classes=[AnyStaff],
        description="Fold a duplicate into the survivor: bookings and aggregator IDs move.",
    )
    async def merge_customers(
        self, info: Info, survivor_id: strawberry.ID, merged_id: strawberry.ID
    ) -> Customer:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            customer = await merge.merge_customers(
                db=db,
                company_id=actor.company_id,
                survivor_id=parse_id(survivor_id, field="survivorId"),
                merged_id=parse_id(merged_id, field="mergedId"),
            )
        return Customer(row=customer)

    @strawberry.mutation(
        description="Add a member id at an aggregator to a customer.", permission_classes=[AnyStaff]
    )
    async def add_customer_aggregator_id(
        self,
        info: Info,
        customer_id: strawberry.ID,
        aggregator: Aggregator,
        external_id: str,
    ) -> Customer:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            await customer_model.add_aggregator_id(
                db=db,
                company_id=actor.company_id,
                customer_id=parse_id(customer_id, field="customerId"),
                aggregator=aggregator,
                external_id=external_id,
            )
            customer = await customer_model.get_customer(
                db=db, company_id=actor.company_id, customer_id=parse_id(customer_id)
            )
        return Customer(row=customer)

    @strawberry.mutation(permission_classes=[AnyStaff])
    async def remove_customer_aggregator_id(
        self,
        info: Info,
        customer_id: strawberry.ID,
        aggregator: Aggregator,
        external_id: str,
    ) -> Customer:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            customer = await customer_model.remove_aggregator_id(
                db=db,
                company_id=actor.company_id,
                customer_id=parse_id(customer_id, field="customerId"),
                aggregator=aggregator,
                external_id=external_id,
            )
        return Customer(row=customer)

    @strawberry.mutation(permission_classes=[AnyStaff])
    async def create_product(
        self,
        info: Info,
        name: str,
        kind: ProductKind,
    ) -> Product:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            product = await product_model.create_product(
                db=db, company_id=actor.company_id, name=name, kind=kind
            )
        return Product(row=product)

    @strawberry.mutation(
        description="Stop offering a product (built-in ones cannot be removed).",
        permission_classes=[AnyStaff],
    )
    async def archive_product(self, info: Info, id: strawberry.ID) -> Product:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            product = await product_model.archive_product(
                db=db, company_id=actor.company_id, product_id=parse_id(id)
            )
        return Product(row=product)

    @strawberry.mutation(
        description="Book a customer into a session with a product.", permission_classes=[AnyStaff]
    )
    async def book_customer(
        self,
        info: Info,
        session_id: strawberry.ID,
        customer_id: strawberry.ID,
        product_id: strawberry.ID,
    ) -> Booking:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            booking = await booking_model.book(
                db=db,
                company_id=actor.company_id,
                session_id=parse_id(session_id, field="sessionId"),
                customer_id=parse_id(customer_id, field="customerId"),
                product_id=parse_id(product_id, field="productId"),
                source=BookingSource.STAFF,
            )
        return Booking(row=booking)

    @strawberry.mutation(
        description="Cancel a booking: EARLY or LATE by the activity's rules.",
        permission_classes=[AnyStaff],
    )
    async def cancel_booking(self, info: Info, id: strawberry.ID) -> Booking:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            booking = await booking_model.cancel_booking(
                db=db, company_id=actor.company_id, booking_id=parse_id(id)
            )
        return Booking(row=booking)

    @strawberry.mutation(
        description="Sign a booked customer in at the door; check-in opens "
        "CLASSBRIDGE_CHECK_IN_OPENS_MINUTES before the start (earlier: CHECK_IN_NOT_OPEN).",
        permission_classes=[AnyStaff],
    )
    async def check_in(self, info: Info, booking_id: strawberry.ID) -> Booking:
        return await _sign_in_step(
            info,
            booking_id,
            booking_model.check_in,
            opens_before=info.context.settings.check_in_opens_before,
        )

    @strawberry.mutation(description="Take a check-in back.", permission_classes=[AnyStaff])
    async def undo_check_in(self, info: Info, booking_id: strawberry.ID) -> Booking:
        return await _sign_in_step(info, booking_id, booking_model.undo_check_in)

    @strawberry.mutation(
        description="Mark that a booked customer did not come.", permission_classes=[AnyStaff]
    )
    async def mark_no_show(self, info: Info, booking_id: strawberry.ID) -> Booking:
        return await _sign_in_step(info, booking_id, booking_model.mark_no_show)
