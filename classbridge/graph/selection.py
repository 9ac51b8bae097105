"""What a document selects below a field, for resolvers that load ahead for a whole page."""

from collections.abc import Iterable, Iterator
from typing import Any

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionNode


def selects(info: Any, *path: str) -> bool:
    """Whether the document selects `path` (field names, e.g. "edges", "node", "bookings")
    below the field being resolved, through fragments too. @skip/@include are not
    evaluated: a field they leave out counts as selected (loading it is only wasted)."""
    raw = getattr(info, "_raw_info", info)
    nodes: list[FieldNode] = list(raw.field_nodes)
    for name in path:
        nodes = [
            child
            for node in nodes
            if node.selection_set is not None
            for child in _fields(node.selection_set.selections, raw.fragments)
            if child.name.value == name
        ]
        if not nodes:
            return False
    return True


def _fields(selections: Iterable[SelectionNode], fragments: dict[str, Any]) -> Iterator[FieldNode]:
    for selection in selections:
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            yield from _fields(selection.selection_set.selections, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _fields(fragment.selection_set.selections, fragments)
