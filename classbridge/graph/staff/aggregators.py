"""Settings > Aggregators in the staff API: extension status, the IDs to send the
aggregator, and activating or deactivating an extension (OWNER only)."""

from datetime import datetime

import strawberry

from classbridge.graph.context import Info
from classbridge.graph.staff.permissions import AnyStaff, OwnerOnly
from classbridge.graph.staff.types import Aggregator, ExtensionStatus
from classbridge.models import extension as extension_model
from classbridge.models.tables import Aggregator as AggregatorEnum


@strawberry.type(description="A venue as the aggregator needs it.")
class AggregatorVenue:
    venue_id: strawberry.ID = strawberry.field(description="Our venue UUID: send it along.")
    name: str
    aggregator_venue_id: str | None = strawberry.field(
        description="The aggregator's own id for this venue, once it linked it."
    )


@strawberry.type(description="One aggregator's extension for the company.")
class AggregatorExtension:
    aggregator: Aggregator
    display_name: str
    status: ExtensionStatus
    company_id: strawberry.ID = strawberry.field(description="Our company UUID: send it along.")
    activated_at: datetime | None
    deactivated_at: datetime | None
    venues: list[AggregatorVenue]


def _format(view: extension_model.ExtensionView) -> AggregatorExtension:
    row = view.extension
    return AggregatorExtension(
        aggregator=view.aggregator,
        display_name=view.aggregator.display_name,
        status=view.status,
        company_id=strawberry.ID(str(view.company_id)),
        activated_at=row.activated_at if row else None,
        deactivated_at=row.deactivated_at if row else None,
        venues=[
            AggregatorVenue(
                venue_id=strawberry.ID(str(v.venue.id)),
                name=v.venue.name,
                aggregator_venue_id=v.aggregator_venue_id,
            )
            for v in view.venues
        ],
    )


async def _one(info: Info, aggregator: AggregatorEnum) -> AggregatorExtension:
    actor = info.context.require_staff()
    async with info.context.read() as db:
        views = await extension_model.list_extensions(db=db, company_id=actor.company_id)
    return next(_format(v) for v in views if v.aggregator is aggregator)


@strawberry.type
class AggregatorQuery:
    @strawberry.field(
        description="Settings > Aggregators: every aggregator and its status.",
        permission_classes=[AnyStaff],
    )
    async def aggregator_extensions(self, info: Info) -> list[AggregatorExtension]:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            views = await extension_model.list_extensions(db=db, company_id=actor.company_id)
        return [_format(v) for v in views]


@strawberry.type
class AggregatorMutation:
    @strawberry.mutation(
        permission_classes=[OwnerOnly],
        description="Activate an aggregator (OWNER): emails the next steps and the IDs.",
    )
    async def activate_aggregator_extension(
        self,
        info: Info,
        aggregator: Aggregator,
    ) -> AggregatorExtension:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            await extension_model.activate_extension(db=db, actor=actor, aggregator=aggregator)
        return await _one(info, aggregator)

    @strawberry.mutation(
        description="Deactivate an aggregator (OWNER): nothing is offered.",
        permission_classes=[OwnerOnly],
    )
    async def deactivate_aggregator_extension(
        self,
        info: Info,
        aggregator: Aggregator,
    ) -> AggregatorExtension:
        actor = info.context.require_staff()
        async with info.context.transaction() as db:
            await extension_model.deactivate_extension(db=db, actor=actor, aggregator=aggregator)
        return await _one(info, aggregator)
