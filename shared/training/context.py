"""What a task's training reads (snapshot, images, budget) and where it reports and saves.

The images come in content order (:meth:`TrainingContext.images`), so that the held-out split
(seeded, but dealt in this order) and the training run depend on the images and their labels, not
on their random ids or upload order: the same data uploaded again trains the same way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image as PILImage

from shared.bootstrap import Services
from shared.contracts.evaluation import HeldOutEvaluation
from shared.contracts.manifest import ModelManifest
from shared.contracts.snapshot import Snapshot
from shared.domain.entities import Image, Iteration
from shared.domain.enums import TrainingType
from shared.training.progress import IterationProgress
from shared.vision.images import load_rgb
from shared.vision.training.budget import TimeBudget

__all__ = ["TrainingContext"]

# A fit shorter than this does nothing useful: an Advanced iteration running late overruns instead.
_MIN_FIT_SECONDS = 5.0


@dataclass(frozen=True)
class TrainingContext:
    """One iteration's training, as the task trainers see it."""

    services: Services
    iteration: Iteration
    snapshot: Snapshot
    progress: IterationProgress
    budget: TimeBudget  # what the fits may spend (unlimited: Regular)

    @property
    def advanced(self) -> bool:
        return self.iteration.training_type == TrainingType.ADVANCED

    def fit_seconds(self, share: float = 1.0) -> float | None:
        """Seconds for the next fit: ``share`` of the fits' budget left; ``None`` when unlimited."""
        return self.budget.share(share, at_least=_MIN_FIT_SECONDS).seconds

    def images(self) -> list[Image]:
        """The snapshot's images in content order (see the module docstring)."""
        return sorted(self.snapshot.images, key=lambda i: (i.content_hash, i.id))

    def loader(self, image: Image) -> Callable[[], PILImage.Image]:
        """Loads ``image`` as the models want it (EXIF-oriented RGB), each time it is called."""
        key, blobs = image.blob_key, self.services.blobs
        return lambda: load_rgb(blobs.get(key))

    def save(self, export: Callable[[Path], None], manifest: ModelManifest, evaluation: HeldOutEvaluation) -> None:
        """Export the model through ``export`` (it writes an ONNX file) and save it with its
        manifest and evaluation."""
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.onnx"
            export(path)
            model = path.read_bytes()
        self.services.artifacts.save(self.iteration.project_id, self.iteration.id, model, manifest, evaluation)
