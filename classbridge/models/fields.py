"""Every input constraint, declared once: lengths, ranges and the field types built on them.

Tables take their column lengths from here and inputs (`classbridge.models.inputs`) their
field types, so a limit such as the length of a customer's name is written in one place.
Strings are stripped; an optional one left blank means "none" (null).
"""

import re
from datetime import date, datetime
from functools import cache
from typing import Annotated, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    NaiveDatetime,
    StringConstraints,
)
from pydantic_core import PydanticCustomError
from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # ships no type hints

NAME_LENGTH = 200
"""Names of companies, venues, activities, products and staff members."""
TEXT_LENGTH = 5000
"""Descriptions and notes."""
SPORT_LENGTH = 100
PERSON_NAME_LENGTH = 100
EMAIL_LENGTH = 254
PHONE_LENGTH = 50
STREET_LENGTH = 200
ZIP_LENGTH = 20
CITY_LENGTH = 100
COUNTRY_LENGTH = 100
WEBSITE_LENGTH = 300
TIMEZONE_LENGTH = 64
ROOM_LENGTH = 100
TEACHER_LENGTH = 200
REASON_LENGTH = 500
EXTERNAL_ID_LENGTH = 200
"""Ids an aggregator gives: member ids and its own venue ids."""
LABEL_LENGTH = 200
SEARCH_LENGTH = 200
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1000
MAX_PASSWORD_CHECKED = 64
MIN_PASSWORD_SCORE = 2

MAX_CAPACITY = 10_000
MAX_DURATION_MINUTES = 24 * 60
MAX_OFFSET_MINUTES = 365 * 24 * 60
"""How far before a session's start a booking window or free cancellation may reach."""

T = TypeVar("T")

REFUSED = "refused"
"""The error type of our own checks; their message is a phrase ("is not an email address")
that follows the field's name."""


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _refuse_null(value: object) -> object:
    if value is None:
        raise PydanticCustomError(REFUSED, "must not be null")
    return value


def text(max_length: int) -> StringConstraints:
    """A required string: stripped, not empty, at most `max_length` characters."""
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


def up_to(max_length: int) -> StringConstraints:
    """An optional string: stripped, at most `max_length` characters (with BLANK_IS_NONE)."""
    return StringConstraints(strip_whitespace=True, max_length=max_length)


BLANK_IS_NONE = BeforeValidator(_blank_is_none)

Name = Annotated[str, text(NAME_LENGTH)]
Sport = Annotated[str, text(SPORT_LENGTH)]
PersonName = Annotated[str, text(PERSON_NAME_LENGTH)]
ExternalId = Annotated[str, text(EXTERNAL_ID_LENGTH)]
Description = Annotated[str | None, up_to(TEXT_LENGTH), BLANK_IS_NONE]
Notes = Annotated[str | None, up_to(TEXT_LENGTH), BLANK_IS_NONE]
Phone = Annotated[str | None, up_to(PHONE_LENGTH), BLANK_IS_NONE]
Street = Annotated[str | None, up_to(STREET_LENGTH), BLANK_IS_NONE]
Zip = Annotated[str | None, up_to(ZIP_LENGTH), BLANK_IS_NONE]
City = Annotated[str | None, up_to(CITY_LENGTH), BLANK_IS_NONE]
Country = Annotated[str | None, up_to(COUNTRY_LENGTH), BLANK_IS_NONE]
Room = Annotated[str | None, up_to(ROOM_LENGTH), BLANK_IS_NONE]
Teacher = Annotated[str | None, up_to(TEACHER_LENGTH), BLANK_IS_NONE]
Reason = Annotated[str | None, up_to(REASON_LENGTH), BLANK_IS_NONE]
Label = Annotated[str | None, up_to(LABEL_LENGTH), BLANK_IS_NONE]
SearchTerm = Annotated[str | None, up_to(SEARCH_LENGTH), BLANK_IS_NONE]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str | None) -> str | None:
    if value is None:
        return None
    if not _EMAIL.match(value):
        raise PydanticCustomError(REFUSED, "is not an email address")
    return value.lower()


Email = Annotated[str | None, up_to(EMAIL_LENGTH), BLANK_IS_NONE, AfterValidator(_email)]


def _web_address(value: str | None) -> str | None:
    """An http(s) address with a host, as aggregators link to it."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value:
        raise PydanticCustomError(REFUSED, "is not a web address such as https://example.com")
    return value


Website = Annotated[str | None, up_to(WEBSITE_LENGTH), BLANK_IS_NONE, AfterValidator(_web_address)]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
"""Degrees north (WGS 84)."""
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
"""Degrees east (WGS 84)."""
RequiredEmail = Annotated[str, text(EMAIL_LENGTH), AfterValidator(_email)]


def _in_the_past(value: date) -> date:
    if value > date.today():
        raise PydanticCustomError(REFUSED, "must be a date in the past")
    return value


Birthday = Annotated[date, AfterValidator(_in_the_past)]

EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)
"""Dates and times we take from outside lie within these days: far from the calendar's
ends (years 1 and 9999), where moving a time between time zones overflows."""

D = TypeVar("D", date, datetime)


def _supported(value: D) -> D:
    day = value.date() if isinstance(value, datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise PydanticCustomError(REFUSED, f"must lie between {EARLIEST} and {LATEST}")
    return value


Day = Annotated[date, AfterValidator(_supported)]
"""A calendar day between EARLIEST and LATEST."""
WallClockTime = Annotated[NaiveDatetime, AfterValidator(_supported)]
"""A venue-local time without offset, between EARLIEST and LATEST."""
Moment = Annotated[AwareDatetime, AfterValidator(_supported)]
"""A time with its UTC offset, between EARLIEST and LATEST."""


@cache
def _zone_names() -> frozenset[str]:
    # Not "localtime": it follows whichever machine runs us. (posix/, right/ are not listed.)
    return frozenset(available_timezones() - {"localtime"})


def _iana_zone(name: str) -> str:
    """An IANA zone name; ZoneInfo alone would also load files such as "localtime"."""
    if name not in _zone_names():
        raise PydanticCustomError(REFUSED, "is not an IANA time zone such as Europe/Berlin")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise PydanticCustomError(
            REFUSED, "is not an IANA time zone such as Europe/Berlin"
        ) from exc
    return name


TimeZoneName = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_iana_zone)]


def _hard_to_guess(password: str) -> str:
    """Refuse common and easily guessed passwords (NIST SP 800-63B 5.1.1.2: check against
    lists of commonly used passwords, no composition rules). zxcvbn (Dropbox's estimator)
    ships such lists (the 30,000 most common passwords, English words, names, keyboard
    patterns) and sees through l33t, dates and repeats; score 2 means at least 10^6
    guesses. Only the first MAX_PASSWORD_CHECKED characters are estimated: its cost grows
    with length, and a longer password is not the weak kind."""
    result = zxcvbn(password[:MAX_PASSWORD_CHECKED])
    if result["score"] < MIN_PASSWORD_SCORE:
        warning = result["feedback"].get("warning") or "it is easy to guess"
        raise PydanticCustomError(
            REFUSED,
            "is too common or easy to guess ({warning}): add words or length",
            {"warning": warning.rstrip(".").lower()},
        )
    return password


Password = Annotated[
    str,
    Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH),
    AfterValidator(_hard_to_guess),
]

Capacity = Annotated[int, Field(ge=1, le=MAX_CAPACITY)]
AggregatorLimit = Annotated[int, Field(ge=0, le=MAX_CAPACITY)]
DurationMinutes = Annotated[int, Field(ge=1, le=MAX_DURATION_MINUTES)]
MinutesBeforeStart = Annotated[int, Field(ge=0, le=MAX_OFFSET_MINUTES)]
ClosesMinutesBeforeStart = Annotated[int, Field(ge=-MAX_DURATION_MINUTES, le=MAX_OFFSET_MINUTES)]
"""Negative: bookings stay open into the session (at most its longest duration)."""
Weekday = Annotated[int, Field(ge=1, le=7)]
"""ISO weekday: 1 is Monday, 7 Sunday."""

NotNull = Annotated[T | None, BeforeValidator(_refuse_null)]
"""In an update: may be left out (keeps its value) but not cleared with null."""
