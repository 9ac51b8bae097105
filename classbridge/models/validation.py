"""Typed inputs, and the one place where a pydantic validation error becomes a refusal.

Every Create/Update/Filter class (`classbridge.models.inputs`) derives from `Input`. Whoever
builds one from outside data calls `parse` (or `check` for a single value): a value that
breaks a field's constraints is refused as `DomainError(VALIDATION)` with a message a person
can read ("first name is longer than 100 characters") and the field's location.
"""

from collections.abc import Mapping
from functools import cache
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from classbridge.models.errors import DomainError, ErrorCode, FieldNames, Location
from classbridge.models.fields import REFUSED

M = TypeVar("M", bound="Input")
T = TypeVar("T")


class Input(BaseModel):
    """What a caller asks for: validated on construction, read-only afterwards.

    Updates follow `exclude_unset` semantics: a field left out keeps its value, a field set
    to null clears it (where the field allows null; `fields.NotNull` ones refuse it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    _names: FieldNames | None = PrivateAttr(default=None)
    _at: Location = PrivateAttr(default=())

    def given(self) -> dict[str, Any]:
        """The fields the caller set, null included: what an update changes."""
        return {name: getattr(self, name) for name in self.model_fields_set}

    def refuse(
        self, field: str, message: str, code: ErrorCode = ErrorCode.VALIDATION
    ) -> DomainError:
        """A refusal about one of this input's fields that only the domain can decide
        (e.g. a start that lies in the past in the venue's time zone)."""
        return DomainError(code, message, loc=(*self._at, field), names=self._names)

    def named(self, names: FieldNames, at: Location = ()) -> Self:
        """Remember how the caller names our fields, for refusals raised later."""
        self._names, self._at = names, at
        for name in self.model_fields_set:
            value = getattr(self, name)
            if isinstance(value, Input):
                value.named(names, (*at, name))
        return self


def parse(model: type[M], data: Mapping[str, Any], *, names: FieldNames | None = None) -> M:
    """Validate outside data into an input, or refuse it (VALIDATION) naming the field."""
    try:
        value = model.model_validate(data)
    except ValidationError as exc:
        raise refusal(exc, model=model, names=names) from None
    return value.named(names) if names is not None else value


@cache
def _adapter(type_: Any) -> TypeAdapter[Any]:
    return TypeAdapter(type_)


def check(type_: Any, value: object, *, name: str) -> Any:
    """Validate one argument against a field type of `fields` (e.g. `ExternalId`)."""
    try:
        return _adapter(type_).validate_python(value)
    except ValidationError as exc:
        raise refusal(exc, prefix=(name,)) from None


def refusal(
    exc: ValidationError,
    *,
    model: type[BaseModel] | None = None,
    names: FieldNames | None = None,
    prefix: Location = (),
) -> DomainError:
    """The refusal for a validation error: every problem in one message, the first one's
    location as the field."""
    errors = exc.errors(include_url=False)
    first = (*prefix, *errors[0]["loc"])
    message = "; ".join(_sentence(e, model, (*prefix, *e["loc"])) for e in errors)
    return DomainError(ErrorCode.VALIDATION, message, loc=first, names=names)


_PHRASES = {
    "missing": "is required",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "is longer than {max_length} characters",
    "too_short": "needs at least {min_length} entries",
    "too_long": "takes at most {max_length} entries",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "greater_than": "must be more than {gt}",
    "less_than": "must be less than {lt}",
    "uuid_parsing": "is not a valid ID",
    "uuid_type": "is not a valid ID",
    "extra_forbidden": "is not a known field",
    "timezone_naive": "must be a venue-local time without a UTC offset",
}


def _sentence(error: ErrorDetails, model: type[BaseModel] | None, loc: Location) -> str:
    label = _label(model, loc)
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1:
        phrase = "must not be empty"
    elif kind in _PHRASES:
        phrase = _PHRASES[kind].format(**ctx)
    elif error.get("input") is None and kind.endswith("_type"):
        phrase = "must not be null"
    elif kind == "value_error":
        phrase = str(ctx.get("error", error["msg"]))
    elif kind == REFUSED:
        phrase = error["msg"]  # a phrase of our own ("is not an email address")
    else:
        phrase = f"is invalid: {error['msg'][:1].lower()}{error['msg'][1:]}"
    return f"{label} {phrase}"


def _label(model: type[BaseModel] | None, loc: Location) -> str:
    """A field's name for people: its `title` where it has one, else its name in words."""
    names = [part for part in loc if isinstance(part, str)]
    if not names:
        return "the input"
    info = _field_info(model, names)
    if info is not None and info.title:
        return info.title
    return names[-1].replace("_", " ")


def _field_info(model: type[BaseModel] | None, names: list[str]) -> FieldInfo | None:
    info = None
    for name in names:
        if model is None or name not in model.model_fields:
            return None
        info = model.model_fields[name]
        nested = info.annotation
        model = next(
            (
                t
                for t in (nested, *getattr(nested, "__args__", ()))
                if isinstance(t, type) and issubclass(t, BaseModel)
            ),
            None,
        )
    return info
