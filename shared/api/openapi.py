"""The OpenAPI document (``/openapi.json``) as the server really answers.

FastAPI documents a 422 with its own validation body on every route; this server answers every
failure as Custom Vision does (``api/errors.py``): 400, 401, 404, 409, 413, 415, 429 with the flat
``{"code", "message"}`` body. Here the generated document is rewritten once: the error body is one
schema, each operation lists the failures it can answer, the key headers are security schemes, and
the image routes that read a raw body say what that body is.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shared.api.paths import PREDICTION_PREFIX, TRAINING_PREFIX

__all__ = ["ERROR_SCHEMA_NAME", "install_openapi"]

ERROR_SCHEMA_NAME = "CustomVisionError"

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": ERROR_SCHEMA_NAME,
    "description": "Every failure: a Custom Vision error code (CustomVisionErrorCodes) and a message for people.",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "description": "BadRequest*, Unauthorized, NotFound*, Conflict, ..."},
        "message": {"type": "string"},
    },
}

# What each failure means here; which of them an operation lists is decided by _statuses.
_DESCRIPTIONS = {
    400: "The request is not valid (a BadRequest* code says which part).",
    401: "The Training-Key or Prediction-Key header is missing or wrong.",
    404: "A project, tag, image, iteration or published name in the path does not exist (NotFound*).",
    409: "A concurrent change to the same item won; read it again and retry (Conflict).",
    413: "The request body or an image is larger than the limit.",
    415: "The body is not an image, multipart/form-data or application/octet-stream.",
    429: "Too many requests for this key; retry after the Retry-After header's seconds.",
}

# Operations that read the image from the raw body (multipart `imageData`, or the bytes as they are)
# rather than from a declared JSON model, so FastAPI cannot see their body.
_IMAGE_BODY_OPERATIONS = frozenset(
    {
        "CreateImagesFromData",
        "QuickTestImage",
        "ClassifyImage",
        "ClassifyImageWithNoStore",
        "DetectImage",
        "DetectImageWithNoStore",
    }
)
_IMAGE_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"imageData": {"type": "string", "format": "binary"}},
                "required": ["imageData"],
            }
        },
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}

# cvstudio's own operations beside Custom Vision's (marked ``x-cvstudio-extension``), and the raw
# bodies FastAPI cannot see.
_EXTENSION_OPERATIONS = frozenset({"ExportDataset", "ImportDataset"})
_ZIP_BODY: dict[str, Any] = {
    "required": True,
    "description": "A zip archive of the dataset (any Content-Type): images and annotations in the layout of `format`.",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}

_KEYS = {
    TRAINING_PREFIX: ("TrainingKey", "Training-Key"),
    PREDICTION_PREFIX: ("PredictionKey", "Prediction-Key"),
    "/studio/api/": ("TrainingKey", "Training-Key"),
}


def _key_scheme(path: str) -> str | None:
    for prefix, (scheme, _) in _KEYS.items():
        if path.startswith(prefix):
            return scheme
    return None


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    statuses = [400]
    keyed = _key_scheme(path) is not None
    if keyed:
        statuses.append(401)
    if "{" in path:
        statuses.append(404)
    if method in ("post", "patch", "put", "delete") and "{" in path:
        statuses.append(409)
    if "requestBody" in operation:
        statuses.append(413)
    if operation.get("operationId") in _IMAGE_BODY_OPERATIONS:
        statuses.append(415)
    if keyed:
        statuses.append(429)
    return statuses


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA_NAME}"}}},
    }
    if status == 429:
        response["headers"] = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
    return response


def declare_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI-generated document in place: real error statuses and body, no 422."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    schemas[ERROR_SCHEMA_NAME] = _ERROR_SCHEMA
    components["securitySchemes"] = {
        scheme: {"type": "apiKey", "in": "header", "name": header} for scheme, header in _KEYS.values()
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if operation.get("operationId") in _IMAGE_BODY_OPERATIONS and "requestBody" not in operation:
                operation["requestBody"] = _IMAGE_BODY
            if operation.get("operationId") in _EXTENSION_OPERATIONS:
                operation["x-cvstudio-extension"] = True
                if method == "post" and "requestBody" not in operation:
                    operation["requestBody"] = _ZIP_BODY
            responses: dict[str, Any] = operation["responses"]
            responses.pop("422", None)
            for status in _statuses(path, method, operation):
                responses.setdefault(str(status), _error_response(status))
            scheme = _key_scheme(path)
            if scheme:
                operation["security"] = [{scheme: []}]
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the rewritten document at ``/openapi.json`` (built once, on the first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
                separate_input_output_schemas=app.separate_input_output_schemas,
            )
            app.openapi_schema = declare_errors(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
