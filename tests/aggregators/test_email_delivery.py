"""Emails from the outbox reach a real SMTP server; a failed delivery is retried, not lost."""

from datetime import timedelta

import httpx
from sqlalchemy import select

from classbridge.graph.app import create_app
from classbridge.jobs.backoff import retry_delay
from classbridge.jobs.email import deliver_pending_emails
from classbridge.models.db import Database
from classbridge.models.tables import Aggregator, EmailMessage
from classbridge.settings import Settings
from tests.aggregators.partner import PARTNER_PATH, activate, make_partner
from tests.aggregators.smtp import smtp_server
from tests.jobs.processes import ClosedPort
from tests.studio import Studio, gql


async def _outbox(database: Database) -> list[EmailMessage]:
    async with database.read() as db:
        return list(await db.scalars(select(EmailMessage).order_by(EmailMessage.id)))


async def test_a_failed_delivery_is_retried_with_backoff_until_it_is_sent(
    database: Database, database_url: str, studio: Studio
) -> None:
    closed = ClosedPort()
    settings = Settings(
        database_url=database_url,
        smtp_url=f"smtp://127.0.0.1:{closed.port}",
        retry_backoff_base_seconds=60,  # the second run below comes well before the retry
    )
    await activate(studio)
    # The SMTP server is down.
    with closed:
        assert await deliver_pending_emails(database, settings) == 0
        (failed,) = await _outbox(database)
        assert failed.sent_at is None and failed.attempts == 1 and failed.last_error
        # Not due yet: nothing is tried before the backoff ran out.
        assert await deliver_pending_emails(database, settings) == 0
        assert (await _outbox(database))[0].attempts == 1
    with smtp_server(closed.release()) as inbox:
        due = failed.next_attempt_at + timedelta(seconds=1)
        assert await deliver_pending_emails(database, settings, now=due) == 1
        (mail,) = await inbox.wait_for(1)
    (sent,) = await _outbox(database)
    assert sent.sent_at is not None and sent.attempts == 2 and sent.last_error is None
    assert sent.body == ""  # what was sent (a token, perhaps) is not kept
    assert mail["To"] == studio.owner_email
    assert str(studio.company_id) in mail.get_payload()
    # Sent once: a later run sends nothing again.
    assert await deliver_pending_emails(database, settings, now=due + timedelta(hours=2)) == 0


def test_emails_use_the_one_backoff_policy_of_the_settings() -> None:
    settings = Settings(retry_backoff_base_seconds=30, retry_backoff_max_seconds=3600)
    assert all(
        timedelta(seconds=15) <= retry_delay(settings, 1) <= timedelta(seconds=30)
        for _ in range(50)
    )
    assert all(retry_delay(settings, 20) <= timedelta(hours=1) for _ in range(50))


async def test_without_smtp_url_mail_stays_queued(
    database: Database, database_url: str, studio: Studio
) -> None:
    await activate(studio)
    settings = Settings(database_url=database_url, smtp_url=None)
    assert await deliver_pending_emails(database, settings) == 0
    (kept,) = await _outbox(database)
    assert kept.sent_at is None and kept.attempts == 0


async def test_the_server_delivers_activation_and_live_emails_after_commit(
    database: Database, database_url: str, studio: Studio
) -> None:
    closed = ClosedPort()
    settings = Settings(
        database_url=database_url,
        smtp_url=f"smtp://127.0.0.1:{closed.port}",
        email_sweep_seconds=60,  # only the after-commit wake-up can deliver in time
    )
    app = create_app(settings, database)
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    with smtp_server(closed.release()) as inbox:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cb.test") as c:
                body = await gql(
                    c,
                    "mutation { activateAggregatorExtension(aggregator: EGYM_WELLPASS)"
                    " { status } }",
                    token=studio.token,
                )
                assert "errors" not in body, body
                (activation,) = await inbox.wait_for(1)
                linked = await c.post(
                    PARTNER_PATH,
                    json={
                        "query": "mutation L($v: ID!) { setAggregatorVenueId("
                        'aggregatorVenueId: "wp-9", eversportsVenueId: $v) { id } }',
                        "variables": {"v": str(studio.venue_id)},
                    },
                    headers=partner.headers(),
                )
                assert linked.status_code == 200 and "errors" not in linked.json()
                messages = await inbox.wait_for(2)
    assert "activated" in activation["Subject"]
    assert "connection is live" in messages[1]["Subject"]
    assert "wp-9" in messages[1].get_payload()
