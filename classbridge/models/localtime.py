"""Venue-local wall-clock time <-> UTC, correct across daylight-saving changes."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from classbridge.models.errors import invalid

# Dates and times we accept from outside lie within these days: far from the calendar's
# ends (years 1 and 9999), where moving a time between zones overflows.
EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)


def check_supported_date(value: date | datetime, *, field: str) -> None:
    """Refuse (VALIDATION) a date or time whose calendar day lies outside EARLIEST..LATEST."""
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise invalid(f"{field} must lie between {EARLIEST} and {LATEST}", field=field)


def local_to_utc(local: datetime, zone: ZoneInfo, *, field: str = "start") -> datetime:
    """Interpret a naive wall-clock time in `zone`.

    A time that does not exist (skipped by a spring-forward change) is refused; a time
    that exists twice (autumn fall-back) means its first occurrence.
    """
    check_supported_date(local, field=field)
    if local.tzinfo is not None:
        local = local.astimezone(zone).replace(tzinfo=None)
    aware = local.replace(tzinfo=zone, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != local:
        raise invalid(
            f"{local:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks change then)",
            field=field,
        )
    return utc


def utc_to_local(moment: datetime, zone: ZoneInfo) -> datetime:
    """The aware local time in `zone` (with its UTC offset)."""
    return moment.astimezone(zone)
