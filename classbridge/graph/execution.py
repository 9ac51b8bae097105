"""How operations execute: a committed change is always reported as committed.

A root mutation field commits its change before it returns; its result's fields resolve
afterwards. By the spec, an error in one of them (a nested page that fails, a database
hiccup) would travel up the non-null types to `data: null`, and the client would believe
nothing happened. Below a root mutation field, an error nulls only the field that failed
(its error is in `errors[]`, with its path), so the mutation's result always arrives.
Errors of the root mutation field itself (a refusal: nothing was written) and of queries
follow the spec.
"""

from typing import Any, cast

from graphql import GraphQLOutputType, OperationType, get_nullable_type
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class CommittedMutationExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor (graphql-core's), with the rule above."""

    def handle_field_error(
        self,
        raw_error: Exception,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        path: Path,
    ) -> None:
        if self.operation.operation is OperationType.MUTATION and path.prev is not None:
            # Null here, do not propagate.
            return_type = cast(GraphQLOutputType, get_nullable_type(return_type))
        super().handle_field_error(raw_error, return_type, field_details_list, path)
