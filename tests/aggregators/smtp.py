"""A real SMTP server for tests (aiosmtpd) that hands received mail to the test's loop."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

WAIT_SECONDS = 10.0


@dataclass
class Inbox:
    """Messages the server accepted; `wait_for(n)` waits until n have arrived."""

    loop: asyncio.AbstractEventLoop
    messages: list[Message] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # Runs on the server's own thread and loop: hand over thread-safely.
        message = message_from_bytes(envelope.content)
        self.loop.call_soon_threadsafe(self._add, message)
        return "250 OK"

    def _add(self, message: Message) -> None:
        self.messages.append(message)
        self._changed.set()

    async def wait_for(self, count: int) -> list[Message]:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(self.messages) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.messages


@contextmanager
def smtp_server(port: int) -> Iterator[Inbox]:
    inbox = Inbox(loop=asyncio.get_running_loop())
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()
