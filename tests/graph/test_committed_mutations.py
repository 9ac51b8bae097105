"""A committed change is reported as committed: argument errors anywhere in a mutation's
selection are found before its resolver runs (nothing is written), and an error in the
result's fields after the commit nulls only that field, so the result still arrives."""

import httpx

from classbridge.models.aggregator import Aggregator
from classbridge.models.db import Database
from tests.aggregators.partner import PARTNER_PATH, connect, make_partner, member
from tests.graph.rows import diff, snapshot
from tests.studio import Studio, error_codes, gql

RESERVE = """
mutation($s: ID!, $u: UserInput!) {
  makeReservation(sessionId: $s, user: $u) {
    id status
    session { id availableSpots reservations(%s) { edges { node { id } } } }
  }
}
"""
RESERVATIONS = "query($s: ID!) { reservations(sessionId: $s) { edges { node { id userId } } } }"


async def test_a_bad_page_size_in_the_selection_is_refused_before_anything_is_written(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    await connect(studio)
    session_id = str(await studio.session())
    before = await snapshot(database)
    for arguments in ("first: 0", "first: 101", 'after: "not a cursor"'):
        body = await gql(
            client,
            RESERVE % arguments,
            {"s": session_id, "u": member(1)},
            token=partner.token,
            path=PARTNER_PATH,
        )
        assert body["data"] is None, body
        assert error_codes(body) == ["VALIDATION"], body
    after = await snapshot(database)
    assert after == before, diff(before, after)


async def test_an_error_after_the_commit_still_returns_the_result(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    await connect(studio)
    session_id = str(await studio.session())
    # A cursor of the right shape but another listing's: only the page itself can tell.
    body = await gql(
        client,
        RESERVE % 'after: "WyJ4Il0="',
        {"s": session_id, "u": member(1)},
        token=partner.token,
        path=PARTNER_PATH,
    )
    made = body["data"]["makeReservation"]
    assert made["status"] == "RESERVATION_STATUS_ENROLLED" and made["id"]
    assert made["session"]["id"] == session_id and made["session"]["reservations"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "VALIDATION"
    assert error["path"] == ["makeReservation", "session", "reservations"]
    listed = await gql(
        client, RESERVATIONS, {"s": session_id}, token=partner.token, path=PARTNER_PATH
    )
    assert [e["node"]["id"] for e in listed["data"]["reservations"]["edges"]] == [made["id"]]


async def test_a_refused_mutation_still_nulls_the_whole_answer(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    """The root field's own refusal (nothing written) keeps the spec's behaviour."""
    body = await gql(
        client,
        'mutation { createProduct(name: "  ", kind: DROP_IN) { id } }',
        token=studio.token,
    )
    assert body["data"] is None and error_codes(body) == ["VALIDATION"]
