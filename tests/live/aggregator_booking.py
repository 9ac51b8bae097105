"""Book as an aggregator member from a separate process, the way an arq worker or the
partner API would: `python -m tests.live.aggregator_booking COMPANY SESSION CUSTOMER`.

Reads CLASSBRIDGE_* from the environment, publishes on the same bus as the servers, and
prints the booking's id. (Stands in for the partner API until that is merged.)
"""

import asyncio
import sys
import uuid

from classbridge.live import attach_publisher, create_bus
from classbridge.models.aggregator import Aggregator
from classbridge.models.booking import BookingSource, book
from classbridge.models.db import Database
from classbridge.settings import Settings


async def main(company_id: uuid.UUID, session_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    settings = Settings()
    database = Database(settings.database_url)
    bus = create_bus(settings)
    attach_publisher(database, bus)
    try:
        async with database.transaction() as db:
            booking = await book(
                db=db,
                company_id=company_id,
                session_id=session_id,
                customer_id=customer_id,
                source=BookingSource.AGGREGATOR,
                aggregator=Aggregator.EGYM_WELLPASS,
            )
        print(booking.id)
    finally:
        await bus.close()
        await database.dispose()


if __name__ == "__main__":
    asyncio.run(main(*(uuid.UUID(a) for a in sys.argv[1:4])))
