"""Domain errors: every refusal carries a machine-readable code and a human message."""

import enum
from collections.abc import Callable

Location = tuple[str | int, ...]
"""Where in a caller's input a refusal points, in the domain's own names
(`("repeat", "until")`, `("product_id",)`); list positions are ints."""

FieldNames = Callable[[Location], str]
"""How a caller names a location (e.g. the GraphQL input path); set by whoever built the
input from its wire format, so models never spell an API's field names."""


class ErrorCode(enum.StrEnum):
    """Codes returned in `extensions.code` of a GraphQL error."""

    VALIDATION = "VALIDATION"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    CONFLICT = "CONFLICT"
    SESSION_FULL = "SESSION_FULL"
    AGGREGATOR_LIMIT_REACHED = "AGGREGATOR_LIMIT_REACHED"
    ALREADY_BOOKED = "ALREADY_BOOKED"
    BOOKING_WINDOW_CLOSED = "BOOKING_WINDOW_CLOSED"
    BOOKING_WINDOW_NOT_OPEN = "BOOKING_WINDOW_NOT_OPEN"
    SESSION_CANCELLED = "SESSION_CANCELLED"
    SESSION_IN_PAST = "SESSION_IN_PAST"
    NOT_BOOKABLE_BY_AGGREGATOR = "NOT_BOOKABLE_BY_AGGREGATOR"
    AGGREGATOR_BOOKING = "AGGREGATOR_BOOKING"
    AGGREGATOR_ID_TAKEN = "AGGREGATOR_ID_TAKEN"
    EXTENSION_NOT_ACTIVATED = "EXTENSION_NOT_ACTIVATED"
    INVALID_STATE = "INVALID_STATE"
    MERGE_CONFLICT = "MERGE_CONFLICT"
    """Both customers of a merge hold an aggregator reservation in the same session."""
    BUILT_IN_PRODUCT = "BUILT_IN_PRODUCT"
    WAITLIST_OFF = "WAITLIST_OFF"
    """The session has no waitlist (its waitlist size is 0)."""
    WAITLIST_FULL = "WAITLIST_FULL"
    ALREADY_ON_WAITLIST = "ALREADY_ON_WAITLIST"
    SPOTS_AVAILABLE = "SPOTS_AVAILABLE"
    """The session still has a spot for this caller: book it instead of waiting."""
    CUSTOMER_HAS_UPCOMING_BOOKINGS = "CUSTOMER_HAS_UPCOMING_BOOKINGS"
    """A customer is erased only once none of their bookings lies ahead."""
    CUSTOMER_ERASED = "CUSTOMER_ERASED"
    """An erased customer is kept for counts and reports only: not booked or waitlisted."""
    CHECK_IN_NOT_OPEN = "CHECK_IN_NOT_OPEN"
    """Check-in opens a set time before the session's start (CLASSBRIDGE_CHECK_IN_OPENS_MINUTES)."""
    INVALID_TOKEN = "INVALID_TOKEN"
    """An invitation or password-reset token that is unknown, used, replaced or expired."""
    LAST_OWNER = "LAST_OWNER"
    """The change would leave the company without an active OWNER."""
    RATE_LIMITED = "RATE_LIMITED"
    """Too many failed sign-ins (or reset requests) for one account or address: wait."""
    SLOW_CONSUMER = "SLOW_CONSUMER"
    """A live subscriber fell too far behind and was dropped; resubscribe for a snapshot."""
    LIVE_UNAVAILABLE = "LIVE_UNAVAILABLE"
    """The live event bus is unavailable or shutting down; resubscribe later."""


class DomainError(Exception):
    """A refusal by a domain rule; the caller rolls back and reports `code` and `message`.

    `loc` says which input the refusal is about, in the domain's names; `names`, when the
    input came from a wire format, turns it into the name the caller sent.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        loc: Location | None = None,
        names: FieldNames | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.loc = loc
        self.names = names

    def __repr__(self) -> str:
        return f"DomainError({self.code}, {self.message!r}, loc={self.loc!r})"


def not_found(what: str) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found")


def invalid(message: str, *, loc: Location | None = None) -> DomainError:
    return DomainError(ErrorCode.VALIDATION, message, loc=loc)
