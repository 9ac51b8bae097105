"""Venue-local wall-clock time <-> UTC, correct across daylight-saving changes."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


class SkippedLocalTime(ValueError):
    """A wall-clock time that does not exist: the clocks jumped over it (spring forward)."""


def local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Interpret a naive wall-clock time in `zone`.

    A time that does not exist (skipped by a spring-forward change) is refused with
    `SkippedLocalTime`; a time that exists twice (autumn fall-back) means its first
    occurrence.
    """
    if local.tzinfo is not None:
        local = local.astimezone(zone).replace(tzinfo=None)
    aware = local.replace(tzinfo=zone, fold=0)
    utc = aware.astimezone(UTC)
    if utc.astimezone(zone).replace(tzinfo=None) != local:
        raise SkippedLocalTime(
            f"{local:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks change then)"
        )
    return utc


def utc_to_local(moment: datetime, zone: ZoneInfo) -> datetime:
    """The aware local time in `zone` (with its UTC offset)."""
    return moment.astimezone(zone)


def day_start(day: date, zone: ZoneInfo) -> datetime | None:
    """The UTC instant a local day starts; None beyond the calendar's ends (no bound).

    Never refused: where a DST change skips midnight, the day starts when clocks resume."""
    try:
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    except OverflowError:
        return None
