"""A small GraphQL-over-WebSocket client on the `websockets` package, for both protocols.

graphql-transport-ws (subscribe / next / error / complete) and the legacy graphql-ws
(start / data / error / complete, plus "ka" keep-alives) are normalized to one shape:
`Frame(kind, id, payload)` with kind in next, error, complete.
"""

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"
PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]

TIMEOUT = 15.0


@dataclass
class Frame:
    kind: str
    id: str | None
    payload: Any


class GqlSocket:
    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol

    @classmethod
    async def open(
        cls,
        url: str,
        protocol: str,
        *,
        header_token: str | None = None,
        **kwargs: Any,
    ) -> "GqlSocket":
        headers = {"Authorization": f"Bearer {header_token}"} if header_token else None
        ws = await connect(
            url,
            subprotocols=[protocol],  # type: ignore[list-item]
            additional_headers=headers,
            open_timeout=TIMEOUT,
            **kwargs,
        )
        assert ws.subprotocol == protocol
        return cls(ws, protocol)

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, within: float = TIMEOUT) -> dict[str, Any]:
        while True:
            async with asyncio.timeout(within):
                raw = await self.ws.recv(decode=True)
            message = json.loads(raw)
            if message.get("type") not in ("ka", "ping", "pong"):
                return message  # type: ignore[no-any-return]

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send connection_init; return the server's answer (ack or connection_error)."""
        message: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            message["payload"] = payload
        await self.send(message)
        return await self.receive()

    async def subscribe(self, op_id: str, query: str, variables: dict[str, Any]) -> None:
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {"id": op_id, "type": kind, "payload": {"query": query, "variables": variables}}
        )

    async def stop(self, op_id: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.send({"id": op_id, "type": kind})

    async def frame(self, within: float = TIMEOUT) -> Frame:
        message = await self.receive(within)
        kind = {"data": "next"}.get(message["type"], message["type"])
        return Frame(kind, message.get("id"), message.get("payload"))

    async def event(self, within: float = TIMEOUT) -> dict[str, Any]:
        """The next subscription result's data; fails on anything else."""
        frame = await self.frame(within)
        assert frame.kind == "next", frame
        assert not frame.payload.get("errors"), frame.payload
        return frame.payload["data"]  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.ws.close()


SESSION_UPDATES = """
subscription Live($id: ID!) {
  signInUpdates(sessionId: $id) {
    change
    session { id sequence isCancelled room teacher counts {
      booked capacity available checkedIn aggregatorBooked aggregatorLimit } }
    booking { id status source aggregator cancellationType
      customer { id firstName lastName } product { id name kind } }
    sessions {
      session { id sequence counts { booked } }
      bookings { id status customer { lastName } }
    }
  }
}
"""

VENUE_UPDATES = """
subscription Board($venue: ID!, $date: Date!) {
  venueSignInUpdates(venueId: $venue, date: $date) {
    change
    session { id sequence counts { booked checkedIn } }
    booking { id status }
    sessions { session { id sequence } bookings { id status } }
  }
}
"""
