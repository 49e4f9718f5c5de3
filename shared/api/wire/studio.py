"""What the studio asks the server about itself (not a Custom Vision shape)."""

from __future__ import annotations

from shared.api.wire.base import Wire

__all__ = ["StudioConfigOut"]


class StudioConfigOut(Wire):
    prediction_endpoint: str | None
    prediction_key: str | None
    prediction_path: str
