"""Per-operation metrics for both schemas, and the operation name for the request's logs."""

import time
from collections.abc import Callable, Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from classbridge.graph.errors import INTERNAL_SERVER_ERROR, to_client_error
from classbridge.ops import metrics
from classbridge.ops.request_context import current_request

# Shared by both APIs and every request of the process.
_operation_names = metrics.BoundedLabel()
_error_codes = metrics.BoundedLabel(pattern=r"[A-Z][A-Z_]*")


def _codes(errors: list[GraphQLError]) -> list[str]:
    return [str((to_client_error(e).extensions or {}).get("code", "")) for e in errors]


class OperationMetrics(SchemaExtension):
    """Counts each operation by name and outcome and times queries and mutations.
    A subscription is counted once, when it ends."""

    api = "unknown"

    def __init__(self, *, execution_context: Any = None) -> None:
        super().__init__(execution_context=execution_context)
        self._errors: list[GraphQLError] = []

    @classmethod
    def for_api(cls, api: str) -> Callable[[], "OperationMetrics"]:
        """A factory for a schema's extensions (strawberry builds one per operation)."""

        def build() -> OperationMetrics:
            extension = cls()
            extension.api = api
            return extension

        return build

    def _operation(self) -> str:
        name = self.execution_context.operation_name
        return _operation_names(name) if name else "anonymous"

    def on_execute(self) -> Iterator[None]:
        info = current_request()
        if info is not None:
            info.operation = self._operation()
        yield

    def on_stream_result(self, result: Any) -> Iterator[None]:
        self._errors.extend(getattr(result, "errors", None) or [])
        yield

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        result = context.result
        # A subscription's last result may be both streamed and the context's result.
        errors = list(
            {id(e): e for e in [*self._errors, *(getattr(result, "errors", None) or [])]}.values()
        )
        codes = _codes(errors)
        if not codes:
            outcome = "ok"
        elif INTERNAL_SERVER_ERROR in codes:
            outcome = "server_error"
        else:
            outcome = "client_error"
        operation = self._operation()
        metrics.GRAPHQL_OPERATIONS.labels(self.api, operation, outcome).inc()
        for code in codes:
            metrics.GRAPHQL_ERRORS.labels(self.api, _error_codes(code or "NONE")).inc()
        try:
            subscription = context.operation_type is OperationType.SUBSCRIPTION
        except Exception:  # no document (parse error): no type either
            subscription = False
        if not subscription:
            metrics.GRAPHQL_DURATION.labels(self.api, operation).observe(
                time.perf_counter() - started
            )
