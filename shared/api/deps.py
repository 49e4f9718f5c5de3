"""What route handlers need, declared once as ``Annotated`` dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.api.auth import require_key
from shared.api.uris import UriSigner
from shared.api.wire import UriFor
from shared.bootstrap import Services

__all__ = ["ServicesDep", "UriForDep", "require_training_key"]


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


def require_training_key(request: Request, services: ServicesDep) -> None:
    require_key(request, "training-key", services.keys.training)


def _uri_for(request: Request, services: ServicesDep) -> UriFor:
    base = services.settings.public_base_url or str(request.base_url).rstrip("/")
    signer: UriSigner = request.app.state.uri_signer

    def uri_for(project_id: str, image_id: str, variant: str) -> str:
        return base + signer.sign(signer.image_path(project_id, image_id, variant))

    return uri_for


UriForDep = Annotated[UriFor, Depends(_uri_for)]
