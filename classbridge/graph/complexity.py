"""What a GraphQL document may cost, worked out before validation and execution.

One pass over the document, each fragment analysed once (memoized, in dependency order),
so the work is linear in the document's size however its fragments spread each other —
a ~1 KB document whose fragments each spread the previous one twice expands to millions
of fields, and is still analysed in a few hundred steps. It is safe on documents that
were never validated: unknown fields, types and fragments count as harmless leaves, and a
fragment cycle is reported instead of followed.

The node estimate follows GitHub's GraphQL API: a paginated field (one with a `first`
argument) counts its page size (`first`, else its default), a list of objects counts its
declared bound (LIST_BOUNDS, or the schema's own size for introspection), products along a
path, sums across siblings. A field that returns one object counts nothing itself. So
`sessions(first: 50) { edges { node { bookings { id } } } }` is 50 + 50 x 100 = 5,050.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    StringValueNode,
    TypeMetaFieldDef,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    is_list_type,
)

from classbridge.graph.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

# Declared bounds of the lists that are not paginated: how many items one can hold, as far
# as an estimate needs to know. A test checks that every list field of both schemas is
# either paginated or listed here.
SIGN_IN_LIST = 100  # bookings of one session (every status)
VENUES = 100  # venues of one company
AGGREGATORS = 3  # EGYM Wellpass, Urban Sports Club, ClassPass
WAITLIST = 100  # entries of one session's waitlist
LIST_BOUNDS: Mapping[tuple[str, str], int] = {
    # staff schema
    ("Query", "venues"): VENUES,
    ("Query", "activities"): 200,
    ("Query", "products"): 100,
    ("Query", "aggregatorExtensions"): AGGREGATORS,
    ("Query", "staffMembers"): 200,  # accounts of one company
    ("Query", "aggregatorSync"): AGGREGATORS,
    ("Session", "bookings"): SIGN_IN_LIST,
    ("SignInList", "bookings"): SIGN_IN_LIST,
    ("Session", "waitlist"): WAITLIST,
    ("SignInList", "waitlist"): WAITLIST,
    # one row per aggregator, month and venue (x activity / member id); 3 years at most
    ("AggregatorVisitReport", "rows"): 5_000,
    ("AggregatorVisitReport", "byActivity"): 10_000,
    ("AggregatorVisitReport", "byMember"): 30_000,
    ("Customer", "aggregatorIds"): 10,
    ("AggregatorExtension", "venues"): VENUES,
    ("SessionSync", "aggregators"): AGGREGATORS,
    ("Mutation", "scheduleSessions"): 366,  # models.session.MAX_SESSIONS_PER_SCHEDULE
    ("SignInUpdate", "sessions"): 50,  # sessions of one venue on one day
    # A series page is at most 366 sessions (models.series.SERIES_PAGE); a change reaches
    # only sessions not yet started: a schedule holds at most 366, a rolling series at
    # most its horizon (366 days at most) of them.
    ("SessionSeries", "sessions"): 366,
    ("SeriesChange", "sessions"): 366,
    ("SignInSessionList", "bookings"): SIGN_IN_LIST,
    # partner schema
    ("Session", "teachers"): 1,
    ("Query", "waitlistEntries"): WAITLIST,
}

# Above any realistic result size: products saturate here instead of growing big integers.
SATURATED = 2**53


class Refusal(enum.Enum):
    FRAGMENT_CYCLE = "FRAGMENT_CYCLE"
    NESTED_TOO_DEEPLY = "NESTED_TOO_DEEPLY"


class DocumentRefused(Exception):
    """The document cannot be analysed: a fragment spreads itself, or it nests too deeply."""

    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# Selection sets nested deeper than this are refused (the depth limit is at most 50; inline
# fragments nest without adding depth). It also bounds this module's recursion.
MAX_NESTING = 100


@dataclass(frozen=True)
class PageArgument:
    """A `first` or `after` argument whose value is known before execution."""

    name: str
    value: Any


@dataclass
class DocumentCost:
    nodes: int = 0
    """Estimated objects in lists and pages (GitHub's node count)."""
    depth: int = 0
    """Nesting of fields with selections; introspection fields do not count."""
    aliases: int = 0
    """Aliases in the document as executed, fragments expanded."""
    visits: int = 0
    """Selections visited by the analysis: never more than the document holds."""
    page_arguments: list[PageArgument] = field(default_factory=list)
    """`first` and `after` values given anywhere, to check before anything runs."""
    variables_read: dict[str, Any] = field(default_factory=dict)
    """The request's variables the estimate depended on (absent ones as MISSING): the
    same document with the same values costs the same (graph/limits.py caches it)."""

    def holds_for(self, variables: Mapping[str, Any] | None) -> bool:
        """Whether this cost is also the cost of the document with these variables."""
        given = variables if isinstance(variables, Mapping) else {}
        return all(_same(given.get(k, MISSING), v) for k, v in self.variables_read.items())


def _same(a: Any, b: Any) -> bool:
    """Equal and of one type (1, 1.0 and True are equal in Python, not in GraphQL)."""
    return type(a) is type(b) and a == b


MISSING: Any = object()
"""A variable the request did not send."""


@dataclass(frozen=True)
class _Cost:
    nodes: int
    depth: int
    aliases: int


_NOTHING = _Cost(0, 0, 0)


def _mul(a: int, b: int) -> int:
    return min(a * b, SATURATED)


def _add(a: int, b: int) -> int:
    return min(a + b, SATURATED)


def chosen_operations(
    document: DocumentNode, operation_name: str | None
) -> list[OperationDefinitionNode]:
    """The operation that will run (by name), or every operation when none is named:
    execution refuses an ambiguous document anyway, and the most expensive one counts."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations
    return [op for op in operations if op.name is not None and op.name.value == operation_name]


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    found: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            found.setdefault(definition.name.value, definition)  # duplicates: validation's job
    return found


def _spreads(selection_set: SelectionSetNode) -> list[str]:
    """Names of the fragments a selection set spreads, at any nesting (iterative)."""
    names: list[str] = []
    pending = [selection_set]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                names.append(selection.name.value)
            elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                pending.append(selection.selection_set)
    return names


def _dependency_order(
    operations: list[OperationDefinitionNode], fragments: dict[str, FragmentDefinitionNode]
) -> list[str]:
    """The fragments the operations reach, each after every fragment it spreads.

    Iterative depth-first search: a long chain of fragments cannot exhaust the stack, and
    a spread back onto the current path is a cycle, refused as validation would.
    """
    spreads: dict[str, list[str]] = {}
    order: list[str] = []
    done: set[str] = set()
    for operation in operations:
        roots = [n for n in _spreads(operation.selection_set) if n in fragments]
        for root in roots:
            if root in done:
                continue
            path = [root]
            on_path = {root}
            iterators = [iter(spreads.setdefault(root, _spreads(fragments[root].selection_set)))]
            while iterators:
                for name in iterators[-1]:
                    if name not in fragments or name in done:
                        continue
                    if name in on_path:
                        raise DocumentRefused(
                            Refusal.FRAGMENT_CYCLE,
                            f'Cannot spread fragment "{name}" within itself.',
                        )
                    path.append(name)
                    on_path.add(name)
                    body = spreads.setdefault(name, _spreads(fragments[name].selection_set))
                    iterators.append(iter(body))
                    break
                else:
                    iterators.pop()
                    finished = path.pop()
                    on_path.discard(finished)
                    done.add(finished)
                    order.append(finished)
    return order


class _Analysis:
    def __init__(
        self,
        schema: GraphQLSchema,
        variables: Mapping[str, Any],
        variable_defaults: Mapping[str, Any],
        bounds: Mapping[tuple[str, str], int],
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.variable_defaults = variable_defaults
        self.bounds = bounds
        self.fragment_costs: dict[str, _Cost] = {}
        self.visits = 0
        self.page_arguments: list[PageArgument] = []
        self.variables_read: dict[str, Any] = {}
        self.introspection_bounds = _introspection_bounds(schema)

    def selection_set(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None, nesting: int
    ) -> _Cost:
        if nesting > MAX_NESTING:
            raise DocumentRefused(
                Refusal.NESTED_TOO_DEEPLY, f"selections nest deeper than {MAX_NESTING} levels"
            )
        nodes = depth = aliases = 0
        for selection in selection_set.selections:
            self.visits += 1
            if isinstance(selection, FieldNode):
                cost = self.field(selection, parent, nesting)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = parent if condition is None else self.schema.get_type(condition.name.value)
                cost = self.selection_set(selection.selection_set, scope, nesting + 1)
            elif isinstance(selection, FragmentSpreadNode):
                # Analysed once, in dependency order, before anything spreads it.
                cost = self.fragment_costs.get(selection.name.value, _NOTHING)
            else:
                continue
            nodes = _add(nodes, cost.nodes)
            depth = max(depth, cost.depth)
            aliases = _add(aliases, cost.aliases)
        return _Cost(nodes, depth, aliases)

    def field(self, node: FieldNode, parent: GraphQLNamedType | None, nesting: int) -> _Cost:
        name = node.name.value
        definition = self.definition(parent, name)
        alias = 1 if node.alias is not None else 0
        if node.selection_set is None:
            return _Cost(0, 0, alias)
        child = get_named_type(definition.type) if definition is not None else None
        below = self.selection_set(node.selection_set, child, nesting + 1)
        factor, counted = self.factor(node, parent, definition)
        nodes = _add(factor if counted else 0, _mul(factor, below.nodes))
        # Introspection does not count towards depth (its type references nest by design).
        depth = 0 if name.startswith("__") else 1 + below.depth
        return _Cost(nodes, depth, _add(alias, below.aliases))

    def definition(self, parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
        if name == "__schema" and parent is self.schema.query_type:
            return SchemaMetaFieldDef
        if name == "__type" and parent is self.schema.query_type:
            return TypeMetaFieldDef
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            found: GraphQLField | None = parent.fields.get(name)
            return found
        return None

    def factor(
        self, node: FieldNode, parent: GraphQLNamedType | None, definition: GraphQLField | None
    ) -> tuple[int, bool]:
        """How many results one parent gets from this field, and whether they count."""
        if definition is None or parent is None:
            return 1, False
        arguments = {a.name.value: a.value for a in node.arguments or ()}
        if "after" in definition.args and "after" in arguments:
            after = self.value(arguments["after"])
            if after is not None:
                self.page_arguments.append(PageArgument("after", after))
        if "first" in definition.args:
            first = self.value(arguments["first"]) if "first" in arguments else None
            if first is None:
                first = definition.args["first"].default_value
            if isinstance(first, int) and not isinstance(first, bool):
                self.page_arguments.append(PageArgument("first", first))
                return max(1, min(first, MAX_PAGE_SIZE)), True
            return DEFAULT_PAGE_SIZE, True
        returned = get_nullable_type(definition.type)
        if not is_list_type(returned) or is_leaf_type(get_named_type(definition.type)):
            return 1, False
        if parent.name.endswith("Connection") and node.name.value == "edges":
            return 1, False  # a page: counted at the paginated field
        key = (parent.name, node.name.value)
        bound = self.bounds.get(key) or self.introspection_bounds.get(key)
        return (bound if bound is not None else MAX_PAGE_SIZE), True

    def value(self, node: Any) -> Any:
        """An argument's value when known before execution: a literal or a variable."""
        if isinstance(node, IntValueNode):
            try:
                return int(node.value)
            except ValueError:
                return None
        if isinstance(node, StringValueNode):
            return node.value
        if isinstance(node, VariableNode):
            name = node.name.value
            self.variables_read[name] = self.variables.get(name, MISSING)
            given = self.variables.get(name, self.variable_defaults.get(name))
            if isinstance(given, float) and given.is_integer():  # Int accepts 100.0 as 100
                return int(given)
            return given
        if isinstance(node, NullValueNode):
            return None
        return None


_INTROSPECTION_BOUNDS: "WeakKeyDictionary[GraphQLSchema, dict[tuple[str, str], int]]" = (
    WeakKeyDictionary()
)


def _introspection_bounds(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    """Introspection's lists, bounded by this schema's own sizes (worked out once)."""
    known = _INTROSPECTION_BOUNDS.get(schema)
    if known is None:
        known = _INTROSPECTION_BOUNDS[schema] = _schema_sizes(schema)
    return known


def _schema_sizes(schema: GraphQLSchema) -> dict[tuple[str, str], int]:
    types = list(schema.type_map.values())
    outputs = [t for t in types if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)]
    inputs = [t for t in types if isinstance(t, GraphQLInputObjectType)]
    enums = [t for t in types if isinstance(t, GraphQLEnumType)]
    largest_fields = max((len(t.fields) for t in outputs), default=0)
    largest_args = max(
        [len(f.args) for t in outputs for f in t.fields.values()]
        + [len(d.args) for d in schema.directives],
        default=0,
    )
    largest_inputs = max((len(t.fields) for t in inputs), default=0)
    largest_enum = max((len(t.values) for t in enums), default=0)
    bounds = {
        ("__Schema", "types"): len(types),
        ("__Schema", "directives"): len(schema.directives),
        ("__Type", "fields"): largest_fields,
        ("__Type", "inputFields"): largest_inputs,
        ("__Type", "enumValues"): largest_enum,
        ("__Type", "interfaces"): len(types),
        ("__Type", "possibleTypes"): len(types),
        ("__Field", "args"): largest_args,
        ("__Directive", "args"): largest_args,
    }
    return {key: max(1, value) for key, value in bounds.items()}


def document_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
    bounds: Mapping[tuple[str, str], int] = LIST_BOUNDS,
) -> DocumentCost:
    """The cost of the operation that will run (of the most expensive, if ambiguous).

    Raises DocumentRefused for a fragment cycle or selections nested too deeply.
    """
    operations = chosen_operations(document, operation_name)
    fragments = _fragments(document)
    defaults = {
        d.variable.name.value: int(d.default_value.value)
        for op in operations
        for d in op.variable_definitions or ()
        if isinstance(d.default_value, IntValueNode)
    }
    analysis = _Analysis(
        schema, variables if isinstance(variables, Mapping) else {}, defaults, bounds
    )
    for name in _dependency_order(operations, fragments):
        fragment = fragments[name]
        scope = schema.get_type(fragment.type_condition.name.value)
        analysis.fragment_costs[name] = analysis.selection_set(fragment.selection_set, scope, 1)
    total = DocumentCost()
    for operation in operations:
        root = schema.get_root_type(operation.operation)
        cost = analysis.selection_set(operation.selection_set, root, 1)
        total.nodes = max(total.nodes, cost.nodes)
        total.depth = max(total.depth, cost.depth)
        total.aliases = max(total.aliases, cost.aliases)
    total.visits = analysis.visits
    total.page_arguments = analysis.page_arguments
    total.variables_read = analysis.variables_read
    return total


def root_fields(document: DocumentNode, operation_name: str | None) -> set[str]:
    """Names of the fields the chosen operation(s) select at the root, through fragments."""
    fragments = _fragments(document)
    names: set[str] = set()
    seen: set[str] = set()
    pending = [op.selection_set for op in chosen_operations(document, operation_name)]
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    pending.append(fragments[name].selection_set)
    return names
