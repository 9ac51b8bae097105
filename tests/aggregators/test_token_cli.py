"""`classbridge aggregator-token create|list|revoke` against a real database."""

import os
import subprocess

from classbridge.models import partner_token as token_model
from classbridge.models.db import Database
from classbridge.models.tables import Aggregator
from tests import zygote


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLASSBRIDGE_DATABASE_URL": database_url}
    return zygote.run([zygote.CLASSBRIDGE, "aggregator-token", *args], env=env, timeout=60)


async def test_create_prints_a_working_token_once_list_and_revoke(
    database: Database, database_url: str
) -> None:
    created = cli(database_url, "create", "EGYM_WELLPASS", "--label", "EGYM staging")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    async with database.read() as db:
        actor = await token_model.authenticate(db=db, token=token)
    assert actor is not None and actor.aggregator is Aggregator.EGYM_WELLPASS

    listed = cli(database_url, "list")
    assert listed.returncode == 0, listed.stderr
    (line,) = listed.stdout.strip().splitlines()
    assert str(actor.token_id) in line and "EGYM_WELLPASS" in line and "active" in line
    assert token not in listed.stdout  # only the digest is stored

    revoked = cli(database_url, "revoke", str(actor.token_id))
    assert revoked.returncode == 0, revoked.stderr
    async with database.read() as db:
        assert await token_model.authenticate(db=db, token=token) is None
    assert "revoked" in cli(database_url, "list").stdout

    unknown = cli(database_url, "create", "NOT_AN_AGGREGATOR")
    assert unknown.returncode != 0
