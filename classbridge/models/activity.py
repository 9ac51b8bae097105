"""Activities (class types): creating, changing, archiving, and their registration rules."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models.base import utcnow
from classbridge.models.errors import not_found
from classbridge.models.inputs.activity import ActivityCreate, ActivityUpdate, RegistrationRules
from classbridge.models.outbox import touch_sessions, upcoming
from classbridge.models.tables.activity import Activity
from classbridge.models.tables.session import ClassSession

# What aggregators see of an activity: changing it changes every upcoming session for them.
_SHOWN_TO_AGGREGATORS = {"name", "description", "sport"}


async def get_activity(
    *, db: AsyncSession, company_id: uuid.UUID, activity_id: uuid.UUID
) -> Activity:
    """An activity of this company; another company's is reported as not found."""
    activity = await db.get(Activity, activity_id)
    if activity is None or activity.company_id != company_id:
        raise not_found("activity")
    return activity


async def create_activity(
    *, db: AsyncSession, company_id: uuid.UUID, activity: ActivityCreate
) -> Activity:
    """Create an activity, optionally with registration rules."""
    row = Activity(company_id=company_id, **activity.model_dump(exclude={"rules"}))
    if activity.rules is not None:
        _apply_rules(row, activity.rules)
    db.add(row)
    await db.flush()
    return row


async def update_activity(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    activity_id: uuid.UUID,
    changes: ActivityUpdate,
) -> Activity:
    """Change name, description, sport, kind or default duration (fields left out stay)."""
    activity = await get_activity(db=db, company_id=company_id, activity_id=activity_id)
    given = changes.given()
    for name, value in given.items():
        setattr(activity, name, value)
    activity.updated_at = utcnow()
    if _SHOWN_TO_AGGREGATORS & given.keys():
        await _touch_upcoming_sessions(db, activity)
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


def _apply_rules(activity: Activity, rules: RegistrationRules) -> bool:
    """Set the rules given; returns whether one changed (every rule is shown to
    aggregators). The window rule needs both ends, so it is checked on the result."""
    changed = False
    for name, value in rules.given().items():
        if getattr(activity, name) != value:
            setattr(activity, name, value)
            changed = True
    opens, closes = activity.booking_opens_minutes, activity.booking_closes_minutes
    if opens is not None and closes is not None and closes >= opens:
        raise rules.refuse(
            "booking_closes_minutes",
            "the booking window must close after it opens (close it fewer minutes before "
            "the start than it opens)",
        )
    return changed


async def update_rules(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    activity_id: uuid.UUID,
    rules: RegistrationRules,
) -> Activity:
    """Change registration rules; sessions that follow them reach the aggregator anew."""
    activity = await get_activity(db=db, company_id=company_id, activity_id=activity_id)
    if _apply_rules(activity, rules):
        activity.updated_at = utcnow()
        await _touch_upcoming_sessions(db, activity)
    await db.flush()
    return activity


async def _touch_upcoming_sessions(db: AsyncSession, activity: Activity) -> None:
    await touch_sessions(db, (col(ClassSession.activity_id) == activity.id) & upcoming())


async def list_activities(
    *, db: AsyncSession, company_id: uuid.UUID, include_archived: bool = False
) -> list[Activity]:
    stmt = select(Activity).where(Activity.company_id == company_id)
    if not include_archived:
        stmt = stmt.where(col(Activity.archived).is_(False))
    return list(await db.scalars(stmt.order_by(Activity.name, col(Activity.id))))
