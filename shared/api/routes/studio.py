"""The studio's page and files: ``/`` (and ``/studio``) and ``/studio/assets/...`` (no key), and
``/studio/api/config`` (the training key): where the prediction endpoint is, the API's limits and the exports it builds.

The page holds no data: it asks for the training key and then calls the API like any app. Hashed
asset names are cached for a year; the page itself is revalidated on every load.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request, Response

from shared.api.deps import ServicesDep, base_url
from shared.api.paths import PREDICTION_PREFIX
from shared.api.wire.studio import StudioConfigOut, StudioExportOut, StudioLimitsOut
from shared.domain import limits
from shared.domain.catalogue import BUILT_EXPORTS
from shared.domain.errors import Code, NotFound
from shared.domain.validation import PUBLISH_NAME_PATTERN
from shared.studio.assets import ASSET_PREFIX, StudioAssets

__all__ = ["config_router", "router", "studio_assets"]

router = APIRouter(include_in_schema=False)
# Behind the training key, outside the Custom Vision paths.
config_router = APIRouter(tags=["studio"])
_IMMUTABLE = "public, max-age=31536000, immutable"
_SECURITY = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def studio_assets(public_base_url: str | None) -> StudioAssets:
    """The studio's files, read once when the app is made (a few hundred KB)."""
    origin = None
    if public_base_url:
        parts = urlsplit(public_base_url)
        origin = f"{parts.scheme}://{parts.netloc}"  # image links point there, not at the page's origin
    return StudioAssets(image_origin=origin)


def _assets(request: Request) -> StudioAssets:
    assets: StudioAssets = request.app.state.studio_assets
    return assets


@router.get("/")
@router.get("/studio")
def studio_page(request: Request) -> Response:
    assets = _assets(request)
    headers = {
        **_SECURITY,
        "Cache-Control": "no-cache",
        "Content-Security-Policy": assets.content_security_policy,
        "X-Frame-Options": "DENY",
    }
    return Response(assets.index_html, media_type="text/html; charset=utf-8", headers=headers)


@router.get(ASSET_PREFIX + "{name:path}")
def studio_asset(request: Request, name: str) -> Response:
    found = _assets(request).find(name)
    if found is None:
        raise NotFound(f"The studio has no file '{name}'.", Code.NOT_FOUND)
    asset, hashed = found
    headers = {**_SECURITY, "Cache-Control": _IMMUTABLE if hashed else "no-cache"}
    return Response(asset.body, media_type=asset.content_type, headers=headers)


_LIMITS = StudioLimitsOut(
    min_images_per_tag_classification=limits.MIN_IMAGES_PER_TAG_CLASSIFICATION,
    min_images_per_tag_detection=limits.MIN_IMAGES_PER_TAG_DETECTION,
    max_image_bytes_training=limits.MAX_IMAGE_BYTES_TRAINING,
    max_image_bytes_prediction=limits.MAX_IMAGE_BYTES_PREDICTION,
    max_image_side=limits.MAX_IMAGE_SIDE,
    max_batch_images=limits.MAX_BATCH_IMAGES,
    max_batch_tags=limits.MAX_BATCH_TAGS,
    max_tags_per_image=limits.MAX_TAGS_PER_IMAGE,
    max_regions_per_image=limits.MAX_REGIONS_PER_IMAGE,
    max_name_length=limits.MAX_NAME_LENGTH,
    publish_name_pattern=PUBLISH_NAME_PATTERN,
)


_EXPORTS = [
    StudioExportOut(platform=platform, flavor=flavor)
    for platform, flavors in BUILT_EXPORTS.items()
    for flavor in flavors
]


@config_router.get("/studio/api/config", operation_id="StudioConfig", response_model=StudioConfigOut)
def studio_config(request: Request, services: ServicesDep) -> StudioConfigOut:
    """What the studio shows under "Prediction URL": this server's prediction endpoint, and its key
    when this process holds it (``cvstudio serve``; in Azure each app holds only its own key)."""
    settings = services.settings
    serves_prediction = settings.role == "all"
    return StudioConfigOut(
        prediction_endpoint=base_url(request, services) if serves_prediction else None,
        prediction_key=services.keys.prediction if serves_prediction else None,
        prediction_path=PREDICTION_PREFIX,
        limits=_LIMITS,
        exports=_EXPORTS,
    )
