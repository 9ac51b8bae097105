"""Small input checks shared by domain functions."""

import re

from classbridge.models.errors import invalid

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def clean_text(value: str, *, field: str, max_length: int, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        raise invalid(f"{field} must not be empty", field=field)
    if len(value) > max_length:
        raise invalid(f"{field} is longer than {max_length} characters", field=field)
    return value


def clean_optional(value: str | None, *, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    value = clean_text(value, field=field, max_length=max_length, required=False)
    return value or None


def clean_email(value: str | None, *, field: str = "email") -> str | None:
    value = clean_optional(value, field=field, max_length=254)
    if value is None:
        return None
    if not _EMAIL.match(value):
        raise invalid(f"{field} is not an email address", field=field)
    return value.lower()


def check_range(value: int | None, *, field: str, low: int, high: int) -> int | None:
    if value is None:
        return None
    if not low <= value <= high:
        raise invalid(f"{field} must be between {low} and {high}", field=field)
    return value
