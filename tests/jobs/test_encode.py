"""The push's JSON (`jobs.push.encode`, request bodies and acknowledged digests) is byte
for byte json.dumps' compact, key-sorted, ASCII-escaped JSON, whichever encoder wrote it:
a digest that changed would make the reconciliation re-send every session as changed."""

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classbridge.jobs.push import content_digest, encode, session_payload
from classbridge.models.offer import SessionOffer
from classbridge.models.tables import Aggregator, PushState


def _reference(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


# What a pushed state is made of: text (any code point, lone surrogates, control
# characters and DEL included), integers (past 64 bits too), booleans, nulls, nested.
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(), _values, max_size=8))
def test_the_bytes_are_json_dumps_bytes(data: dict[str, Any]) -> None:
    assert encode(data) == _reference(data)


@pytest.mark.parametrize(
    "text", ["plain", "Müller", "東京", "a\x7fb", "tab\there", "nul\x00", "\ud800", "€\u2028"]
)
def test_the_escapes_json_dumps_writes(text: str) -> None:
    for data in ({"name": text, "n": 2, "ok": True, "none": None}, {"name": text, "n": 2**70}):
        assert encode(data) == _reference(data)


def test_what_json_dumps_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        encode({"at": datetime.now(UTC)})


def test_a_pushed_state_holds_only_what_the_bytes_are_promised_for() -> None:
    at = datetime(2026, 3, 29, 16, 0, tzinfo=UTC)
    offer = SessionOffer(
        session_id=uuid.uuid4(),
        company_id=uuid.uuid4(),
        venue_id=uuid.uuid4(),
        activity_id=uuid.uuid4(),
        aggregator=Aggregator.EGYM_WELLPASS,
        version=3,
        updated_at=at,
        name="Yoga für Anfänger",
        description=None,
        sport="Yoga",
        timezone="Europe/Berlin",
        starts_at=at,
        ends_at=at,
        start_local=at,
        end_local=at,
        room="Saal 1",
        teacher="Zoë",
        is_cancelled=False,
        cancelled_at=None,
        offered=True,
        total_spots=20,
        total_aggregator_spots=5,
        available_spots=4,
        booking_window_start="168:00",
        booking_window_end=None,
        late_cancel_window="12:00",
    )
    payload = session_payload(offer, PushState.OFFERED, "wp-1")
    assert {type(v) for v in payload.values()} <= {str, int, bool, type(None)}
    assert encode(payload) == _reference(payload)
    content = {k: v for k, v in payload.items() if k not in ("version", "updatedAt")}
    assert content_digest(payload) == hashlib.sha256(_reference(content)).hexdigest()
