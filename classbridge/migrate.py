"""Apply Alembic migrations from code (used by `classbridge migrate` and `serve`)."""

from pathlib import Path

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
