"""Inputs of activities and their registration rules."""

from classbridge.models.fields import (
    AggregatorLimit,
    Capacity,
    ClosesMinutesBeforeStart,
    Description,
    DurationMinutes,
    MinutesBeforeStart,
    Name,
    NotNull,
    Sport,
    WaitlistSize,
)
from classbridge.models.tables.activity import ActivityKind
from classbridge.models.validation import Input


class RegistrationRules(Input):
    """Registration rules; fields left out keep their value. Offsets are minutes before
    the session's start; null means "no limit" where a rule allows it."""

    max_participants: Capacity | None = None
    booking_opens_minutes: MinutesBeforeStart | None = None
    booking_closes_minutes: ClosesMinutesBeforeStart | None = None
    free_cancellation_minutes: NotNull[MinutesBeforeStart] = None
    """0 for none; it cannot be cleared."""
    allow_aggregator_bookings: NotNull[bool] = None
    aggregator_limit: AggregatorLimit | None = None
    waitlist_size: NotNull[WaitlistSize] = None
    """0 turns the waitlist off; it cannot be cleared."""


class ActivityCreate(Input):
    name: Name
    description: Description = None
    sport: Sport = "Fitness"
    kind: ActivityKind = ActivityKind.CLASS
    default_duration_minutes: DurationMinutes = 60
    rules: RegistrationRules | None = None


class ActivityUpdate(Input):
    """Fields left out keep their value."""

    name: NotNull[Name] = None
    description: Description = None
    sport: NotNull[Sport] = None
    kind: NotNull[ActivityKind] = None
    default_duration_minutes: NotNull[DurationMinutes] = None
