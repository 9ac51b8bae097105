"""What a worker holds while it sends: claimed delivery rows and acknowledgements.

The table itself (`PushDelivery`) is in models/tables/push.py."""

import uuid
from dataclasses import dataclass

from classbridge.models.tables.push import PushState


@dataclass(frozen=True)
class Claimed:
    """A delivery row this worker holds the lease on."""

    id: int
    session_id: uuid.UUID
    pending_gen: int
    attempts: int
    acked_state: PushState | None


@dataclass(frozen=True)
class Ack:
    """The aggregator has (or needs nothing of) this version of a session."""

    claimed: Claimed
    version: int
    state: PushState
    digest: str | None = None
    """Digest of the acknowledged content (None when nothing was sent)."""
