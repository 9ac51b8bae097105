"""Domain errors: every refusal carries a machine-readable code and a human message."""

import enum


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
    BUILT_IN_PRODUCT = "BUILT_IN_PRODUCT"
    SLOW_CONSUMER = "SLOW_CONSUMER"
    """A live subscriber fell too far behind and was dropped; resubscribe for a snapshot."""
    LIVE_UNAVAILABLE = "LIVE_UNAVAILABLE"
    """The live event bus is unavailable or shutting down; resubscribe later."""


class DomainError(Exception):
    """A refusal by a domain rule; the caller rolls back and reports `code` and `message`."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"DomainError({self.code}, {self.message!r}, field={self.field!r})"


def not_found(what: str) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"{what} not found")


def invalid(message: str, *, field: str | None = None) -> DomainError:
    return DomainError(ErrorCode.VALIDATION, message, field=field)
