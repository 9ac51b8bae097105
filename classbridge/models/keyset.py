"""Keyset pagination: rows strictly after a given sort key, on any backend."""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa


def after_key(columns: Sequence[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """`(c1, c2, ...) > (v1, v2, ...)` spelled out, so each value binds with its column's type."""
    clauses = []
    for i, column in enumerate(columns):
        equal = [columns[j] == values[j] for j in range(i)]
        clauses.append(sa.and_(*equal, column > values[i]))
    return sa.or_(*clauses)


def before_key(columns: Sequence[Any], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """`(c1, c2, ...) < (v1, v2, ...)`: the rows after a cursor in descending order."""
    clauses = []
    for i, column in enumerate(columns):
        equal = [columns[j] == values[j] for j in range(i)]
        clauses.append(sa.and_(*equal, column < values[i]))
    return sa.or_(*clauses)
