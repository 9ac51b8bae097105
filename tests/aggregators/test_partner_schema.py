"""The partner schema accepts aggregators' existing clients, and the committed SDL is current."""

import os
from pathlib import Path

import pytest
from graphql import build_schema, find_breaking_changes

from classbridge.graph.partner.schema import build_partner_schema
from tests.services import IN_CI

ROOT = Path(__file__).resolve().parents[2]
REFERENCE_FILE = "eversports-aggregator-api.graphql"


def reference_dir() -> Path:
    """shared/reference/ beside the repository (never copied into it)."""
    override = os.environ.get("CLASSBRIDGE_REFERENCE_DIR")
    return Path(override) if override else ROOT.parent / "shared" / "reference"


def test_every_reference_type_field_argument_and_enum_value_exists_compatibly() -> None:
    path = reference_dir() / REFERENCE_FILE
    if not path.is_file():
        reason = f"the reference schema is not at {path} (set CLASSBRIDGE_REFERENCE_DIR)"
        if IN_CI:
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    reference = build_schema(path.read_text())
    ours = build_schema(build_partner_schema().as_str())
    assert find_breaking_changes(reference, ours) == []


def test_committed_partner_schema_matches_code() -> None:
    committed = (ROOT / "schema.aggregator.graphql").read_text()
    assert committed == build_partner_schema().as_str() + "\n", (
        "schema.aggregator.graphql is stale: run "
        "`classbridge export-schema --partner --output schema.aggregator.graphql`"
    )
