"""HTTP helpers shared by both endpoints: bearer tokens and coded error responses."""

from typing import Any

from starlette.responses import JSONResponse


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
    )


def bearer_token(headers: Any) -> str | None:
    """The token of an `Authorization: Bearer` header; "" when the header is malformed."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = str(value).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()
