"""Delivery state of the push to aggregators: per (session, aggregator), what is owed and
what the aggregator acknowledged.

The outbox (models/outbox.py) says "something changed"; `expand_outbox` turns its rows into
`PushDelivery` rows (models/tables/push.py) marked pending, one per session and aggregator,
so a burst of changes to one session becomes one delivery of its newest state. Workers
claim pending rows with a lease (`claim_deliveries`); a worker that dies leaves rows whose
lease runs out and which the next claim takes again. Acknowledgements record the version
the aggregator has.
"""

from classbridge.models.push.claims import (
    claim_deliveries,
    defer_deliveries,
    fail_leased,
    next_due,
    next_event_due,
    record_acks,
    record_event_acks,
    record_failure,
    retry_failed_events,
)
from classbridge.models.push.delivery import Ack, Claimed
from classbridge.models.push.owed import (
    acked_contents,
    expand_outbox,
    forget_acks,
    known_sessions,
    mark_differing,
    mark_entering_window,
    next_window_entry,
)
from classbridge.models.push.reservations import (
    ClaimedReservation,
    ReservationState,
    claim_reservations,
    reservation_states,
)
from classbridge.models.push.status import (
    ConnectionSync,
    SessionPushStatus,
    connection_sync,
    failed_deliveries,
    session_deliveries,
    session_sync,
)
from classbridge.models.push.waitlist import (
    ClaimedWaitlistEvent,
    WaitlistEventState,
    claim_waitlist_events,
    waitlist_event_states,
)

__all__ = [
    "Ack",
    "Claimed",
    "ClaimedReservation",
    "ClaimedWaitlistEvent",
    "ConnectionSync",
    "ReservationState",
    "SessionPushStatus",
    "WaitlistEventState",
    "acked_contents",
    "claim_deliveries",
    "claim_reservations",
    "claim_waitlist_events",
    "connection_sync",
    "defer_deliveries",
    "expand_outbox",
    "fail_leased",
    "failed_deliveries",
    "forget_acks",
    "known_sessions",
    "mark_differing",
    "mark_entering_window",
    "next_due",
    "next_event_due",
    "next_window_entry",
    "record_acks",
    "record_event_acks",
    "record_failure",
    "reservation_states",
    "retry_failed_events",
    "session_deliveries",
    "session_sync",
    "waitlist_event_states",
]
