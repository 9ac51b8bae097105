"""How UUIDs come back from the database: `uuid.UUID`s on both backends (strings where a
column asks for them); on SQLite, which stores them as hex text, each value is parsed
once and the instance shared (models/db.py `_SharedHexUuid`); plain rows as named
tuples (`records`)."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from classbridge.models.base import Interned
from classbridge.models.db import (
    Database,
    any_of,
    any_of_bound,
    dialect_of,
    records,
    rows_by_id,
    table_records,
)
from classbridge.models.tables import Booking, BookingStatus, Company, Customer
from tests.studio import Studio


async def _company_id(database: Database, studio: Studio) -> object:
    async with database.read() as db:
        return await db.scalar(select(Company.id).where(col(Company.id) == studio.company_id))


async def test_uuids_come_back_as_uuids_and_sqlite_parses_each_value_once(
    database: Database, backend: str, studio: Studio
) -> None:
    first = await _company_id(database, studio)
    second = await _company_id(database, studio)
    assert isinstance(first, uuid.UUID) and first == studio.company_id == second
    if backend == "sqlite":
        assert first is second
    async with database.read() as db:
        as_text = await db.scalar(
            select(sa.type_coerce(col(Company.id), sa.Uuid(as_uuid=False))).where(
                col(Company.id) == studio.company_id
            )
        )
    assert isinstance(as_text, str) and uuid.UUID(as_text) == studio.company_id


async def test_any_of_finds_what_in_finds_with_one_parameter_on_postgres(
    database: Database, backend: str, studio: Studio
) -> None:
    """models/db.any_of: the same rows as IN (none for no ids), and on PostgreSQL one
    array parameter however many ids, so every count of ids is one prepared statement."""
    ids = [await studio.customer(f"Any{i}") for i in range(3)]
    strangers = [uuid.uuid4() for _ in range(300)]
    async with database.read() as db:
        for wanted in ([], ids[:1], ids, [*strangers, ids[2]]):
            clause = any_of(db, col(Customer.id), wanted)
            found = set(await db.scalars(select(Customer.id).where(clause)))
            assert found == set(wanted) & set(ids)
            if backend == "postgres":
                compiled = select(Customer.id).where(clause).compile(dialect=db.get_bind().dialect)
                assert "= ANY (" in str(compiled) and len(compiled.params) == 1


async def test_a_statement_built_once_takes_its_values_when_it_runs(
    database: Database, backend: str, studio: Studio
) -> None:
    """models/db.any_of_bound: one statement object, run with different lists of ids
    (none, one, many), finds what `any_of` finds; on PostgreSQL still one array
    parameter. `rows_by_id` alike."""
    ids = [await studio.customer(f"Bound{i}") for i in range(3)]
    strangers = [uuid.uuid4() for _ in range(300)]
    async with database.read() as db:
        table = Customer.__table__  # type: ignore[attr-defined]
        statement = sa.select(table.c.id).where(any_of_bound(dialect_of(db), table.c.id, "ids"))
        for wanted in ([], ids[:1], ids, [*strangers, ids[2]]):
            found = set(await db.scalars(statement, {"ids": wanted}))
            assert found == set(wanted) & set(ids)
            by_id = await rows_by_id(db, Customer, wanted)
            assert set(by_id) == set(wanted) & set(ids)
            assert all(by_id[i].id == i for i in by_id)
        if backend == "postgres":
            compiled = statement.compile(dialect=db.get_bind().dialect)
            assert "= ANY (" in str(compiled) and len(compiled.params) == 1


async def test_timestamps_come_back_aware_in_utc_to_the_microsecond(
    database: Database, studio: Studio
) -> None:
    """models/base.UTCDateTime: whatever offset it was written with, a timestamp reads back
    as the same instant in UTC; NULL as None; on SQLite (naive text) as on PostgreSQL."""
    ids = [await studio.customer(f"Time{i}") for i in range(2)]
    untouched = await studio.customer("Never")
    berlin = timezone(timedelta(hours=1))
    written = datetime(2026, 3, 29, 1, 59, 59, 999_999, tzinfo=berlin)
    async with database.transaction() as db:
        await db.execute(
            sa.update(Customer)
            .where(any_of(db, col(Customer.id), ids))
            .values(erased_at=written, updated_at=written)
        )
    async with database.read() as db:
        if database.engine.dialect.name == "postgresql":
            # Read as they come from asyncpg (no processor): UTC whatever the session's zone.
            await db.execute(sa.text("SET LOCAL TIME ZONE 'Europe/Berlin'"))
        rows = (
            await db.execute(
                select(Customer.erased_at, Customer.updated_at, Customer.created_at).where(
                    any_of(db, col(Customer.id), ids)
                )
            )
        ).all()
        empty = await db.scalar(select(Customer.erased_at).where(col(Customer.id) == untouched))
    assert empty is None  # a NULL, not a missing row
    for erased_at, updated_at, created_at in rows:
        for value in (erased_at, updated_at):
            assert value == written and value.tzinfo is UTC
            assert value.isoformat() == "2026-03-29T00:59:59.999999+00:00"
        assert created_at.tzinfo is UTC


async def test_records_are_named_tuples_of_the_rows_columns(
    database: Database, studio: Studio
) -> None:
    """models/db.records: each row as a tuple of its values, read by the columns' keys
    (an entity in the select under its class's name), equal to SQLAlchemy's own rows."""
    ids = [await studio.customer("Kim", f"Rec{i}") for i in range(3)]
    customers = Customer.__table__.c  # type: ignore[attr-defined]
    async with database.read() as db:
        statement = (
            select(customers.id, customers.last_name, Company)
            .join(Company, col(Company.id) == Customer.company_id)
            .where(any_of(db, customers.id, ids))
            .order_by(customers.last_name)
        )
        rows = (await db.execute(statement)).all()
        read = await records(db, statement)
    assert [tuple(r) for r in rows] == [tuple(r) for r in read]
    assert [r.last_name for r in read] == ["Rec0", "Rec1", "Rec2"]
    assert [r.id for r in read] == ids
    # Tuples (SQLAlchemy's `Row` is none), whose columns read at a tuple's speed.
    assert all(isinstance(r, tuple) for r in read)
    assert all(r._fields == ("id", "last_name", "Company") for r in read)
    assert all(type(r.Company) is Company and r.Company.id == studio.company_id for r in read)


async def test_table_records_split_a_join_into_a_named_tuple_per_table(
    database: Database, studio: Studio
) -> None:
    """models/db.table_records: a join of every column of two tables (both have `id`,
    `company_id`, ...) as one named tuple per table, each with its table's values."""
    ids = [await studio.customer("Kim", f"Join{i}") for i in range(2)]
    tables = (Customer.__table__, Company.__table__)  # type: ignore[attr-defined]
    async with database.read() as db:
        statement = (
            select(*(c for table in tables for c in table.c))
            .join(Company, col(Company.id) == Customer.company_id)
            .where(any_of(db, col(Customer.id), ids))
            .order_by(col(Customer.last_name))
        )
        entities = (await db.execute(select(Customer, Company).from_statement(statement))).all()
        read = await table_records(db, statement, *tables)
    assert len(read) == len(entities) == 2
    for (customer, company), (customer_entity, company_entity) in zip(read, entities, strict=True):
        assert isinstance(customer, tuple) and isinstance(company, tuple)
        assert customer._fields == tuple(Customer.model_fields)
        assert company._fields == tuple(Company.model_fields)
        assert customer == tuple(getattr(customer_entity, k) for k in customer._fields)
        assert company == tuple(getattr(company_entity, k) for k in company._fields)
    assert [c.last_name for c, _ in read] == ["Join0", "Join1"]
    assert {c.id for c, _ in read} == set(ids) and {k.id for _, k in read} == {studio.company_id}


def test_interned_values_are_parsed_once_shared_and_bounded() -> None:
    """models/base.Interned (SQLite's UUIDs and timestamps): None reads as None, a text
    seen before gives the same object without parsing it again, and no more than
    `limit` values are held."""
    parsed: list[str] = []

    def parse(text: str) -> uuid.UUID:
        parsed.append(text)
        return uuid.UUID(text)

    interned = Interned(parse, 4)
    read = interned.__getitem__  # what a result processor is
    ids = [uuid.uuid4().hex for _ in range(10)]
    assert read(None) is None
    first = read(ids[0])
    assert first == uuid.UUID(ids[0]) and read(ids[0]) is first and parsed == [ids[0]]
    for text in ids:
        assert read(text) == uuid.UUID(text)
        assert len(interned) <= 4
    assert read(None) is None
    with pytest.raises(ValueError):
        read("not a uuid")


async def test_an_enum_name_the_code_does_not_know_is_refused_on_read(
    database: Database, studio: Studio
) -> None:
    """models/base.enum_type reads names through its lookup: a known one as the enum's
    member, an unknown one raises a LookupError (as SQLAlchemy's own Enum does) instead
    of passing through as text."""
    booking = await studio.book(await studio.session())
    status = select(Booking.status).where(col(Booking.id) == booking.id)
    async with database.read() as db:
        assert await db.scalar(status) is BookingStatus.BOOKED
    async with database.transaction() as db:
        await db.execute(
            sa.text("UPDATE booking SET status = 'LOST' WHERE id = :id").bindparams(
                sa.bindparam("id", booking.id, type_=sa.Uuid())
            )
        )
    async with database.read() as db:
        with pytest.raises(LookupError):
            await db.scalar(status)
