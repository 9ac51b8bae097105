"""Apply Alembic migrations from code (used by `classbridge migrate` and `serve`)."""

from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL advisory lock held while migrating (migrations/env.py): any fixed number.
MIGRATION_LOCK = 4_151_762_201


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> list[str]:
    """Upgrade; returns the revisions applied, oldest first (none when up to date)."""
    config = alembic_config(database_url)
    command.upgrade(config, revision)
    return list(config.attributes.get("applied", []))


def render_item(type_: str, obj: Any, _autogen_context: Any) -> str | Literal[False]:
    """Autogenerate's rendering hook (migrations/env.py): an enum column's type renders as
    `sa.Enum(...)`. The models use a subclass that only reads values back faster
    (models/base.py `enum_type`); the database sees SQLAlchemy's Enum, and migrations
    should not name the subclass."""
    if type_ == "type" and isinstance(obj, sa.Enum) and type(obj) is not sa.Enum:
        return "sa.Enum" + repr(obj).removeprefix(type(obj).__name__)
    return False
