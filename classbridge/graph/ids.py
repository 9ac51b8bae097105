"""IDs on the wire are UUID strings; a malformed one is a VALIDATION error, not a 500."""

import uuid

from classbridge.models.errors import invalid


def parse_id(value: str, *, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise invalid(f"{field} is not a valid ID", loc=(field,)) from None
