"""Configuration from `CLASSBRIDGE_*` environment variables (pydantic-settings)."""

import json
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import parse as parse_rate_limit
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set; each field is `CLASSBRIDGE_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="CLASSBRIDGE_", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./classbridge.db",
        description="SQLAlchemy async URL; SQLite file in the working directory by default.",
    )
    database_pool_size: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description=(
            "Database connections each process keeps at most, opened as needed and then"
            " kept (30 on PostgreSQL, 15 on SQLite when unset); a request that finds none"
            " free waits up to 30 s, then is told to retry."
        ),
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
    waitlist_expiry_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How often waitlist entries whose booking window closed are expired.",
    )
    mail_from: str = Field(
        default="classbridge <noreply@classbridge.local>", description="Sender of outgoing email."
    )
    token_ttl_days: int = Field(default=30, ge=1, le=365, description="Lifetime of staff tokens.")
    check_in_opens_minutes: int = Field(
        default=60,
        ge=0,
        le=7 * 24 * 60,
        description="Minutes before a session's start when check-in opens.",
    )
    series_horizon_days: int = Field(
        default=90,
        ge=1,
        le=366,
        description="How far ahead a weekly series without an end date is scheduled.",
    )
    series_extend_interval_seconds: int = Field(
        default=3600,
        ge=1,
        description="How often rolling series are extended; must divide an hour.",
    )
    invite_ttl_hours: int = Field(
        default=72, ge=1, le=24 * 90, description="How long a staff invitation can be accepted."
    )
    password_reset_ttl_minutes: int = Field(
        default=60, ge=5, le=24 * 60, description="How long a password-reset token works."
    )
    app_url: str | None = Field(
        default=None,
        description="Base URL of the studio app; invitation and reset emails link to "
        "<app_url>/accept-invitation#token=… and <app_url>/reset-password#token=….",
    )
    login_rate_limit_account: str | None = Field(
        default="10/15minutes",
        description="Failed sign-ins per account before RATE_LIMITED, e.g. 10/15minutes.",
    )
    login_rate_limit_address: str | None = Field(
        default="50/15minutes",
        description="Failed sign-ins and reset requests per client address before RATE_LIMITED.",
    )
    # What one request may cost (docs/limits.md).
    max_query_nodes: int = Field(
        default=50_000,
        ge=100,
        description="Estimated objects a document may return (pages x nested lists).",
    )
    max_query_depth: int = Field(
        default=12, ge=2, le=50, description="Deeper documents are refused before execution."
    )
    max_query_tokens: int = Field(
        default=500, ge=100, description="Longer documents are refused before execution."
    )
    max_query_length: int = Field(
        default=20_000,
        ge=1000,
        description="Characters of a GraphQL document; long values belong in variables.",
    )
    max_query_aliases: int = Field(
        default=30, ge=1, description="Documents with more aliases are refused."
    )
    max_body_bytes: int = Field(
        default=100_000, ge=1024, description="Larger request bodies get HTTP 413."
    )
    partner_rate_limit: str | None = Field(
        default="600/minute",
        description="Requests per partner token, e.g. 600/minute; empty: unlimited.",
    )
    rate_limit_key_prefix: str = Field(
        default="classbridge:ratelimit",
        description="Prefix of the Redis keys of the partner rate limit (one per deployment).",
    )
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
    live_multiplex: bool = Field(
        default=True,
        description="Execute each live event once per (document, variables, company, role) "
        "and send the same payload to all its subscribers; off: once per subscriber.",
    )
    live_gap_wait_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a subscriber holds back an event while an earlier one is missing.",
    )

    # The push to aggregators (docs/aggregator-push.md, docs/operations.md).
    queue_name: str = Field(
        default="classbridge:push", description="arq queue (and job id prefix) of the push jobs."
    )
    egym_wellpass_push_url: str | None = Field(
        default=None, description="Base URL of EGYM Wellpass's push receiver; no push when unset."
    )
    egym_wellpass_push_secret: SecretStr | None = Field(
        default=None, description="whsec_ secret(s), space-separated during a rotation."
    )
    urban_sports_club_push_url: str | None = Field(
        default=None, description="Base URL of Urban Sports Club's push receiver."
    )
    urban_sports_club_push_secret: SecretStr | None = Field(
        default=None, description="Its whsec_ secret(s)."
    )
    classpass_push_url: str | None = Field(
        default=None, description="Base URL of ClassPass's push receiver."
    )
    classpass_push_secret: SecretStr | None = Field(
        default=None, description="Its whsec_ secret(s)."
    )
    push_batch_size: int = Field(
        default=100, ge=1, le=1000, description="Session states per push request."
    )
    push_parallel_requests: int = Field(
        default=4,
        ge=1,
        le=32,
        description="Push requests in flight at once per aggregator (each with other sessions).",
    )
    push_coalesce_seconds: float = Field(
        default=0.5,
        ge=0,
        le=10,
        description="After a push run, further changes wait at most this long (a burst's "
        "first change leaves at once).",
    )
    worker_poll_seconds: float = Field(
        default=0.01,
        gt=0,
        le=5,
        description="How often a worker looks for due jobs (the most a due push waits).",
    )
    push_max_attempts: int = Field(
        default=8, ge=1, description="Attempts before an item is marked failed."
    )
    # One backoff policy for pushes, failed push runs and emails (jobs/backoff.py).
    retry_backoff_base_seconds: float = Field(
        default=1.0,
        gt=0,
        description="First retry delay of pushes and emails (doubles, with jitter).",
    )
    retry_backoff_max_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Longest retry delay of pushes and emails (Retry-After may ask for more).",
    )
    push_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one push request."
    )
    push_lease_seconds: float = Field(
        default=60.0, gt=0, description="A dead worker's items are taken again after this."
    )
    reconcile_interval_seconds: int = Field(
        default=1800, ge=1, description="Reconciliation period; must divide an hour."
    )
    reconcile_window_days: float = Field(
        default=14, gt=0, le=60, description="How far ahead sessions are pushed and reconciled."
    )

    # Operating it: logs, metrics, browser front ends (docs/deploy.md).
    log_format: Literal["text", "json"] = Field(
        default="text", description="text (one line per record) or json (one object per line)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Records below this level are dropped."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Browser origins allowed to call the APIs (CORS), comma-separated or a "
        "JSON list; none by default, `*` for any.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, /metrics needs `Authorization: Bearer <this token>`.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        # An origin is scheme://host[:port], exactly what browsers send; a path or a
        # trailing slash would never match, so refuse it instead of failing silently.
        for origin in value:
            if origin == "*":
                continue
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
                or parts.username
            ):
                raise ValueError(f"{origin!r} is no origin (scheme://host[:port], no path)")
        return [o.rstrip("/") if o != "*" else o for o in value]

    @field_validator("partner_rate_limit", "login_rate_limit_account", "login_rate_limit_address")
    @classmethod
    def _a_rate_limit(cls, value: str | None) -> str | None:
        if not value or value.strip().lower() in ("none", "unlimited"):
            return None
        try:
            parse_rate_limit(value)  # the library the limiter uses reads it the same way
        except ValueError:
            raise ValueError("must be a rate like 600/minute or 10/second") from None
        return value

    @field_validator("reconcile_interval_seconds", "series_extend_interval_seconds")
    @classmethod
    def _divides_an_hour(cls, value: int) -> int:
        # The cron runs at fixed seconds/minutes of each hour (arq cron fields).
        if 3600 % value or (value > 60 and value % 60):
            raise ValueError("must divide an hour: 1-60 s dividing 60, or whole minutes")
        return value

    @property
    def check_in_opens_before(self) -> timedelta:
        return timedelta(minutes=self.check_in_opens_minutes)

    def push_target(self, aggregator: str) -> tuple[str, list[str]] | None:
        """(base URL, secrets) of an aggregator's receiver, or None when not configured."""
        prefix = aggregator.lower()
        url = getattr(self, f"{prefix}_push_url", None)
        secret = getattr(self, f"{prefix}_push_secret", None)
        if not url or secret is None:
            return None
        return url.rstrip("/"), secret.get_secret_value().split()


@lru_cache
def get_settings() -> Settings:
    return Settings()
