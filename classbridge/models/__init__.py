"""The core: tables and domain operations. Knows nothing of GraphQL, HTTP or jobs.

Importing this package registers every table on `SQLModel.metadata`.
"""

from classbridge.models import (  # noqa: F401  (registers the tables)
    activity,
    aggregator,
    booking,
    company,
    customer,
    outbox,
    product,
    push,
    session,
    staff,
)
