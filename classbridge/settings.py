"""Configuration from `CLASSBRIDGE_*` environment variables (pydantic-settings)."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set; each field is `CLASSBRIDGE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="CLASSBRIDGE_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./classbridge.db",
        description="SQLAlchemy async URL; SQLite file in the working directory by default.",
    )
    redis_url: str | None = Field(
        default=None, description="Redis for arq jobs and the event bus; in-process when unset."
    )
    smtp_url: str | None = Field(
        default=None, description="smtp://user:pass@host:port for outgoing email; kept when unset."
    )
    email_sweep_seconds: float = Field(
        default=30.0, gt=0, description="How often queued emails are retried in-process."
    )
    mail_from: str = "classbridge <noreply@classbridge.local>"
    token_ttl_days: int = Field(default=30, ge=1, le=365)
    max_query_depth: int = Field(default=12, ge=2, le=50)
    max_query_tokens: int = Field(default=2000, ge=100)
    max_query_aliases: int = Field(default=30, ge=1)
    max_page_size: int = Field(default=100, ge=1, le=1000)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    live_channel_prefix: str = Field(
        default="classbridge:live",
        description="Prefix of the Redis pub/sub channels of live sign-in (one per deployment).",
    )
    live_queue_size: int = Field(
        default=256,
        ge=2,
        le=100_000,
        description="Events buffered per subscriber before it is dropped.",
    )
    live_gap_wait_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a subscriber holds back an event while an earlier one is missing.",
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
