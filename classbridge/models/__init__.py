"""The core: tables and domain operations. Knows nothing of GraphQL, HTTP or jobs.

Importing this package registers every table on `SQLModel.metadata`.
"""

from classbridge.models import (  # noqa: F401  (registers the tables)
    activity,
    aggregator,
    booking,
    company,
    customer,
    email,
    extension,
    outbox,
    partner_token,
    product,
    push,
    reservation,
    session,
    staff,
)
