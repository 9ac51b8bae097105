"""Inputs of customers, and of the members aggregators book for."""

from pydantic import Field

from classbridge.models.fields import (
    Birthday,
    City,
    Country,
    Email,
    ExternalId,
    Notes,
    NotNull,
    PersonName,
    Phone,
    SearchTerm,
    Street,
    Zip,
)
from classbridge.models.validation import Input


class CustomerDetails(Input):
    """What a customer may leave empty."""

    email: Email = None
    phone: Phone = None
    birthday: Birthday | None = None
    notes: Notes = None
    street: Street = None
    zip: Zip = None
    city: City = None
    country: Country = None


class CustomerCreate(CustomerDetails):
    first_name: PersonName
    last_name: PersonName


class CustomerUpdate(CustomerDetails):
    """Fields left out keep their value; names cannot be cleared."""

    first_name: NotNull[PersonName] = None
    last_name: NotNull[PersonName] = None


class CustomerFilter(Input):
    search: SearchTerm = None
    """Matches first and last name, or the email address."""


class Address(Input):
    street: Street = None
    zip: Zip = None
    city: City = None
    country: Country = None


class Member(Input):
    """What an aggregator tells us about its member, to match or create their customer."""

    id: ExternalId = Field(title="member id")
    first_name: PersonName
    last_name: PersonName
    email: Email = None
    phone: Phone = None
    birthday: Birthday | None = None
    address: Address | None = None

    def as_customer(self) -> CustomerCreate:
        address = self.address or Address()
        return CustomerCreate(
            first_name=self.first_name,
            last_name=self.last_name,
            email=self.email,
            phone=self.phone,
            birthday=self.birthday,
            street=address.street,
            zip=address.zip,
            city=address.city,
            country=address.country,
        )
