"""The ASGI app: the Custom Vision Training and Prediction APIs on one FastAPI app.

The settings' ``role`` decides which of the two this process serves: Azure runs them as separate
apps with separate keys; ``cvstudio serve`` runs both.

uvicorn serves it locally (``cvstudio serve``); ``azure.functions.AsgiFunctionApp`` serves the
same app in Azure (``function_app.py``).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from shared.api.body_limits import BodyLimits
from shared.api.deps import require_prediction_key, require_training_key
from shared.api.errors import install_error_handlers
from shared.api.hosts import AllowedHosts
from shared.api.openapi import install_openapi
from shared.api.paths import PREDICTION_PREFIX, TRAINING_PREFIX, ApiVersionPaths
from shared.api.rate_limits import install_rate_limits
from shared.api.routes import (
    artifacts,
    datasets,
    domains,
    image_labels,
    image_queries,
    image_uploads,
    iterations,
    prediction_api,
    projects,
    stored_predictions,
    studio,
    suggestions,
    tags,
)
from shared.api.security_headers import install_security_headers
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
    app.state.uri_signer = UriSigner(services.keys.training_keys)
    install_error_handlers(app)
    install_security_headers(app, public_base_url=services.settings.public_base_url)  # around all, the 500 too
    install_openapi(app)

    if services.settings.role in ("all", "training"):
        training = APIRouter(prefix=TRAINING_PREFIX, dependencies=[Depends(require_training_key)])
        # Literal paths (/images/tagged, /images/count, …) are registered before /images/{imageId}/….
        for module in (
            domains, projects, tags, image_queries, image_uploads, image_labels, iterations, stored_predictions,
            suggestions, datasets,
        ):  # fmt: skip
            training.include_router(module.router)
        app.include_router(training)
        app.include_router(artifacts.router)
        app.include_router(projects.package_router)  # export_project's package: a signed link, no key
        app.include_router(studio.config_router, dependencies=[Depends(require_training_key)])
        app.state.studio_assets = studio.studio_assets(services.settings.public_base_url)
        app.include_router(studio.router)
    if services.settings.role in ("all", "prediction"):
        prediction = APIRouter(prefix=PREDICTION_PREFIX, dependencies=[Depends(require_prediction_key)])
        prediction.include_router(prediction_api.router)
        app.include_router(prediction)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(  # inside the path rewrite, so it sees the canonical paths
        BodyLimits,
        json_limit=services.settings.max_json_body_bytes,
        file_batch_limit=services.settings.max_file_batch_body_bytes,
        header_limit=services.settings.max_header_bytes,
    )
    app.add_middleware(ApiVersionPaths)
    app.add_middleware(AllowedHosts, settings=services.settings)  # before any route builds a link on Host
    install_rate_limits(app, services.settings)  # inside CORS: preflights carry no key
    origins = services.settings.cors_origin_list
    if origins:
        # Outermost, so that a preflight is answered before the key checks (it carries no key).
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Training-Key", "Prediction-Key", "Content-Type"],
            expose_headers=["Retry-After"],  # so a web app can honour a 429
            max_age=600,
        )
    return app
