"""Email delivery: send what the email outbox holds over SMTP, retrying with backoff.

`deliver_pending_emails` is a plain async function: the API server runs it in-process
(woken after each commit that queued mail, plus a periodic sweep), and an arq worker can
call it just the same. A message is never lost: a failure only records the error and the
time of the next attempt.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage as MimeMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlmodel import col, select, update

from classbridge.jobs.backoff import retry_delay
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.email import EmailQueued
from classbridge.models.tables import EmailMessage
from classbridge.settings import Settings

log = logging.getLogger("classbridge.email")

BATCH_SIZE = 50
# While one process sends a message, others skip it until this lease runs out.
SEND_LEASE = timedelta(minutes=2)
SMTP_TIMEOUT_SECONDS = 30


def _reason(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{type(exc).__name__} (SMTP {exc.code})"
    if isinstance(exc, aiosmtplib.SMTPException):
        return type(exc).__name__
    return f"{type(exc).__name__}: {exc}"  # network errors name hosts and ports, not people


@dataclass(frozen=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None


def parse_smtp_url(url: str) -> SmtpTarget:
    """smtp://[user:pass@]host[:port] (STARTTLS when offered), smtps:// (TLS from the
    start), or smtp+starttls:// (STARTTLS required)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls") or not parts.hostname:
        raise ValueError("CLASSBRIDGE_SMTP_URL must look like smtp://user:pass@host:port")
    use_tls = parts.scheme == "smtps"
    return SmtpTarget(
        hostname=parts.hostname,
        port=parts.port or (465 if use_tls else 587 if parts.scheme == "smtp+starttls" else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=use_tls,
        start_tls=True if parts.scheme == "smtp+starttls" else None,
    )


async def _send(target: SmtpTarget, sender: str, message: EmailMessage) -> None:
    mime = MimeMessage()
    mime["From"] = sender
    mime["To"] = message.to_address
    mime["Subject"] = message.subject
    mime.set_content(message.body)
    await aiosmtplib.send(
        mime,
        hostname=target.hostname,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.use_tls,
        start_tls=target.start_tls,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


async def _claim(database: Database, now: datetime) -> list[EmailMessage]:
    """Take due messages and push their next attempt past the lease, in one transaction."""
    async with database.transaction() as db:
        rows = list(
            await db.scalars(
                select(EmailMessage)
                .where(
                    col(EmailMessage.sent_at).is_(None), col(EmailMessage.next_attempt_at) <= now
                )
                .order_by(col(EmailMessage.next_attempt_at), col(EmailMessage.id))
                .limit(BATCH_SIZE)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.next_attempt_at = now + SEND_LEASE
    return rows


async def deliver_pending_emails(
    database: Database, settings: Settings, *, now: datetime | None = None
) -> int:
    """Send every due message once; returns how many were sent. Without an SMTP URL the
    messages stay queued (nothing is dropped)."""
    if not settings.smtp_url:
        return 0
    target = parse_smtp_url(settings.smtp_url)
    now = now or utcnow()
    sent = 0
    for message in await _claim(database, now):
        try:
            await _send(target, settings.mail_from, message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            attempts = message.attempts + 1
            # Neither the address nor the server's text (which often repeats it) is logged;
            # the full reason is kept in the row's last_error.
            log.warning("email %s failed (attempt %d): %s", message.id, attempts, _reason(exc))
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_error": f"{type(exc).__name__}: {exc}"[:2000],
                # The same backoff as the push (jobs/backoff.py); an email never gives up.
                "next_attempt_at": now + retry_delay(settings, attempts),
            }
        else:
            sent += 1
            # The body may carry a single-use token (invitation, password reset): once the
            # SMTP server has it, the database does not keep it.
            values = {
                "attempts": message.attempts + 1,
                "sent_at": utcnow(),
                "last_error": None,
                "body": "",
            }
        async with database.transaction() as db:
            await db.execute(
                update(EmailMessage).where(col(EmailMessage.id) == message.id).values(**values)
            )
    return sent


class EmailDelivery:
    """In-process delivery for the API server: runs after commits that queued mail and
    every `sweep_seconds`, so retries happen even when nothing new arrives."""

    def __init__(
        self, database: Database, settings: Settings, *, sweep_seconds: float = 30.0
    ) -> None:
        self.database = database
        self.settings = settings
        self.sweep_seconds = sweep_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.deliver: Callable[[], Awaitable[int]] = lambda: deliver_pending_emails(
            database, settings
        )

    async def on_notices(self, notices: list[Any]) -> None:
        if any(isinstance(n, EmailQueued) for n in notices):
            self._wake.set()

    def start(self) -> None:
        self.database.after_commit.add(self.on_notices)
        self._task = asyncio.create_task(self._run(), name="email-delivery")

    async def stop(self) -> None:
        """Let a delivery in progress finish (cancelling it mid-transaction could leave a
        connection behind), then end the loop."""
        if self.on_notices in self.database.after_commit:
            self.database.after_commit.remove(self.on_notices)
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=SMTP_TIMEOUT_SECONDS + 10)
            except TimeoutError:
                log.warning("email delivery did not stop in time")

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.deliver()
            except Exception:  # keep the loop alive; the next sweep tries again
                log.exception("email delivery failed")
            if self._stopping:
                break
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
