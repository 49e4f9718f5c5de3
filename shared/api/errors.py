"""The one place errors become HTTP: Custom Vision's flat ``{"code", "message"}`` JSON body.

Every reply that is not a success goes through here, so a client never sees an empty body, an
HTML page, or a 500 for something the caller did wrong.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.domain.errors import Code, ServiceError

__all__ = ["error_response", "install_error_handlers"]

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "The request is not valid: " + "; ".join(parts) + "."


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, exc.code.value, exc.message)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(400, Code.BAD_REQUEST.value, _describe(exc))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return error_response(404, Code.NOT_FOUND.value, "There is no such resource; check the URL and API version.")
    if exc.status_code == 405:
        return error_response(405, Code.BAD_REQUEST_NOT_SUPPORTED.value, "This method is not allowed on this resource.")
    code = Code.BAD_REQUEST.value if exc.status_code < 500 else Code.ERROR_UNKNOWN.value
    return error_response(exc.status_code, code, str(exc.detail))


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=exc)
    response = error_response(500, Code.ERROR_UNKNOWN.value, "The server failed to handle the request; see its log.")
    # Starlette re-raises after this reply and uvicorn then drops the connection: say so, so that a
    # keep-alive client opens a new one for its next request instead of failing it.
    response.headers["Connection"] = "close"
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
