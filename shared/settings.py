"""The one configuration object. Nothing else in the product reads ``os.environ``.

Every setting comes from a ``CVSTUDIO_*`` environment variable (or the command line, which sets
the same fields). With nothing set, the product runs on the embedded default: everything under
``data_dir``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]

_PLACEHOLDERS = {"changethis", "changeme", "your-key", "<key>"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CVSTUDIO_", extra="ignore", frozen=True)

    data_dir: Path = Path(".data")
    # Keys: when unset, random keys are made once and kept in data_dir/keys.json.
    training_key: str | None = None
    prediction_key: str | None = None
    # The absolute base URL that image URIs are built on; by default the request's own host.
    public_base_url: str | None = None
    # Let URL uploads reach loopback and private networks (local testing only).
    allow_private_urls: bool = False
    # An upper limit on Advanced training's wall time, below the reserved budget (None: the budget).
    advanced_training_cap_seconds: float | None = None
    # Which roles this process serves: "all", "training" or "prediction".
    role: str = "all"

    @field_validator("training_key", "prediction_key")
    @classmethod
    def _no_placeholder_keys(cls, value: str | None) -> str | None:
        if value is not None:
            value = value.strip() or None
        if value is not None and (value.lower() in _PLACEHOLDERS or len(value) < 8):
            raise ValueError("keys must be at least 8 characters and not a placeholder")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @field_validator("role")
    @classmethod
    def _known_role(cls, value: str) -> str:
        if value not in ("all", "training", "prediction"):
            raise ValueError("role must be all, training or prediction")
        return value
