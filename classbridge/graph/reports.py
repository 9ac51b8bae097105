"""Report downloads for staff: `GET /reports/aggregator-visits.csv`.

The same report as the staff query `aggregatorVisitReport` (models/visit_report.py), as
CSV streamed while it is read. Authenticated with the staff token (OWNER only); refusals
are JSON with a code, like every other refusal of the API.
"""

import csv
import io
from collections.abc import AsyncIterator, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from classbridge.graph.http import bearer_token, error_response
from classbridge.graph.ids import parse_id
from classbridge.graph.inputs import arguments_to_domain, field_path
from classbridge.models import staff as staff_model
from classbridge.models import visit_report
from classbridge.models.db import Database, in_transaction
from classbridge.models.errors import DomainError, ErrorCode, invalid
from classbridge.models.tables import Aggregator, StaffRole

_STATUS = {
    ErrorCode.VALIDATION: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
}
COLUMNS = [  # the fields of visit_report.VisitRow, in order
    "aggregator",
    "month",
    "venue_id",
    "venue_name",
    "activity_id",
    "activity_name",
    "member_id",
    "check_ins",
    "late_cancellations",
    "no_shows",
    "early_cancellations",
    "session_cancellations",
    "open",
]
_PARAMETERS = {"from", "to", "aggregator", "venueId", "by"}


def _refusal(error: DomainError) -> Response:
    extensions: dict[str, str] = {"code": error.code.value}
    where = field_path(error)
    if where is not None:
        extensions["field"] = where
    status = _STATUS.get(error.code, 400)
    return JSONResponse(
        {"data": None, "errors": [{"message": error.message, "extensions": extensions}]},
        status_code=status,
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


def _enum(
    values: Mapping[str, str], name: str, kind: type[Aggregator] | type[visit_report.Breakdown]
) -> object:
    raw = values.get(name)
    if raw is None or raw == "":
        return None
    try:
        return kind(raw)
    except ValueError:
        choices = ", ".join(k.value for k in kind)
        raise invalid(f"{name} must be one of {choices}", loc=(name,)) from None


def _query(
    params: Mapping[str, str],
) -> tuple[visit_report.VisitReportQuery, visit_report.Breakdown]:
    unknown = sorted(set(params) - _PARAMETERS)
    if unknown:
        raise invalid(f"unknown parameter {unknown[0]}", loc=(unknown[0],))
    for required in ("from", "to"):
        if not params.get(required):
            raise invalid(
                f"{required} is required (a venue-local date, YYYY-MM-DD)", loc=(required,)
            )
    venue = params.get("venueId")
    query = arguments_to_domain(
        visit_report.VisitReportQuery,
        {
            "from_date": params["from"],
            "to_date": params["to"],
            "aggregator": _enum(params, "aggregator", Aggregator),
            "venue_id": parse_id(venue, field="venueId") if venue else None,
        },
        wire={"from_date": "from", "to_date": "to"},
    )
    by = _enum(params, "by", visit_report.Breakdown) or visit_report.Breakdown.VENUE
    assert isinstance(by, visit_report.Breakdown)
    return query, by


class VisitReportDownload:
    """The endpoint; one read session per download, held while the rows stream."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def endpoint(self, request: Request) -> Response:
        if request.method != "GET":
            return error_response(405, "METHOD_NOT_ALLOWED", "use GET")
        token = bearer_token(request.headers)
        if not token:
            return error_response(401, "UNAUTHENTICATED", "send Authorization: Bearer <token>")
        db = self.database.read()
        try:
            await in_transaction(db)  # the rows stream through a server-side cursor
            actor = await staff_model.authenticate(db=db, token=token)
            if actor is None:
                raise DomainError(ErrorCode.UNAUTHENTICATED, "the token is unknown or expired")
            if actor.role is not StaffRole.OWNER:  # as aggregatorVisitReport: owners only
                raise DomainError(ErrorCode.FORBIDDEN, "only the company's owner may do this")
            query, by = _query(request.query_params)
            batches = visit_report.stream_visit_report(
                db=db, company_id=actor.company_id, query=query, by=by
            )
            # Refusals (an unknown venue) come before the 200.
            first = await anext(batches, None)
        except DomainError as error:
            await db.close()
            return _refusal(error)
        except BaseException:
            await db.close()
            raise

        async def body() -> AsyncIterator[str]:
            # A chunk per batch of rows read: one ASGI message per row would cost more than
            # the row. A row is a tuple in COLUMNS order (None is written empty).
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(COLUMNS)
            try:
                batch = first
                while batch is not None:
                    writer.writerows(batch)
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
                    batch = await anext(batches, None)
                if out.tell():
                    yield out.getvalue()
            finally:
                await batches.aclose()
                await db.close()

        name = f"aggregator-visits-{query.from_date}-{query.to_date}.csv"
        return StreamingResponse(
            body(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
