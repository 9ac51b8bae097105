"""Every table of classbridge, and the enums its columns hold: the database's shape only.

One module per concept; nothing here queries, validates or decides. Operations on these
tables live in the modules of `classbridge.models` (see docs/architecture.md), inputs in
`classbridge.models.inputs`. Importing this package registers every table on
`SQLModel.metadata`.
"""

from classbridge.models.tables.activity import Activity, ActivityKind
from classbridge.models.tables.aggregator import (
    Aggregator,
    AggregatorExtension,
    AggregatorVenueExclusion,
    AggregatorVenueLink,
    ExtensionStatus,
    PartnerToken,
)
from classbridge.models.tables.audit import AuditAction, AuditActorKind, AuditEntry
from classbridge.models.tables.booking import (
    LIVE_STATUSES,
    Booking,
    BookingHistory,
    BookingSource,
    BookingStatus,
    CancellationType,
)
from classbridge.models.tables.company import Company, Venue
from classbridge.models.tables.customer import Customer, CustomerAggregatorId
from classbridge.models.tables.email import EmailMessage
from classbridge.models.tables.outbox import OutboxItem, OutboxKind
from classbridge.models.tables.product import Product, ProductKind
from classbridge.models.tables.push import (
    KNOWN_STATES,
    MAX_ERROR_LENGTH,
    PushDelivery,
    PushState,
    ReservationDelivery,
    WaitlistDelivery,
)
from classbridge.models.tables.session import AggregatorMode, ClassSession, SessionSeries
from classbridge.models.tables.staff import (
    StaffInvitation,
    StaffPasswordReset,
    StaffRole,
    StaffStatus,
    StaffToken,
    StaffUser,
)
from classbridge.models.tables.waitlist import WaitlistEntry, WaitlistStatus

__all__ = [
    "KNOWN_STATES",
    "LIVE_STATUSES",
    "MAX_ERROR_LENGTH",
    "Activity",
    "ActivityKind",
    "Aggregator",
    "AggregatorExtension",
    "AggregatorMode",
    "AggregatorVenueExclusion",
    "AggregatorVenueLink",
    "AuditAction",
    "AuditActorKind",
    "AuditEntry",
    "Booking",
    "BookingHistory",
    "BookingSource",
    "BookingStatus",
    "CancellationType",
    "ClassSession",
    "Company",
    "Customer",
    "CustomerAggregatorId",
    "EmailMessage",
    "ExtensionStatus",
    "OutboxItem",
    "OutboxKind",
    "PartnerToken",
    "Product",
    "ProductKind",
    "PushDelivery",
    "PushState",
    "ReservationDelivery",
    "SessionSeries",
    "StaffInvitation",
    "StaffPasswordReset",
    "StaffRole",
    "StaffStatus",
    "StaffToken",
    "StaffUser",
    "Venue",
    "WaitlistDelivery",
    "WaitlistEntry",
    "WaitlistStatus",
]
