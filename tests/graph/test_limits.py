"""Every document's cost is bounded before anything runs: one linear analysis estimates
nodes, depth and aliases; oversized documents are refused with QUERY_TOO_COMPLEX, and a
request without a token may only sign in or introspect. Visit counts, not clocks, prove
the analysis linear (bench/query_limits.py has the CPU figures)."""

import uuid

import httpx
import pytest
from graphql import (
    DocumentNode,
    GraphQLSchema,
    get_introspection_query,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
    is_object_type,
    parse,
)

from classbridge.graph.complexity import (
    LIST_BOUNDS,
    DocumentRefused,
    Refusal,
    document_cost,
    root_fields,
)
from classbridge.graph.partner.schema import build_partner_schema
from classbridge.graph.staff.schema import build_staff_schema
from classbridge.models.aggregator import Aggregator
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.aggregators.partner import connect, make_partner
from tests.conftest import QueryCounter
from tests.graph.rows import snapshot
from tests.studio import Studio, error_codes, gql

STAFF = build_staff_schema(Settings())._schema
PARTNER = build_partner_schema(Settings())._schema


def doubling(levels: int, base: str) -> str:
    """~1 KB: each fragment spreads the previous one twice (2^levels copies of `base`)."""
    fragments = [f"fragment F0 on Query {{ {base} }}"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels)
    ]
    return f"{{ ...F{levels - 1} }}\n" + "\n".join(fragments)


def selections(document: DocumentNode) -> int:
    """Selections written in the document (fields, spreads, inline fragments)."""
    count = 0
    pending = [d.selection_set for d in document.definitions]  # type: ignore[attr-defined]
    while pending:
        for selection in pending.pop().selections:
            count += 1
            if getattr(selection, "selection_set", None) is not None:
                pending.append(selection.selection_set)  # type: ignore[union-attr]
    return count


def nested_bookings(levels: int) -> str:
    inner = "id"
    for _ in range(levels):
        inner = f"session {{ bookings {{ {inner} }} }}"
    return f'{{ booking(id: "{uuid.uuid4()}") {{ {inner} }} }}'


@pytest.mark.parametrize("levels", [8, 16, 24, 64])
def test_each_fragment_is_analysed_once_however_it_is_spread(levels: int) -> None:
    document = parse(doubling(levels, "venues { id }"))
    cost = document_cost(STAFF, document)
    # 2^levels copies, each a list of venues: the estimate saturates, the work does not.
    assert cost.nodes >= min(2 ** (levels - 1) * 100, 2**53)
    assert cost.visits == selections(document) == 2 * levels + 1


def test_a_fragment_cycle_is_refused_not_followed() -> None:
    for text in (
        "{ ...A } fragment A on Query { ...A }",
        "{ ...A } fragment A on Query { me { id } ...B } fragment B on Query { ...A }",
    ):
        with pytest.raises(DocumentRefused) as refused:
            document_cost(STAFF, parse(text))
        assert refused.value.reason is Refusal.FRAGMENT_CYCLE


def test_a_long_chain_of_fragments_cannot_exhaust_the_stack() -> None:
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(5000))
    document = parse("{ ...F0 } " + chain + " fragment F5000 on Query { me { id } }")
    cost = document_cost(STAFF, document)
    assert cost.depth == 1 and cost.visits == selections(document)


def test_unknown_fields_types_and_fragments_count_as_harmless() -> None:
    document = parse("{ nope { deeper { still } } ...Missing ... on Nowhere { x } me { id } }")
    cost = document_cost(STAFF, document)
    assert (cost.nodes, cost.depth) == (0, 2)


@pytest.mark.parametrize(
    ("document", "nodes"),
    [
        # A page counts its size; a list under it counts its declared bound per item.
        ("{ sessions(first: 50) { edges { node { bookings { id } } } } }", 50 + 50 * 100),
        ("{ sessions { edges { node { id } } } }", 50),  # the default page size
        ("{ sessions(first: 1000) { edges { node { id } } } }", 100),  # refused at 100 anyway
        ("{ customers(first: 10) { edges { node { aggregatorIds { externalId } } } } }", 110),
        ("{ me { id } company { name } }", 0),  # single objects cost nothing
        (
            "{ venues { id } activities { id } sessions(first: 20) { edges { node { id } } } }",
            100 + 200 + 20,
        ),
        # Products along a path, sums across siblings.
        (
            '{ session(id: "x") { bookings { session { bookings { id } } } } }',
            100 + 100 * 100,
        ),
    ],
)
def test_nodes_are_estimated_the_way_github_counts_them(document: str, nodes: int) -> None:
    assert document_cost(STAFF, parse(document)).nodes == nodes


def test_page_sizes_come_from_variables_and_their_defaults() -> None:
    text = "query($n: Int = 7) { sessions(first: $n) { edges { node { bookings { id } } } } }"
    assert document_cost(STAFF, parse(text)).nodes == 7 + 7 * 100
    assert document_cost(STAFF, parse(text), variables={"n": 3}).nodes == 3 + 3 * 100


def test_introspection_lists_count_the_schema_own_size() -> None:
    deep = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    assert document_cost(STAFF, parse(deep)).nodes > Settings().max_query_nodes
    full = get_introspection_query(descriptions=True, input_value_deprecation=True)
    for schema in (STAFF, PARTNER):
        cost = document_cost(schema, parse(full))
        assert cost.nodes <= Settings().max_query_nodes, cost


PARTNER_POLL = """
query Schedule($after: Cursor) {
  sessions(timeRangeInDays: 14, first: 100, after: $after) {
    edges { cursor node {
      id name description startv2 endv2 start end isCancelled cancelledAt version updatedAt
      totalSpots totalAggregatorSpots availableSpots hasOnlineStream
      bookingWindowStart bookingWindowEnd lateCancelWindow
      class { id name updatedAt venue { id name } } sport { id name }
      venue { id name aggregatorVenueId timezone updatedAt email phone website
        address { street zip city country } coordinate { latitude longitude }
        company { id name updatedAt } }
      location { id city country street zip } coordinate { latitude longitude }
      teachers { id name updatedAt description gender } room { id name updatedAt }
      reservations(first: 100) { edges { cursor node {
        id status cancellationType userId onlineStreamLink updatedAt } }
        pageInfo { hasNextPage endCursor } }
    } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


def test_the_partner_poll_of_everything_fits_the_default_limits() -> None:
    settings = Settings()
    cost = document_cost(PARTNER, parse(PARTNER_POLL))
    assert cost.nodes == 100 + 100 * 1 + 100 * 100  # sessions, teachers, reservations
    assert cost.nodes <= settings.max_query_nodes and cost.depth <= settings.max_query_depth


@pytest.mark.parametrize("schema", [STAFF, PARTNER], ids=["staff", "partner"])
def test_every_list_is_paginated_or_has_a_declared_bound(schema: GraphQLSchema) -> None:
    unbounded = []
    for name, type_ in schema.type_map.items():
        if name.startswith("__") or not is_object_type(type_):
            continue
        for field_name, field in type_.fields.items():  # type: ignore[attr-defined]
            returned = get_nullable_type(field.type)
            if not is_list_type(returned) or is_leaf_type(get_named_type(field.type)):
                continue
            paginated = "first" in field.args
            page = name.endswith("Connection") and field_name == "edges"
            if not (paginated or page or (name, field_name) in LIST_BOUNDS):
                unbounded.append(f"{name}.{field_name}")
    assert unbounded == []


def test_aliases_count_through_fragments() -> None:
    document = parse(doubling(6, "a: me { id } b: company { id }"))
    assert document_cost(STAFF, document).aliases == 2 * 2**5


# Over HTTP: refused before any SQL, with the estimate in the message.

OVERSIZED = {
    "fragment doubling of a list": doubling(24, "venues { id }"),
    "fragment doubling of aliases": doubling(24, "a: me { id }"),
    "bookings within bookings within the depth": nested_bookings(4),
    "introspection in depth": (
        "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    ),
    "pages within pages": (
        "{ sessions(first: 100) { edges { node { bookings { customer { id } "
        "session { bookings { id } } } } } } }"
    ),
    "a field repeated until validation would be slow": "{ " + " ".join(["__typename"] * 490) + " }",
    "too many tokens": "{ me { " + " ".join(["id"] * 600) + " } }",
    "too long": '{ customers(search: "' + "x" * 30_000 + '") { edges { cursor } } }',
    "too deep": "{" + "me { " * 120 + "id" + "}" * 121,
}


@pytest.mark.parametrize("name", sorted(OVERSIZED))
async def test_oversized_documents_get_query_too_complex_before_any_sql(
    client: httpx.AsyncClient, studio: Studio, query_counter: QueryCounter, name: str
) -> None:
    await gql(client, "{ me {", token=studio.token)  # warm up: the token lookup only
    query_counter.count = 0
    await gql(client, "{ me {", token=studio.token)
    token_lookup = query_counter.count
    query_counter.count = 0
    body = await gql(client, OVERSIZED[name], token=studio.token)
    assert body["data"] is None
    assert error_codes(body) == ["QUERY_TOO_COMPLEX"], body
    assert query_counter.count == token_lookup


async def test_the_refusal_names_the_estimate(client: httpx.AsyncClient, studio: Studio) -> None:
    body = await gql(client, nested_bookings(3), token=studio.token)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert error["extensions"]["nodes"] == 100 + 100**2 + 100**3
    assert "1,010,100" in error["message"] and "50,000" in error["message"]


async def test_documents_within_the_limits_run(client: httpx.AsyncClient, studio: Studio) -> None:
    await studio.session()
    body = await gql(client, nested_bookings(2), token=studio.token)
    assert error_codes(body) == ["NOT_FOUND"]  # it ran: the booking id is unknown
    body = await gql(client, doubling(24, "me { id }"), token=studio.token)
    assert body == {"data": {"me": {"id": body["data"]["me"]["id"]}}}
    full = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    assert "errors" not in await gql(client, full, token=studio.token)


async def test_a_fragment_cycle_is_a_validation_error(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    body = await gql(client, "{ ...A } fragment A on Query { me { id } ...A }", token=studio.token)
    assert error_codes(body) == ["GRAPHQL_VALIDATION"]


@pytest.fixture
async def partner_client(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> httpx.AsyncClient:
    """The client, as EGYM Wellpass, connected to the studio, which has a session on offer."""
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    await connect(studio)
    await studio.session()
    client.headers.update(partner.headers())
    return client


async def test_the_partner_poll_of_everything_runs(partner_client: httpx.AsyncClient) -> None:
    response = await partner_client.post("/aggregator/v1/graphql", json={"query": PARTNER_POLL})
    assert response.status_code == 200
    assert "errors" not in response.json(), response.json()


# Without a token: sign in and introspection only, decided before anything runs.

ANONYMOUS_REFUSED = [
    "{ me { id } }",
    "{ __typename me { id } }",
    "{ ...F } fragment F on Query { me { id } }",
    "{ ... on Query { sessions { edges { cursor } } } }",
    'mutation { login(email: "a@b.c", password: "x") { token } logout }',
    doubling(24, "venues { id }"),
]


@pytest.mark.parametrize("document", ANONYMOUS_REFUSED)
async def test_without_a_token_only_login_and_introspection_run(
    client: httpx.AsyncClient, studio: Studio, query_counter: QueryCounter, document: str
) -> None:
    before = await snapshot(studio.database)
    query_counter.count = 0
    body = await gql(client, document)
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert query_counter.count == 0
    assert await snapshot(studio.database) == before


async def test_without_a_token_sign_in_and_introspection_work(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    body = await gql(client, '{ __typename __type(name: "Session") { name } }')
    assert body == {"data": {"__typename": "Query", "__type": {"name": "Session"}}}
    body = await gql(client, get_introspection_query(descriptions=True))
    assert "errors" not in body
    login = (
        f'mutation {{ login(email: "{studio.owner_email}", password: "correct horse battery") '
        "{ token } }"
    )
    assert (await gql(client, login))["data"]["login"]["token"]


def test_the_anonymous_check_sees_through_fragments() -> None:
    document = parse(
        "query A { ...X ... on Query { __typename } } fragment X on Query { ...Y login } "
        "fragment Y on Query { me { id } } query B { __schema { queryType { name } } }"
    )
    assert root_fields(document, "A") == {"__typename", "login", "me"}
    assert root_fields(document, "B") == {"__schema"}
