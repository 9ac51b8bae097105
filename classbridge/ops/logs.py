"""Logging for every `classbridge` process: text or JSON lines on stderr, each record of
a request carrying its request id (and GraphQL operation name, once known).

What must never be logged — tokens, passwords, customers' personal data — is kept out at
the source: access lines drop the query string (a GET query can carry variables and
GraphiQL puts headers in it), SQL errors hide their parameters (models/db.py), and our own
log calls name ids, not people.
"""

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from classbridge.ops.request_context import current_request
from classbridge.settings import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
_JSON_FIELDS = ["asctime", "levelname", "name", "message", "request_id"]


class RequestFields(logging.Filter):
    """Adds `request_id` ("-" outside a request) and `operation` (when known) to a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = current_request()
        record.request_id = info.request_id if info else "-"
        if info is not None and info.operation and not hasattr(record, "operation"):
            record.operation = info.operation
        return True


class AccessLine(logging.Filter):
    """uvicorn's access line without the query string, plus structured fields for JSON."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            path = str(path).split("?", 1)[0]
            record.args = (client, method, path, http_version, status)
            record.client = client
            record.method = method
            record.path = path
            record.status = status
        return True


class _Json(JsonFormatter):
    def __init__(self) -> None:
        super().__init__(
            _JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # uvicorn's records carry a coloured copy of the message: noise in JSON.
        log_data.pop("color_message", None)
        return log_data


def configure_logging(settings: Settings) -> None:
    """Replace whatever handlers there are with one on stderr, in the configured format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestFields())
    if settings.log_format == "json":
        handler.setFormatter(_Json())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # DEBUG is for classbridge's own loggers: libraries' debug output carries SQL
    # parameters (aiosqlite) and WebSocket frames with tokens (websockets via uvicorn).
    level = logging.getLevelName(settings.log_level)
    root.setLevel(max(level, logging.INFO))
    logging.getLogger("classbridge").setLevel(level)
    # uvicorn's loggers go through ours (uvicorn.run(log_config=None) adds none of its own).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLine) for f in access.filters):
        access.addFilter(AccessLine())
    # Alembic says "Context impl …" and "Will assume …" on every start: not news.
    logging.getLogger("alembic").setLevel(logging.WARNING)
