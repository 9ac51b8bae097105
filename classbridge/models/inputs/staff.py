"""Inputs of staff accounts."""

from pydantic import Field

from classbridge.models.fields import Name, Password, RequiredEmail
from classbridge.models.tables.staff import StaffRole
from classbridge.models.validation import Input


class StaffUserCreate(Input):
    email: RequiredEmail
    name: Name
    password: Password = Field(repr=False)
    role: StaffRole
