"""Fuzzing both APIs: operations generated from the introspected schemas (hypothesis-graphql;
valid ones and ones with one schema violation), with real tokens and real ids mixed with
random values, against a real `classbridge serve` on SQLite and PostgreSQL.

Every answer must be below 500 and JSON; every error must carry a code and none may be
INTERNAL_SERVER_ERROR; the server must log no traceback.

A fixed seed and FUZZ_EXAMPLES cases per API keep it well under two minutes in CI. Run it
longer, with other seeds, by hand:

    CLASSBRIDGE_FUZZ_EXAMPLES=2000 CLASSBRIDGE_FUZZ_SEED=7 \\
        .venv/bin/python -m pytest tests/fuzz -q -p no:randomly
"""

import asyncio
import os
import string
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, queries

from classbridge.models.aggregator import Aggregator
from classbridge.models.db import Database
from tests.aggregators.partner import PARTNER_PATH, connect, make_partner
from tests.processes import running_server
from tests.studio import Studio

FUZZ_EXAMPLES = int(os.environ.get("CLASSBRIDGE_FUZZ_EXAMPLES", "300"))
FUZZ_SEED = int(os.environ.get("CLASSBRIDGE_FUZZ_SEED", "20261125"))

# Never generated: `logout` would revoke the token the rest of the run needs.
STAFF_MUTATIONS_SKIPPED = {"logout"}


def _string(values: st.SearchStrategy[str]) -> st.SearchStrategy[graphql.ValueNode]:
    return values.map(lambda v: graphql.StringValueNode(value=v))


def _scalars(ids: list[str]) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Values for the schemas' scalars: the studio's real ids and plausible dates, mixed
    with garbage and the ends of the calendar."""
    text = st.text(alphabet=string.printable + "äß€\x00", max_size=40)
    today = date.today()
    days = st.one_of(
        st.dates(min_value=today - timedelta(days=30), max_value=today + timedelta(days=60)),
        st.sampled_from([date.min, date.max, date(1970, 1, 1), date(2999, 12, 31)]),
    )
    soon = datetime.now().replace(microsecond=0)
    moments = st.one_of(
        st.datetimes(min_value=soon, max_value=soon + timedelta(days=60)),
        st.sampled_from([datetime.min, datetime.max, datetime(1970, 1, 1, 0, 30)]),
    )
    real = st.sampled_from(ids)
    return {
        # Mostly real ids, so that operations get past NOT_FOUND to their rules.
        "ID": _string(st.one_of(real, real, real, real, text, st.uuids().map(str))),
        "Date": _string(st.one_of(days.map(date.isoformat), text)),
        "DateTime": _string(
            st.one_of(
                moments.map(lambda m: m.isoformat() + "+05:00"),
                moments.map(datetime.isoformat),
                text,
            )
        ),
        # Mostly well-formed, so that they reach the rules (isoformat pads year 1 to 0001).
        "LocalDateTime": _string(
            st.one_of(moments, moments, moments).map(lambda m: m.isoformat(timespec="minutes"))
            | text
        ),
        "Cursor": _string(st.one_of(text, st.just("WyJ4Il0="), st.just("W1tbXV1d"))),
    }


def _documents(
    schema: graphql.GraphQLSchema, scalars: dict[str, Any], skip: set[str]
) -> st.SearchStrategy[str]:
    """Queries, and mutations of one root field each: mutation fields run one after the
    other and the first refusal ends the operation, so each gets operations of its own."""
    mutation_fields = [f for f in schema.mutation_type.fields if f not in skip]  # type: ignore[union-attr]
    query_fields = list(schema.query_type.fields)  # type: ignore[union-attr]
    kinds = [
        # One schema violation somewhere: refused as GRAPHQL_VALIDATION, never a crash.
        queries(schema, custom_scalars=scalars, mode=Mode.NEGATIVE),
        mutations(schema, fields=mutation_fields, custom_scalars=scalars, mode=Mode.NEGATIVE),
        queries(schema, custom_scalars=scalars),
    ]
    kinds.extend(queries(schema, fields=[name], custom_scalars=scalars) for name in query_fields)
    kinds.extend(
        mutations(schema, fields=[name], custom_scalars=scalars) for name in mutation_fields
    )
    return st.one_of(kinds)


def _check(response: httpx.Response, document: str) -> None:
    assert response.status_code < 500, (response.status_code, response.text, document)
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    for error in body.get("errors") or []:
        code = (error.get("extensions") or {}).get("code")
        assert code, (error, document)
        assert code != "INTERNAL_SERVER_ERROR", (error, document)
        assert "Traceback" not in str(error), error


def _fuzz(url: str, path: str, token: str, documents: st.SearchStrategy[str]) -> int:
    """Hypothesis drives a synchronous client (in a thread): the server is another process."""
    sent = 0
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:

        @seed(FUZZ_SEED)
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,  # the same cases on every machine
            phases=[Phase.explicit, Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        @given(document=documents)
        def case(document: str) -> None:
            nonlocal sent
            sent += 1
            _check(http.post(path, json={"query": document}), document)

        case()
    return sent


async def _introspect(url: str, path: str, token: str) -> graphql.GraphQLSchema:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.post(
            path,
            json={"query": graphql.get_introspection_query(descriptions=False)},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    return graphql.build_client_schema(response.json()["data"])


@pytest.mark.timeout(600)
async def test_generated_operations_never_break_the_server(
    database_url: str, database: Database, studio: Studio
) -> None:
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    await connect(studio, limit=None)
    sessions = [str(await studio.session(days_ahead=d)) for d in (1, 2)]
    ids = [
        *sessions,
        str(studio.company_id),
        str(studio.venue_id),
        str(studio.activity_id),
        str(studio.product_id),
        str(studio.customer_id),
    ]
    env = {"CLASSBRIDGE_PARTNER_RATE_LIMIT": ""}  # fuzz the API, not the rate limit
    async with running_server(database_url, extra_env=env) as server:
        staff = await _introspect(server.url, "/graphql", studio.token)
        partner_schema = await _introspect(server.url, PARTNER_PATH, partner.token)
        scalars = _scalars(ids)
        runs: list[tuple[str, str, st.SearchStrategy[str]]] = [
            ("/graphql", studio.token, _documents(staff, scalars, STAFF_MUTATIONS_SKIPPED)),
            (PARTNER_PATH, partner.token, _documents(partner_schema, scalars, set())),
        ]
        for path, token, documents in runs:
            run: Callable[[], int] = lambda p=path, t=token, d=documents: _fuzz(  # noqa: E731
                server.url, p, t, d
            )
            assert await asyncio.to_thread(run) >= FUZZ_EXAMPLES
    log = "".join(server.lines)
    assert "Traceback" not in log, log
    assert "Exception in ASGI application" not in log, log
    assert "unexpected error" not in log, log
