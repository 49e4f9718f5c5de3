"""The training and prediction keys: from the settings, or made once and kept in the data dir.

A newcomer who sets nothing still gets a secured server: random keys are generated on the first
start, written to ``<data_dir>/keys.json`` (readable by the owner only) and reused afterwards.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.settings import Settings

__all__ = ["Keys", "resolve_keys"]


@dataclass(frozen=True)
class Keys:
    training: str
    prediction: str
    generated: bool  # True when any key came from keys.json rather than the settings


def _load_or_make(path: Path) -> dict[str, str]:
    if path.is_file():
        stored = json.loads(path.read_text())
        if isinstance(stored, dict) and stored.get("training") and stored.get("prediction"):
            return {"training": str(stored["training"]), "prediction": str(stored["prediction"])}
    made = {"training": secrets.token_hex(16), "prediction": secrets.token_hex(16)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(made, handle)
    os.replace(tmp, path)
    return made


def resolve_keys(settings: Settings) -> Keys:
    if settings.training_key and settings.prediction_key:
        return Keys(settings.training_key, settings.prediction_key, generated=False)
    stored = _load_or_make(settings.data_dir / "keys.json")
    return Keys(
        settings.training_key or stored["training"],
        settings.prediction_key or stored["prediction"],
        generated=True,
    )
