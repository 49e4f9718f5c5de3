"""The ASGI app: the Custom Vision Training API (and, later, the Prediction API) on one FastAPI app.

uvicorn serves it locally (``cvstudio serve``); ``azure.functions.AsgiFunctionApp`` serves the
same app in Azure (``function_app.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from shared.api.deps import require_training_key
from shared.api.errors import install_error_handlers
from shared.api.paths import TRAINING_PREFIX, ApiVersionPaths
from shared.api.routes import (
    artifacts,
    domains,
    image_labels,
    image_queries,
    image_uploads,
    iterations,
    projects,
    tags,
)
from shared.api.uris import UriSigner
from shared.bootstrap import Services

__all__ = ["create_app"]


def _operation_id(route: APIRoute) -> str:
    # Routes name their Custom Vision operationId; this only covers routes that forgot.
    return route.name


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="cvstudio: the Custom Vision API, self-hosted",
        version="0.1.0",
        generate_unique_id_function=_operation_id,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.services = services
    app.state.uri_signer = UriSigner(services.keys.training)
    install_error_handlers(app)

    if services.settings.role in ("all", "training"):
        training = APIRouter(prefix=TRAINING_PREFIX, dependencies=[Depends(require_training_key)])
        # Literal paths (/images/tagged, /images/count, …) are registered before /images/{imageId}/….
        for module in (domains, projects, tags, image_queries, image_uploads, image_labels, iterations):
            training.include_router(module.router)
        app.include_router(training)
        app.include_router(artifacts.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(ApiVersionPaths)
    return app
