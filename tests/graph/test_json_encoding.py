"""Answers are compact JSON (graph/http.py `encode_json`), non-ASCII written as UTF-8:
the same values as json.dumps would give any parser."""

import json

import httpx

from classbridge.graph.http import encode_json
from tests.studio import Studio

CREATE = """mutation($input: CustomerInput!) {
  createCustomer(input: $input) { id firstName lastName notes }
}"""


def test_encoding_says_what_json_dumps_says() -> None:
    data = {
        "data": {"a": [1, 2.5, None, True, False], "b": {"ü": "Zoë Müller — 東京 \u2028"}},
        "errors": [{"message": 'quote " and \\ backslash', "extensions": {"code": "X"}}],
    }
    text = encode_json(data)
    assert json.loads(text) == data
    # Compact, and the characters themselves rather than \u escapes.
    assert text == json.dumps(data, separators=(",", ":"), ensure_ascii=False)


async def test_a_non_ascii_answer_is_utf8_json(client: httpx.AsyncClient, studio: Studio) -> None:
    names = {"firstName": "Zoë", "lastName": "Müller-Łukasiewicz", "notes": "東京 \u2028 ok"}
    response = await client.post(
        "/graphql", json={"query": CREATE, "variables": {"input": names}}, headers=studio.headers()
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    created = json.loads(response.content.decode("utf-8"))["data"]["createCustomer"]
    assert {k: created[k] for k in names} == names
    assert "Müller-Łukasiewicz".encode() in response.content
