"""What the studio asks the server about itself (not a Custom Vision shape)."""

from __future__ import annotations

from shared.api.wire.base import Wire

__all__ = ["StudioConfigOut", "StudioExportOut", "StudioLimitsOut"]


class StudioLimitsOut(Wire):
    """The API's own limits (``domain/limits.py``, ``domain/validation.py``), so that the studio
    says what is wrong before a call with the server's numbers, never with a copy of them."""

    min_images_per_tag_classification: int
    min_images_per_tag_detection: int
    max_image_bytes_training: int
    max_image_bytes_prediction: int
    max_image_side: int
    max_batch_images: int
    max_batch_tags: int
    max_tags_per_image: int
    max_regions_per_image: int
    max_name_length: int
    publish_name_pattern: str


class StudioExportOut(Wire):
    """One (platform, flavor) pair this server builds for a compact domain (``catalogue.BUILT_EXPORTS``)."""

    platform: str
    flavor: str | None


class StudioConfigOut(Wire):
    prediction_endpoint: str | None
    prediction_key: str | None
    prediction_path: str
    limits: StudioLimitsOut
    exports: list[StudioExportOut]
