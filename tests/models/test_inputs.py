"""Typed inputs: constraints on the fields, exclude_unset updates, readable refusals."""

import pytest

from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.fields import PERSON_NAME_LENGTH, ExternalId
from classbridge.models.inputs.activity import RegistrationRules
from classbridge.models.inputs.customer import CustomerCreate, CustomerUpdate, Member
from classbridge.models.inputs.session import SessionEdit
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.tables import Customer
from classbridge.models.validation import check, parse


def _refusal(model: type, data: dict[str, object]) -> DomainError:
    with pytest.raises(DomainError) as refused:
        parse(model, data)
    assert refused.value.code is ErrorCode.VALIDATION
    return refused.value


def test_an_update_changes_what_was_sent_and_null_clears() -> None:
    changes = parse(SessionEdit, {"room": None, "teacher": "Mara"})
    assert changes.given() == {"room": None, "teacher": "Mara"}  # capacity: left alone
    assert parse(SessionEdit, {}).given() == {}


def test_a_field_that_cannot_be_cleared_refuses_null_but_may_be_left_out() -> None:
    refused = _refusal(CustomerUpdate, {"first_name": None})
    assert (refused.loc, refused.message) == (("first_name",), "first name must not be null")
    assert parse(CustomerUpdate, {"city": "Berlin"}).given() == {"city": "Berlin"}
    refused = _refusal(RegistrationRules, {"free_cancellation_minutes": None})
    assert refused.loc == ("free_cancellation_minutes",)


def test_refusals_read_as_sentences_and_point_at_the_field() -> None:
    cases = [
        (CustomerCreate, {"first_name": "A"}, ("last_name",), "last name is required"),
        (
            CustomerCreate,
            {"first_name": "A", "last_name": "B" * (PERSON_NAME_LENGTH + 1)},
            ("last_name",),
            f"last name is longer than {PERSON_NAME_LENGTH} characters",
        ),
        (
            CustomerCreate,
            {"first_name": "A", "last_name": "B", "email": "a@"},
            ("email",),
            "email is not an email address",
        ),
        (
            Member,
            {"id": " ", "first_name": "A", "last_name": "B"},
            ("id",),
            "member id must not be empty",
        ),
        (
            StaffUserCreate,
            {"email": "a@b.de", "name": "N", "password": "short", "role": "OWNER"},
            ("password",),
            "password must have at least 8 characters",
        ),
        (
            Member,
            {"id": "m", "first_name": "A", "last_name": "B", "address": {"zip": "1" * 21}},
            ("address", "zip"),
            "zip is longer than 20 characters",
        ),
    ]
    for model, data, loc, message in cases:
        refused = _refusal(model, data)
        assert (refused.loc, refused.message) == (loc, message)


def test_strings_are_stripped_blank_optional_ones_mean_none_emails_lowercased() -> None:
    customer = parse(
        CustomerCreate,
        {
            "first_name": "  Ada ",
            "last_name": "Byron",
            "phone": "   ",
            "email": " Ada@EXAMPLE.org ",
        },
    )
    assert (customer.first_name, customer.phone, customer.email) == ("Ada", None, "ada@example.org")


def test_table_columns_and_inputs_share_one_length() -> None:
    column = Customer.__table__.c.first_name  # type: ignore[attr-defined]
    assert column.type.length == PERSON_NAME_LENGTH


def test_a_single_argument_is_checked_against_its_field_type() -> None:
    assert check(ExternalId, "  m-1 ", name="external_id") == "m-1"
    with pytest.raises(DomainError) as refused:
        check(ExternalId, "x" * 201, name="external_id")
    assert refused.value.loc == ("external_id",)
    assert refused.value.message == "external id is longer than 200 characters"


def test_a_domain_refusal_carries_the_callers_names() -> None:
    rules = parse(RegistrationRules, {}, names=lambda loc: "input." + ".".join(map(str, loc)))
    refused = rules.refuse("booking_closes_minutes", "the window closes before it opens")
    assert refused.loc == ("booking_closes_minutes",)
    assert refused.names is not None
    assert refused.names(refused.loc) == "input.booking_closes_minutes"
