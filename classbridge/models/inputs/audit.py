"""Inputs of the audit log."""

import uuid
from typing import Annotated

from classbridge.models.fields import Moment, up_to
from classbridge.models.tables.audit import ENTITY_LENGTH
from classbridge.models.validation import Input


class AuditFilter(Input):
    """Which entries to list; every field given narrows the list."""

    entity_type: Annotated[str | None, up_to(ENTITY_LENGTH)] = None
    entity_id: Annotated[str | None, up_to(ENTITY_LENGTH)] = None
    actor_id: uuid.UUID | None = None
    from_time: Moment | None = None
    to_time: Moment | None = None
