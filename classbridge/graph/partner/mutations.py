"""Partner mutations: every booking goes through models.booking via models.reservation."""

import strawberry

from classbridge.graph.ids import parse_id
from classbridge.graph.inputs import to_domain
from classbridge.graph.partner.context import PartnerInfo
from classbridge.graph.partner.types import Reservation, UserInput, Venue, WaitlistEntry
from classbridge.models import extension as extension_model
from classbridge.models import reservation as reservation_model
from classbridge.models.inputs.customer import Member


@strawberry.type
class PartnerMutation:
    @strawberry.mutation(
        description="Book your member into a session. Retrying for the same member and "
        "session returns the existing reservation; nothing is booked twice."
    )
    async def make_reservation(
        self,
        info: PartnerInfo,
        session_id: strawberry.ID,
        user: UserInput,
        checked_in: bool | None = None,
    ) -> Reservation:
        async with info.context.transaction() as db:
            booking = await reservation_model.make_reservation(
                db=db,
                aggregator=info.context.who,
                session_id=parse_id(session_id, field="sessionId"),
                member=to_domain(Member, user, at="user"),
                checked_in=bool(checked_in),
                check_in_opens_before=info.context.settings.check_in_opens_before,
            )
        # The member it was made for: userId needs no read after the commit.
        info.context.member_id.prime(booking.customer_id, user.id)
        return Reservation(row=booking)

    @strawberry.mutation(
        description="Cancel a reservation. isLateCancellation decides early or late; left out, "
        "the studio's late-cancel window decides. Cancelling again changes nothing."
    )
    async def cancel_reservation(
        self,
        info: PartnerInfo,
        reservation_id: strawberry.ID,
        is_late_cancellation: bool | None = None,
    ) -> Reservation:
        async with info.context.transaction() as db:
            booking = await reservation_model.cancel_reservation(
                db=db,
                aggregator=info.context.who,
                reservation_id=parse_id(reservation_id, field="reservationId"),
                late=is_late_cancellation,
            )
        return Reservation(row=booking)

    @strawberry.mutation(description="Check your member in; checking in again changes nothing.")
    async def check_in(self, info: PartnerInfo, reservation_id: strawberry.ID) -> Reservation:
        async with info.context.transaction() as db:
            booking = await reservation_model.check_in_reservation(
                db=db,
                aggregator=info.context.who,
                reservation_id=parse_id(reservation_id, field="reservationId"),
                opens_before=info.context.settings.check_in_opens_before,
            )
        return Reservation(row=booking)

    @strawberry.mutation(
        description="Put your member on a full session's waitlist (when it has one and no "
        "spot is left for you). Retrying while the member waits returns the same entry. "
        "A promotion books the member; you see it in `reservations` and `waitlistEntries`."
    )
    async def join_waitlist(
        self, info: PartnerInfo, session_id: strawberry.ID, user: UserInput
    ) -> WaitlistEntry:
        async with info.context.transaction() as db:
            entry = await reservation_model.join_waitlist(
                db=db,
                aggregator=info.context.who,
                session_id=parse_id(session_id, field="sessionId"),
                member=to_domain(Member, user, at="user"),
            )
        return WaitlistEntry(row=entry)

    @strawberry.mutation(description="Take your member off a waitlist; leaving again is a no-op.")
    async def leave_waitlist(
        self, info: PartnerInfo, waitlist_entry_id: strawberry.ID
    ) -> WaitlistEntry:
        async with info.context.transaction() as db:
            entry = await reservation_model.leave_waitlist(
                db=db,
                aggregator=info.context.who,
                entry_id=parse_id(waitlist_entry_id, field="waitlistEntryId"),
            )
        return WaitlistEntry(row=entry)

    @strawberry.mutation(
        description="Link one of our venues (eversportsVenueId: the venue UUID the studio gave "
        "you) to your own venue id. Needs the studio to have activated the extension; the "
        "first link makes the connection live."
    )
    async def set_aggregator_venue_id(
        self, info: PartnerInfo, aggregator_venue_id: str, eversports_venue_id: strawberry.ID
    ) -> Venue:
        async with info.context.transaction() as db:
            venue = await extension_model.set_aggregator_venue_id(
                db=db,
                aggregator=info.context.who,
                venue_id=parse_id(eversports_venue_id, field="eversportsVenueId"),
                aggregator_venue_id=aggregator_venue_id,
            )
        return Venue(row=venue)
