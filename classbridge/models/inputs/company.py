"""Inputs of venues."""

from classbridge.models.fields import City, Country, Name, Street, TimeZoneName, Zip
from classbridge.models.validation import Input


class VenueCreate(Input):
    name: Name
    timezone: TimeZoneName
    """An IANA time zone, e.g. "Europe/Berlin"."""
    street: Street = None
    zip: Zip = None
    city: City = None
    country: Country = None
