"""Roles: every root field of the staff schema declares who may call it, docs/staff-roles.md
is that declaration, and every mutation — including ones added later — is called with a
STAFF token (and an OWNER token) to check that the declaration holds."""

import uuid
from pathlib import Path
from typing import Any

import httpx
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    Undefined,
    get_named_type,
)

from classbridge.graph.staff.permissions import Anyone, roles_markdown
from classbridge.graph.staff.schema import ANONYMOUS_FIELDS, build_staff_schema, staff_permissions
from classbridge.models import staff as staff_model
from classbridge.models.db import Database
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.tables import StaffRole, StaffUser
from tests.graph.rows import diff, snapshot
from tests.studio import Studio, error_codes, gql

ROOT = Path(__file__).resolve().parents[2]

# A valid value of each scalar, so a call reaches the resolver (and its permission).
SCALAR_VALUES: dict[str, Any] = {
    "ID": None,  # a fresh random UUID per use
    "String": "x",
    "Int": 1,
    "Float": 1.0,
    "Boolean": False,
    "Date": "2099-01-05",
    "DateTime": "2099-01-05T18:00:00+00:00",
    "LocalDateTime": "2099-01-05T18:00",
}


def test_every_root_field_declares_a_permission() -> None:
    undeclared = [f"{p.operation} {p.field}" for p in staff_permissions() if p.permission is None]
    assert undeclared == [], (
        "declare who may call these (permission_classes=[...], graph/staff/permissions.py)"
    )
    schema = build_staff_schema()._schema
    in_schema = {
        (operation, name)
        for operation, root in (
            ("query", schema.query_type),
            ("mutation", schema.mutation_type),
            ("subscription", schema.subscription_type),
        )
        if root is not None
        for name in root.fields
    }
    assert {(p.operation, p.field) for p in staff_permissions()} == in_schema


def test_the_roles_table_in_docs_is_the_code() -> None:
    committed = (ROOT / "docs" / "staff-roles.md").read_text()
    assert committed == roles_markdown(staff_permissions()), (
        "docs/staff-roles.md is stale: run `classbridge export-roles --output docs/staff-roles.md`"
    )


def test_anonymous_fields_are_the_ones_declared_anyone() -> None:
    declared = {p.field for p in staff_permissions() if p.permission is Anyone}
    assert ANONYMOUS_FIELDS == declared
    assert "login" in ANONYMOUS_FIELDS


def _value(type_: GraphQLInputType) -> Any:
    if isinstance(type_, GraphQLNonNull):
        return _value(type_.of_type)
    if isinstance(type_, GraphQLList):
        return [_value(type_.of_type)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType):
        return {
            name: _value(f.type)
            for name, f in type_.fields.items()
            if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
        }
    assert isinstance(type_, GraphQLScalarType)
    assert type_.name in SCALAR_VALUES, f"add a value of scalar {type_.name} to SCALAR_VALUES"
    if type_.name == "ID":
        return str(uuid.uuid4())
    return SCALAR_VALUES[type_.name]


def _call(name: str, field: GraphQLField) -> tuple[str, dict[str, Any]]:
    """A document calling mutation `name` with a valid value for every required argument."""
    required = {
        arg_name: arg
        for arg_name, arg in field.args.items()
        if isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
    }
    params = ", ".join(f"${a}: {arg.type}" for a, arg in required.items())
    args = ", ".join(f"{a}: ${a}" for a in required)
    selection = (
        " { __typename }" if isinstance(get_named_type(field.type), GraphQLObjectType) else ""
    )
    doc = (
        f"mutation{f'({params})' if params else ''} "
        f"{{ {name}{f'({args})' if args else ''}{selection} }}"
    )
    return doc, {a: _value(arg.type) for a, arg in required.items()}


async def _staff_member(database: Database, studio: Studio, role: StaffRole) -> StaffUser:
    async with database.transaction() as db:
        return await staff_model.create_staff_user(
            db=db,
            company_id=studio.company_id,
            user=StaffUserCreate(
                email=f"{role.value.lower()}-{uuid.uuid4().hex[:6]}@example.com",
                name=f"A {role.value.title()}",
                password="correct horse battery",
                role=role,
            ),
        )


async def _token(database: Database, user: StaffUser) -> str:
    # A fresh token per call: logout or a password change may revoke the one used before.
    async with database.transaction() as db:
        return await staff_model.issue_token(db=db, user=user, ttl_days=1)


async def test_every_mutation_called_by_staff_and_owner_follows_the_table(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    schema = build_staff_schema()._schema
    assert schema.mutation_type is not None
    declared = {p.field: p for p in staff_permissions() if p.operation == "mutation"}
    users = {role: await _staff_member(database, studio, role) for role in StaffRole}
    checked: list[str] = []
    for name, field in schema.mutation_type.fields.items():
        doc, variables = _call(name, field)
        for role, user in users.items():
            token = await _token(database, user)
            before = await snapshot(database)
            body = await gql(client, doc, variables, token=token)
            codes = error_codes(body)
            if declared[name].allows(role):
                assert "FORBIDDEN" not in codes and "UNAUTHENTICATED" not in codes, (name, role)
            else:
                assert body["data"] is None, (name, role)
                assert codes == ["FORBIDDEN"], (name, role, body)
                after = await snapshot(database)
                assert after == before, (name, role, diff(before, after))
        checked.append(name)
    assert set(checked) == set(declared)
    # The table is not vacuous: STAFF is refused something and allowed something.
    assert any(not p.allows(StaffRole.STAFF) for p in declared.values())
    assert any(p.allows(StaffRole.STAFF) for p in declared.values())


async def test_without_a_token_only_anyone_fields_run(client: httpx.AsyncClient) -> None:
    schema = build_staff_schema()._schema
    assert schema.mutation_type is not None
    for p in staff_permissions():
        if p.operation != "mutation" or p.permission is Anyone:
            continue
        doc, variables = _call(p.field, schema.mutation_type.fields[p.field])
        body = await gql(client, doc, variables)
        assert error_codes(body) == ["UNAUTHENTICATED"], (p.field, body)
