"""Fields that only read what their parent holds are called by graphql-core directly
(graph/errors.py `read_attributes_directly`); only fields that load are async."""

import inspect

from graphql import GraphQLObjectType

from classbridge.graph.partner.schema import build_partner_schema
from classbridge.graph.staff.schema import build_staff_schema

# Fields that load something of their own (another list, a row by id) and stay async.
LOADING = {
    ("Session", "reservations"),
    ("Venue", "company"),
    ("Venue", "sessions"),
    ("Company", "venues"),
    ("Booking", "session"),
    ("Reservation", "userId"),
    ("Reservation", "session"),
    ("Session", "series"),
    ("Session", "waitlist"),
}


def _direct(field: object) -> bool:
    resolve = getattr(field, "resolve", None)
    return resolve is not None and resolve.__module__ == "classbridge.graph.errors"


def test_the_fields_of_listed_sessions_are_read_directly() -> None:
    for schema, types in (
        (
            build_partner_schema(),
            ("Session", "Sport", "Location", "Edge", "PageInfo", "Class", "Venue"),
        ),
        (build_staff_schema(), ("Session", "Booking", "SessionCounts", "Customer", "Product")),
    ):
        graphql_schema = schema._schema
        for type_name in types:
            named = graphql_schema.get_type(
                type_name if type_name != "Edge" else "SessionEdge"
            ) or graphql_schema.get_type(type_name)
            if named is None:
                continue
            assert isinstance(named, GraphQLObjectType)
            for name, field in named.fields.items():
                if (type_name, name) in LOADING:
                    continue
                assert _direct(field), f"{type_name}.{name} goes through strawberry's wrapper"
                assert not inspect.iscoroutinefunction(field.resolve)
