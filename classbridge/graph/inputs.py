"""Helpers for input objects: which fields did the client actually send?"""

from typing import Any

import strawberry


def given(obj: Any, mapping: dict[str, str]) -> dict[str, object]:
    """Fields the client sent (null included), renamed to the domain's keys."""
    out: dict[str, object] = {}
    for attr, key in mapping.items():
        value = getattr(obj, attr)
        if value is not strawberry.UNSET:
            out[key] = value
    return out
