"""Activities (class types) and their registration rules."""

import enum
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field, utcnow, uuid_pk
from classbridge.models.errors import invalid, not_found
from classbridge.models.outbox import record_session_changes
from classbridge.models.validation import check_range, clean_optional, clean_text

MAX_CAPACITY = 10_000
MAX_OFFSET_MINUTES = 365 * 24 * 60
MAX_DURATION_MINUTES = 24 * 60


class ActivityKind(enum.StrEnum):
    CLASS = "CLASS"
    """A group class with a fixed schedule."""
    TRAINING = "TRAINING"
    """A training slot (personal or small group)."""
    WORKSHOP = "WORKSHOP"
    """A one-off event."""
    COURSE = "COURSE"
    """A series of sessions booked as a whole."""


class Activity(SQLModel, table=True):
    """A class type; its sessions inherit its registration rules unless they override them."""

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    sport: str = Field(default="Fitness", max_length=100)
    kind: ActivityKind = Field(default=ActivityKind.CLASS, sa_type=enum_type(ActivityKind))
    default_duration_minutes: int = 60
    archived: bool = False
    # Registration rules. Offsets are minutes before the session's start.
    max_participants: int | None = None
    booking_opens_minutes: int | None = None
    booking_closes_minutes: int | None = None
    free_cancellation_minutes: int = 0
    allow_aggregator_bookings: bool = False
    aggregator_limit: int | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)


_RULE_LIMITS = {
    "max_participants": (1, MAX_CAPACITY),
    "booking_opens_minutes": (0, MAX_OFFSET_MINUTES),
    "booking_closes_minutes": (-MAX_DURATION_MINUTES, MAX_OFFSET_MINUTES),
    "free_cancellation_minutes": (0, MAX_OFFSET_MINUTES),
    "aggregator_limit": (0, MAX_CAPACITY),
}
# Rules an aggregator sees: changing them must reach the aggregator.
_AGGREGATOR_VISIBLE = set(_RULE_LIMITS) | {"allow_aggregator_bookings"}


def check_duration(minutes: int) -> int:
    value = check_range(minutes, field="defaultDurationMinutes", low=1, high=MAX_DURATION_MINUTES)
    assert value is not None
    return value


async def get_activity(
    *, db: AsyncSession, company_id: uuid.UUID, activity_id: uuid.UUID
) -> Activity:
    """An activity of this company; another company's is reported as not found."""
    activity = await db.get(Activity, activity_id)
    if activity is None or activity.company_id != company_id:
        raise not_found("activity")
    return activity


async def create_activity(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    name: str,
    description: str | None = None,
    sport: str = "Fitness",
    kind: ActivityKind = ActivityKind.CLASS,
    default_duration_minutes: int = 60,
    rules: dict[str, object] | None = None,
) -> Activity:
    """Create an activity, optionally with registration rules."""
    activity = Activity(
        company_id=company_id,
        name=clean_text(name, field="name", max_length=200),
        description=clean_optional(description, field="description", max_length=5000),
        sport=clean_text(sport, field="sport", max_length=100),
        kind=kind,
        default_duration_minutes=check_duration(default_duration_minutes),
    )
    _apply_rules(activity, rules or {})
    db.add(activity)
    await db.flush()
    return activity


async def update_activity(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    activity_id: uuid.UUID,
    changes: dict[str, object],
) -> Activity:
    """Change name, description, sport, kind or default duration (keys absent stay as they are)."""
    activity = await get_activity(db=db, company_id=company_id, activity_id=activity_id)
    if "name" in changes:
        activity.name = clean_text(str(changes["name"]), field="name", max_length=200)
    if "description" in changes:
        activity.description = clean_optional(
            changes["description"],  # type: ignore[arg-type]
            field="description",
            max_length=5000,
        )
    if "sport" in changes:
        activity.sport = clean_text(str(changes["sport"]), field="sport", max_length=100)
    if "kind" in changes:
        activity.kind = ActivityKind(changes["kind"])
    if "default_duration_minutes" in changes:
        activity.default_duration_minutes = check_duration(int(changes["default_duration_minutes"]))  # type: ignore[call-overload]
    activity.updated_at = utcnow()
    if {"name", "description", "sport"} & changes.keys():
        await record_session_changes(db=db, activity_id=activity.id)
    await db.flush()
    return activity


async def set_archived(
    *, db: AsyncSession, company_id: uuid.UUID, activity_id: uuid.UUID, archived: bool
) -> Activity:
    """Archive (or restore) an activity: archived ones take no new sessions."""
    activity = await get_activity(db=db, company_id=company_id, activity_id=activity_id)
    activity.archived = archived
    activity.updated_at = utcnow()
    await db.flush()
    return activity


def _apply_rules(activity: Activity, rules: dict[str, object]) -> bool:
    """Validate and set rules; returns whether an aggregator-visible rule changed."""
    unknown = set(rules) - _AGGREGATOR_VISIBLE
    if unknown:
        raise invalid(f"unknown rules: {', '.join(sorted(unknown))}")
    for key, (low, high) in _RULE_LIMITS.items():
        if key in rules:
            value = rules[key]
            if key == "free_cancellation_minutes" and value is None:
                raise invalid("freeCancellationMinutes must be set (0 for none)", field=key)
            check_range(value, field=key, low=low, high=high)  # type: ignore[arg-type]
    changed = False
    for key, value in rules.items():
        if getattr(activity, key) != value:
            setattr(activity, key, value)
            changed = True
    opens, closes = activity.booking_opens_minutes, activity.booking_closes_minutes
    if opens is not None and closes is not None and closes >= opens:
        raise invalid(
            "the booking window must close after it opens "
            "(bookingClosesMinutes smaller than bookingOpensMinutes)",
            field="booking_closes_minutes",
        )
    return changed


async def update_rules(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    activity_id: uuid.UUID,
    rules: dict[str, object],
) -> Activity:
    """Change registration rules; sessions that follow them reach the aggregator anew."""
    activity = await get_activity(db=db, company_id=company_id, activity_id=activity_id)
    if _apply_rules(activity, rules):
        activity.updated_at = utcnow()
        await record_session_changes(db=db, activity_id=activity.id)
    await db.flush()
    return activity


async def list_activities(
    *, db: AsyncSession, company_id: uuid.UUID, include_archived: bool = False
) -> list[Activity]:
    stmt = select(Activity).where(Activity.company_id == company_id)
    if not include_archived:
        stmt = stmt.where(Activity.archived.is_(False))  # type: ignore[attr-defined]
    return list(await db.scalars(stmt.order_by(Activity.name, Activity.id)))
