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


class StaffInvite(Input):
    email: RequiredEmail
    name: Name
    role: StaffRole


class InvitationAcceptance(Input):
    token: str = Field(repr=False)
    password: Password = Field(repr=False)


class PasswordChange(Input):
    current: str = Field(repr=False)
    new: Password = Field(repr=False)


class PasswordReset(Input):
    token: str = Field(repr=False)
    password: Password = Field(repr=False)
