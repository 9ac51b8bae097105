"""The core: tables, inputs and domain operations. Knows nothing of GraphQL, HTTP or jobs.

Importing this package registers every table on `SQLModel.metadata`. The layout, bottom to
top (a module imports only from below it; tests/test_layers.py keeps it so):

- foundations: `base` (column types), `errors`, `db`, `fields` (every input constraint),
  `validation` (the `Input` base class), `keyset`, `localtime`, `tokens`;
- `tables/`: the SQLModel tables and their enums;
- `inputs/`: Create/Update/Filter classes per entity;
- operations, lowest first: `outbox` and `sign_in_events` (what the world learns after a
  commit); `company`, `staff`, `aggregator`, `partner_token`, `email`, `product`,
  `customer`; `activity`; `session`; `booking`; then what combines them:
  `session_cancellation`, `merge`, `offer`, `catalog`, `reservation`, `extension`, `push/`.
"""

from classbridge.models import tables as tables
