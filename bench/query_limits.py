"""CPU time to refuse or accept the worst GraphQL documents we can build within the limits.

Runs the staff schema's whole pre-execution pipeline in this process (parsing, the limits
of graph/limits.py, validation) and stops before execution, so only the decision is
measured. Documents are built to the configured token limit. The old pipeline (strawberry's
QueryDepthLimiter / MaxAliasesLimiter, as before the complexity analysis) is timed on the
fragment-doubling family alongside, alternating, to show why it had to go.

    .venv/bin/python bench/query_limits.py                # defaults from Settings
    .venv/bin/python bench/query_limits.py --tokens 2000  # a larger token limit
    .venv/bin/python bench/query_limits.py --repeat 31    # more repetitions

Figures are CPU time (time.process_time) of one request, the minimum and median of the
repetitions; on a shared machine the minimum is the honest one.
"""

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from graphql import ExecutionResult, get_introspection_query
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from classbridge.graph.context import Context
from classbridge.graph.errors import CodedSchema, ErrorCodes
from classbridge.graph.limits import limit_extensions
from classbridge.graph.scalars import scalar_config
from classbridge.graph.staff.live import Subscription
from classbridge.graph.staff.schema import ANONYMOUS_FIELDS, Mutation, Query
from classbridge.models.staff import StaffActor, StaffRole
from classbridge.settings import Settings


class StopBeforeExecution(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        self.execution_context.result = ExecutionResult(data={"accepted": True})
        yield


def schema(extensions: list[Any]) -> CodedSchema:
    return CodedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[*extensions, StopBeforeExecution],
        config=scalar_config(),
    )


def new_pipeline(settings: Settings) -> CodedSchema:
    return schema(limit_extensions(settings, anonymous_fields=ANONYMOUS_FIELDS))


def old_pipeline(settings: Settings) -> CodedSchema:
    return schema(
        [
            ErrorCodes,
            lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
            lambda: MaxTokensLimiter(max_token_count=2000),
            lambda: MaxAliasesLimiter(max_alias_count=settings.max_query_aliases),
        ]
    )


def doubling(levels: int, base: str = "me { id }") -> str:
    """Each fragment spreads the previous one twice: 2^levels copies of `base`."""
    fragments = [f"fragment F0 on Query {{ {base} }}"] + [
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels)
    ]
    return f"{{ ...F{levels - 1} }}\n" + "\n".join(fragments)


def worst_documents(tokens: int, length: int) -> dict[str, tuple[str, dict[str, Any] | None]]:
    """(document, variables) per name, each as large as the limits allow."""
    fields = tokens - 4
    return {
        "fragment doubling, 24 levels": (doubling(24), None),
        "fragment doubling of a list": (doubling(24, "venues { id }"), None),
        "fragment doubling of aliases": (doubling(24, "a: me { id }"), None),
        "one field repeated": ("{ " + " ".join(["__typename"] * fields) + " }", None),
        "one object field repeated": ("{ " + " ".join(["me { id }"] * (fields // 4)) + " }", None),
        "a leaf repeated inside": ("{ me { " + " ".join(["id"] * (fields - 3)) + " } }", None),
        "unknown fields": ("{ " + " ".join(f"x{i}" for i in range(fields)) + " }", None),
        "many fragments": (
            "{ "
            + " ".join(f"...F{i}" for i in range(fields // 10))
            + " } "
            + " ".join(f"fragment F{i} on Query {{ me {{ id }} }}" for i in range(fields // 10)),
            None,
        ),
        "many variables": (
            "query(" + " ".join(f"$v{i}: Int" for i in range(fields // 4)) + ") { __typename }",
            None,
        ),
        "many directives": (
            "{ __typename " + " ".join(["@skip(if: false)"] * (fields // 7)) + " }",
            None,
        ),
        "many arguments": (
            "{ me(" + " ".join(f"a{i}: 1" for i in range(fields // 3)) + ") { id } }",
            None,
        ),
        "a long list literal": (
            '{ customers(search: ["'
            + '","'.join(["x"] * (fields - 12))
            + '"]) { edges { cursor } } }',
            None,
        ),
        "nested lists within the depth": (
            '{ session(id: "x") { bookings { session { bookings { session { bookings '
            "{ session { bookings { id } } } } } } } } }",
            None,
        ),
        "deep selections": ("{" + "me { " * 99 + "id" + "}" * 100, None),
        "deep inline fragments": ("{" + "... on Query {" * 99 + "__typename" + "}" * 100, None),
        "a long string": (
            '{ customers(search: "' + "x" * (length - 50) + '") { edges { cursor } } }',
            None,
        ),
        "GraphiQL's introspection": (get_introspection_query(descriptions=True), None),
    }


def run_once(
    pipeline: CodedSchema, context: Context, document: str, variables: dict[str, Any] | None
) -> tuple[float, Any]:
    loop = asyncio.new_event_loop()
    try:
        started = time.process_time()
        result = loop.run_until_complete(
            pipeline.execute(document, variable_values=variables, context_value=context)
        )
        return time.process_time() - started, result
    finally:
        loop.close()


def outcome(result: Any) -> str:
    if not result.errors:
        return "accepted"
    codes = sorted({(e.extensions or {}).get("code", "?") for e in result.errors})
    return "refused " + ",".join(codes)


def measure(run: Callable[[], tuple[float, Any]], repeat: int) -> tuple[float, float, Any]:
    times = []
    result = None
    for _ in range(repeat):
        spent, result = run()
        times.append(spent)
    return min(times) * 1000, statistics.median(times) * 1000, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    overrides = {"max_query_tokens": args.tokens} if args.tokens else {}
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:", **overrides)
    actor = StaffActor(user_id=uuid.uuid4(), company_id=uuid.uuid4(), role=StaffRole.OWNER)
    context = Context(
        request=None,  # type: ignore[arg-type]
        response=None,
        database=None,  # type: ignore[arg-type]
        settings=settings,
        staff=actor,
    )
    new = new_pipeline(settings)
    print(
        f"limits: {settings.max_query_tokens} tokens, {settings.max_query_length:,} characters, "
        f"{settings.max_query_nodes:,} nodes, depth {settings.max_query_depth}, "
        f"{settings.max_query_aliases} aliases\n"
    )
    print("| document | characters | CPU ms (min) | CPU ms (median) | outcome |")
    print("| --- | ---: | ---: | ---: | --- |")
    worst = 0.0
    for name, (document, variables) in worst_documents(
        settings.max_query_tokens, settings.max_query_length
    ).items():
        best, median, result = measure(
            lambda d=document, v=variables: run_once(new, context, d, v), args.repeat
        )
        worst = max(worst, best)
        print(f"| {name} | {len(document):,} | {best:.2f} | {median:.2f} | {outcome(result)} |")
    print(f"\nworst document: {worst:.2f} ms CPU (minimum over {args.repeat} runs)\n")

    # Variables are JSON, parsed by the HTTP layer in C and coerced by graphql-core: their
    # cost grows with the body (CLASSBRIDGE_MAX_BODY_BYTES), not with the document.
    weekdays = [1] * ((settings.max_body_bytes - 400) // 3)
    document = "mutation($input: ScheduleSessionsInput!) { scheduleSessions(input: $input) { id } }"
    variables = {
        "input": {
            "activityId": str(uuid.uuid4()),
            "venueId": str(uuid.uuid4()),
            "start": "2099-01-01T10:00",
            "repeat": {"weekdays": weekdays, "until": "2099-02-01"},
        }
    }
    body = json.dumps({"query": document, "variables": variables})

    def parse_and_coerce() -> tuple[float, Any]:
        started = time.process_time()
        parsed = json.loads(body)
        spent, result = run_once(new, context, parsed["query"], parsed["variables"])
        return time.process_time() - started - spent + spent, result

    best, median, _ = measure(parse_and_coerce, max(3, args.repeat // 3))
    print(
        f"a {len(body):,}-byte body of one list variable: {best:.2f} ms CPU (min), "
        f"{median:.2f} (median), JSON parsing included\n"
    )

    old = old_pipeline(settings)
    print("fragment doubling (`me { id }`), old limiters vs. the analysis, alternating:\n")
    print("| levels | copies | old CPU ms | new CPU ms |")
    print("| ---: | ---: | ---: | ---: |")
    for levels in (12, 14, 16, 18, 20):
        document = doubling(levels)
        old_ms = new_ms = float("inf")
        for _ in range(3 if levels < 20 else 1):
            old_ms = min(old_ms, run_once(old, context, document, None)[0] * 1000)
            new_ms = min(new_ms, run_once(new, context, document, None)[0] * 1000)
        print(f"| {levels} | {2**levels:,} | {old_ms:,.1f} | {new_ms:.2f} |")


if __name__ == "__main__":
    main()
