"""What route handlers need, declared once as ``Annotated`` dependencies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from shared.api.auth import require_key
from shared.api.hosts import host_allowed, host_refused_message
from shared.api.uris import UriSigner
from shared.api.wire.base import UriFor
from shared.bootstrap import Services
from shared.domain.errors import BadRequest
from shared.domain.records import ExportRecord

__all__ = [
    "ExportUriDep",
    "PredictionUriForDep",
    "ServicesDep",
    "base_url",
    "UriForDep",
    "require_prediction_key",
    "require_training_key",
]


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


def require_training_key(request: Request, services: ServicesDep) -> None:
    require_key(request, "training-key", services.keys.training_keys)


def require_prediction_key(request: Request, services: ServicesDep) -> None:
    require_key(request, "prediction-key", services.keys.prediction_keys)


def base_url(request: Request, services: Services) -> str:
    """Where links point: the public base URL, else the request's own host, which the app has checked
    against the allowed hosts (``shared/api/hosts.py``) before any route ran."""
    settings = services.settings
    if settings.public_base_url:
        return settings.public_base_url
    host = request.headers.get("host")
    if host is not None and not host_allowed(host, settings.allowed_host_list):
        raise BadRequest(host_refused_message(host))  # defence in depth: the hosts check runs first
    return str(request.base_url).rstrip("/")


def _uri_for(request: Request, services: ServicesDep) -> UriFor:
    base = base_url(request, services)
    signer: UriSigner = request.app.state.uri_signer

    def uri_for(project_id: str, image_id: str, rendition: str) -> str:
        return base + signer.sign(signer.image_path(project_id, image_id, rendition))

    return uri_for


UriForDep = Annotated[UriFor, Depends(_uri_for)]


def _prediction_uri_for(request: Request, services: ServicesDep) -> UriFor:
    base = base_url(request, services)
    signer: UriSigner = request.app.state.uri_signer

    def uri_for(project_id: str, prediction_id: str, rendition: str) -> str:
        return base + signer.sign(signer.prediction_path(project_id, prediction_id, rendition))

    return uri_for


PredictionUriForDep = Annotated[UriFor, Depends(_prediction_uri_for)]


def _export_uri(request: Request, services: ServicesDep) -> Callable[[ExportRecord], str]:
    base = base_url(request, services)
    signer: UriSigner = request.app.state.uri_signer

    def export_uri(record: ExportRecord) -> str:
        return base + signer.sign(signer.export_path(record.project_id, record.iteration_id, record.file_name))

    return export_uri


ExportUriDep = Annotated[Callable[[ExportRecord], str], Depends(_export_uri)]
