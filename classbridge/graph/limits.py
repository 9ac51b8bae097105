"""Limits checked before anything runs, so that every request has a bounded cost.

In order:
1. parsing refuses documents longer than CLASSBRIDGE_MAX_QUERY_LENGTH characters before
   reading them and stops after CLASSBRIDGE_MAX_QUERY_TOKENS tokens (graphql-core's parser);
2. before validation: an anonymous staff request may only sign in or introspect, and one
   linear analysis (graph/complexity.py) refuses documents whose node estimate, depth or
   aliases exceed the limits — validation itself never sees an expensive document;
3. graphql-core validates the document, stopping at the first few errors;
4. before execution: page sizes and cursors anywhere in the document are checked, so a bad
   one is refused before a mutation changes anything, and no string may hold a NUL
   character (PostgreSQL can neither store nor compare one).

Clients send the same few documents over and over; parsing and validating them again was
most of a small request's cost. `DocumentCache` (one per schema, bounded LRU keyed by the
document's text and operation name) keeps what depends on the document alone: the parsed
document, that it passed validation, its root fields, its cost (reused only while the
variables it read are the same), NUL in literals. Every limit still applies to every
request: a cached document over a limit is refused again, from its cached cost. Documents
that fail to parse or validate are not kept (their errors are worked out anew).
"""

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, validate, visit
from graphql.validation.rules import overlapping_fields_can_be_merged
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from classbridge.graph.complexity import (
    DocumentCost,
    DocumentRefused,
    Refusal,
    chosen_operations,
    document_cost,
)
from classbridge.graph.complexity import root_fields as document_root_fields
from classbridge.graph.context import Context
from classbridge.graph.errors import GRAPHQL_VALIDATION, QUERY_TOO_COMPLEX, ErrorCodes
from classbridge.graph.inputs import field_path
from classbridge.graph.pagination import check_cursor, check_page_size
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.settings import Settings

# Introspection: anyone may read the schema (GraphiQL does before a token is pasted).
INTROSPECTION = frozenset({"__schema", "__type", "__typename"})

# graphql-core meters the work of its field-merging rule and aborts validation when the
# budget runs out (documented as meant to be set). Its default, 500,000 units, is
# ~80 ms of CPU; documents within our token limit that are not built to attack it stay
# far below this one.
overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = 2_000

# Validation stops after this many errors (graphql-core's default is 100).
MAX_VALIDATION_ERRORS = 10

# Documents kept parsed and validated, per schema. A document is at most
# CLASSBRIDGE_MAX_QUERY_LENGTH characters and MAX_QUERY_TOKENS tokens, so the cache holds
# at most a few MB however many distinct documents clients send.
DOCUMENT_CACHE_SIZE = 256


@dataclass
class PreparedDocument:
    """What one document (text and operation name) costs to prepare, worked out once."""

    document: DocumentNode
    valid: bool = False
    """Validation passed (documents with errors are validated on every request)."""
    cost: DocumentCost | None = None
    """The last cost worked out; valid for requests whose variables it read agree."""
    root_fields: set[str] | None = None
    nul_in_literals: bool | None = None
    declared_variables: set[str] | None = None


@dataclass
class DocumentCache:
    """A bounded LRU of prepared documents; `parsed` and `validated` count the work done
    (tests assert that a repeated document is parsed and validated once)."""

    size: int = DOCUMENT_CACHE_SIZE
    parsed: int = 0
    validated: int = 0
    _entries: OrderedDict[tuple[str, str | None], PreparedDocument] = field(
        default_factory=OrderedDict
    )

    def get(self, key: tuple[str, str | None]) -> PreparedDocument | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, str | None], entry: PreparedDocument) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _has_nul(value: Any) -> bool:
    """NUL anywhere in a JSON-like value; iterative, so deep nesting cannot overflow."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class _NulInLiterals(Visitor):
    found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.found = True


def _refusal(code: str, message: str, **details: object) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **details})


def _domain_refusal(error: DomainError) -> GraphQLError:
    extensions: dict[str, object] = {"code": error.code.value}
    field = field_path(error)
    if field:
        extensions["field"] = field
    return GraphQLError(error.message, extensions=extensions)


class QueryLimits(SchemaExtension):
    """The limits above, for one request."""

    def __init__(
        self,
        *,
        settings: Settings,
        anonymous_fields: frozenset[str] | None,
        cache: DocumentCache | None = None,
    ) -> None:
        self.settings = settings
        self.anonymous_fields = anonymous_fields
        self.cache = cache if cache is not None else DocumentCache(size=0)
        self.cost: DocumentCost | None = None
        self.prepared: PreparedDocument | None = None

    def on_operation(self) -> Iterator[None]:
        # graphql-core's parse() options (strawberry passes them on as they are).
        options = cast(dict[str, Any], self.execution_context.parse_options)
        options["max_source_length"] = self.settings.max_query_length
        options["max_tokens"] = self.settings.max_query_tokens
        yield

    def _key(self) -> tuple[str, str | None] | None:
        query = self.execution_context.query
        return (query, self.execution_context.operation_name) if query else None

    def on_parse(self) -> Iterator[None]:
        # strawberry parses only when no document is set yet: a cached one skips parsing.
        context = self.execution_context
        key = self._key()
        if key is not None and context.graphql_document is None:
            self.prepared = self.cache.get(key)
            if self.prepared is not None:
                context.graphql_document = self.prepared.document
        yield
        if self.prepared is None and context.graphql_document is not None:
            self.cache.parsed += 1
            self.prepared = PreparedDocument(document=context.graphql_document)
            if key is not None and self.cache.size > 0:
                self.cache.put(key, self.prepared)

    def on_validate(self) -> Iterator[None]:
        # Errors are recorded, not raised (a raise here would escape a subscription's
        # stream); strawberry skips its own validation when an extension ran one.
        context = self.execution_context
        if context.graphql_document is not None and context.pre_execution_errors is None:
            if self.prepared is None or self.prepared.document is not context.graphql_document:
                self.prepared = PreparedDocument(document=context.graphql_document)
            refusal = self._anonymous_refusal() or self._cost_refusal()
            if refusal is not None:
                context.pre_execution_errors = [refusal]
            elif self.prepared.valid:
                context.pre_execution_errors = []
            else:
                context.pre_execution_errors = self._validate()
                self.prepared.valid = not context.pre_execution_errors
        yield

    def on_execute(self) -> Iterator[None]:
        refusal = self._argument_refusal()
        if refusal is not None:
            raise refusal
        yield

    def _anonymous_refusal(self) -> GraphQLError | None:
        context = self.execution_context
        caller = context.context
        if self.anonymous_fields is None or not isinstance(caller, Context) or caller.staff:
            return None
        assert context.graphql_document is not None and self.prepared is not None
        names = self.prepared.root_fields
        if names is None:
            names = document_root_fields(context.graphql_document, context.operation_name)
            self.prepared.root_fields = names
        if names <= self.anonymous_fields | INTROSPECTION:
            return None
        return _refusal(
            ErrorCode.UNAUTHENTICATED.value, "sign in: send Authorization: Bearer <token>"
        )

    def _cost_refusal(self) -> GraphQLError | None:
        context = self.execution_context
        assert context.graphql_document is not None and self.prepared is not None
        settings = self.settings
        cost = self.prepared.cost
        if cost is None or not cost.holds_for(context.variables):
            try:
                cost = document_cost(
                    context.schema._schema,
                    context.graphql_document,
                    operation_name=context.operation_name,
                    variables=context.variables,
                )
            except DocumentRefused as refused:
                code = (
                    GRAPHQL_VALIDATION
                    if refused.reason is Refusal.FRAGMENT_CYCLE
                    else QUERY_TOO_COMPLEX
                )
                return _refusal(code, refused.message)
            self.prepared.cost = cost
        self.cost = cost
        details = {"nodes": cost.nodes, "depth": cost.depth, "aliases": cost.aliases}
        if cost.nodes > settings.max_query_nodes:
            return _refusal(
                QUERY_TOO_COMPLEX,
                f"the query may return about {cost.nodes:,} objects, more than the "
                f"{settings.max_query_nodes:,} allowed: ask for smaller pages (first) or "
                "fewer nested lists",
                **details,
            )
        if cost.depth > settings.max_query_depth:
            return _refusal(
                QUERY_TOO_COMPLEX,
                f"the query nests {cost.depth} levels deep, more than the "
                f"{settings.max_query_depth} allowed",
                **details,
            )
        if cost.aliases > settings.max_query_aliases:
            return _refusal(
                QUERY_TOO_COMPLEX,
                f"the query uses {cost.aliases:,} aliases, more than the "
                f"{settings.max_query_aliases} allowed",
                **details,
            )
        return None

    def _validate(self) -> list[GraphQLError]:
        """graphql-core's validation with strawberry's rules, as strawberry would run it,
        but stopping after a few errors: each costs suggestions ("did you mean …")."""
        context = self.execution_context
        assert context.graphql_document is not None
        if not context.validation_rules:  # validation disabled
            return []
        rules = (*context.validation_rules, MaybeNullValidationRule, OneOfInputValidationRule)
        self.cache.validated += 1
        return validate(
            context.schema._schema,
            context.graphql_document,
            rules,
            max_errors=MAX_VALIDATION_ERRORS,
        )

    def _argument_refusal(self) -> GraphQLError | None:
        context = self.execution_context
        try:
            for argument in self.cost.page_arguments if self.cost else ():
                if argument.name == "first":
                    check_page_size(argument.value)
                elif isinstance(argument.value, str):
                    check_cursor(argument.value)
        except DomainError as error:
            return _domain_refusal(error)
        prepared = self.prepared
        if context.graphql_document is None or prepared is None:
            return None
        if prepared.nul_in_literals is None:
            literals = _NulInLiterals()
            visit(context.graphql_document, literals)
            prepared.nul_in_literals = literals.found
        declared = prepared.declared_variables
        if declared is None:
            declared = prepared.declared_variables = {
                d.variable.name.value
                for op in chosen_operations(context.graphql_document, context.operation_name)
                for d in op.variable_definitions or ()
            }
        variables = context.variables or {}
        if prepared.nul_in_literals or _has_nul([v for k, v in variables.items() if k in declared]):
            return _refusal(ErrorCode.VALIDATION.value, "text must not contain NUL characters")
        return None


def limit_extensions(
    settings: Settings,
    *,
    anonymous_fields: frozenset[str] | None = None,
    cache: DocumentCache | None = None,
) -> list[Callable[[], SchemaExtension]]:
    """Extension factories: strawberry builds fresh ones for every request.

    `anonymous_fields`: the root fields a caller without a token may select (besides
    introspection); None when the endpoint lets no anonymous request through. `cache`:
    the schema's prepared documents (a fresh one when not given).
    """
    documents = cache if cache is not None else DocumentCache()
    return [
        ErrorCodes,
        lambda: QueryLimits(settings=settings, anonymous_fields=anonymous_fields, cache=documents),
    ]
