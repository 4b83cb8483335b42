"""The one table from domain errors to HTTP statuses, and the handlers that apply it.

Every error body is `{"error": {"code", "message", "field"?}}`. Validation errors are rebuilt
from pydantic's type and location only: the rejected `input` (possibly a secret) never leaves.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vaultauth.api.methods import allowed_methods
from vaultauth.errors import (
    Conflict,
    CorruptSecret,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    PreconditionFailed,
    RateLimited,
    TokenEndpointFailed,
    Unavailable,
    VaultauthError,
)
from vaultauth.models import error_code_for

log = logging.getLogger("vaultauth.api")

STATUS_OF: dict[type[VaultauthError], int] = {
    InvalidInput: 422,
    NotAuthenticated: 401,
    NotPermitted: 403,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    RateLimited: 429,
    CorruptSecret: 502,
    TokenEndpointFailed: 502,
    Unavailable: 503,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    detail: dict[str, Any] = {"code": code, "message": message}
    if field:
        detail["field"] = field
    return JSONResponse({"error": detail}, status_code=status, headers=headers)


def status_of(exc: VaultauthError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 500


def domain_error_response(exc: VaultauthError, retry_after_seconds: int) -> JSONResponse:
    """The answer to a domain error, wherever it was raised (a route, or the fast path)."""
    status = status_of(exc)
    headers = {"Retry-After": str(retry_after_seconds)} if status == 503 else None
    retry_after = getattr(exc, "retry_after", None)  # RateLimited, TokenEndpointFailed, ...
    if isinstance(retry_after, int | float):
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    if status == 503:
        log.warning("backend unavailable: %s", exc.code)
    return error_response(status, exc.code, exc.message, exc.field, headers)


def install_error_handlers(app: FastAPI, retry_after_seconds: int) -> None:
    @app.exception_handler(VaultauthError)
    async def domain_error(_request: Request, exc: VaultauthError) -> JSONResponse:
        return domain_error_response(exc, retry_after_seconds)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        kind = str(first.get("type", ""))
        location = [str(part) for part in first.get("loc", ())]
        field = ".".join(location[1:]) if location[:1] in (["body"], ["query"], ["path"]) else ""
        if kind == "json_invalid":
            return error_response(400, "malformed_json", "the body is not valid JSON")
        message = f"{field or 'body'}: {first.get('msg', 'invalid value')}"
        return error_response(422, error_code_for(kind, field), message, field or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the methods of the first route matching the path.
            headers["Allow"] = allowed_methods(request.app.routes, request.scope)
        return error_response(exc.status_code, code, message, headers=headers)
