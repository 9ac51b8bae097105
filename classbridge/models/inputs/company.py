"""Inputs of venues."""

from classbridge.models.fields import (
    City,
    Country,
    Email,
    Latitude,
    Longitude,
    Name,
    NotNull,
    Phone,
    Street,
    TimeZoneName,
    Website,
    Zip,
)
from classbridge.models.validation import Input


class Coordinates(Input):
    """A point on the map (WGS 84); latitude and longitude only come together."""

    latitude: Latitude
    longitude: Longitude


class VenueDetails(Input):
    """What a venue may leave empty: its address, how to reach it, where it is."""

    street: Street = None
    zip: Zip = None
    city: City = None
    country: Country = None
    phone: Phone = None
    email: Email = None
    website: Website = None
    coordinates: Coordinates | None = None


class VenueCreate(VenueDetails):
    name: Name
    timezone: TimeZoneName
    """An IANA time zone, e.g. "Europe/Berlin"."""


class VenueUpdate(VenueDetails):
    """Fields left out keep their value; null clears one (name and time zone cannot be
    cleared). A new time zone keeps every session at its instant."""

    name: NotNull[Name] = None
    timezone: NotNull[TimeZoneName] = None
