"""GraphQL inputs into the domain's typed inputs, in one conversion, and the one mapping of
a refusal's location to the GraphQL input path the client sent (`extensions.field`).

A strawberry input class names its fields as the domain's input class does (Python names);
where the schema spells a field otherwise (`bookingOpensMinutesBeforeStart` for
`booking_opens_minutes`), the strawberry field says so with `name=`. Fields the client left
out (UNSET) are left out of the domain input too: updates apply what was sent, and null
clears.
"""

from collections.abc import Mapping
from typing import Any, TypeVar

import strawberry
from strawberry.types.base import StrawberryContainer, has_object_definition
from strawberry.utils.str_converters import to_camel_case

from classbridge.models.errors import DomainError, FieldNames, Location
from classbridge.models.validation import Input, parse

M = TypeVar("M", bound=Input)


def to_domain(model: type[M], value: object, *, at: str) -> M:
    """Convert the strawberry input `value`, sent as argument `at`, into `model`; a value
    the model refuses is a VALIDATION error naming the client's field path."""
    return parse(model, _plain(value), names=input_names(type(value), at))


def arguments_to_domain(
    model: type[M], values: Mapping[str, object], *, wire: Mapping[str, str] | None = None
) -> M:
    """Build `model` from a field's plain arguments (domain name → value); `wire` names the
    arguments whose GraphQL name is not the camelCase of the domain's."""
    renamed = dict(wire or {})

    def names(loc: Location) -> str:
        head = str(loc[0])
        return renamed.get(head, to_camel_case(head))

    return parse(model, values, names=names)


def field_path(error: DomainError) -> str | None:
    """`extensions.field` of a refusal: the path the client sent, e.g. `input.maxParticipants`.
    Without a mapping from the conversion (a refusal about a plain argument such as
    `product_id`), the argument's camelCase name."""
    if error.loc is None:
        return None
    if error.names is not None:
        return error.names(error.loc)
    return ".".join(to_camel_case(part) for part in error.loc if isinstance(part, str))


def input_names(cls: type, at: str) -> FieldNames:
    """Locations in the domain input → paths through the strawberry input type `cls`."""

    def names(loc: Location) -> str:
        path, current = [at], _input_type(cls)
        for part in loc:
            if isinstance(part, int):  # a list position: the field is what matters
                continue
            field = _field(current, part)
            path.append(
                (field.graphql_name or to_camel_case(field.python_name))
                if field is not None
                else to_camel_case(part)
            )
            current = _input_type(field.type) if field is not None else None
        return ".".join(path)

    return names


def _plain(value: object) -> Any:
    """A strawberry input as nested dicts of the fields that were sent."""
    if has_object_definition(value):
        return {
            field.python_name: _plain(getattr(value, field.python_name))
            for field in value.__strawberry_definition__.fields
            if getattr(value, field.python_name) is not strawberry.UNSET
        }
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _input_type(type_: object) -> type | None:
    """The strawberry input class inside `type_` (through Optional and list), if any."""
    while isinstance(type_, StrawberryContainer):
        type_ = type_.of_type
    return type_ if isinstance(type_, type) and has_object_definition(type_) else None


def _field(cls: type | None, python_name: str) -> Any:
    if cls is None:
        return None
    fields = cls.__strawberry_definition__.fields  # type: ignore[attr-defined]  # set by @input
    return next((f for f in fields if f.python_name == python_name), None)
