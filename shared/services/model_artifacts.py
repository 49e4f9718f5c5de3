"""What training leaves behind for an iteration, written and read by this one module: the ONNX
model, its manifest (:class:`~shared.contracts.manifest.ModelManifest`) and the held-out
evaluation (:class:`~shared.contracts.evaluation.HeldOutEvaluation`).

The trainer saves all three when an iteration completes; predictions, exports and performance
read them back. They never change once written, so parsed manifests and evaluations are cached
(bounded); the ONNX sessions are cached by :class:`shared.vision.inference.ModelCache`.
"""

from __future__ import annotations

from shared.contracts.evaluation import HeldOutEvaluation
from shared.contracts.manifest import ModelManifest
from shared.domain.errors import Code, NotFound
from shared.services.artifact_keys import evaluation_key, manifest_key, model_key
from shared.stores.cache import LruCache
from shared.stores.ports import BlobStore

__all__ = ["ModelArtifacts"]

_CACHED = 32  # manifests and evaluations are small: a few dozen iterations' worth


class ModelArtifacts:
    def __init__(self, blobs: BlobStore) -> None:
        self._blobs = blobs
        self._manifests: LruCache[str, ModelManifest] = LruCache(_CACHED)
        self._evaluations: LruCache[str, HeldOutEvaluation] = LruCache(_CACHED)

    def save(
        self,
        project_id: str,
        iteration_id: str,
        model: bytes,
        manifest: ModelManifest,
        evaluation: HeldOutEvaluation,
    ) -> None:
        self._blobs.put(model_key(project_id, iteration_id), model)
        self._blobs.put(manifest_key(project_id, iteration_id), manifest.to_json(), "application/json")
        self._blobs.put(evaluation_key(project_id, iteration_id), evaluation.to_json(), "application/json")

    def model(self, project_id: str, iteration_id: str) -> bytes:
        return self._blobs.get(model_key(project_id, iteration_id))

    def manifest(self, project_id: str, iteration_id: str) -> ModelManifest:
        return self._manifests.get(
            iteration_id, lambda: ModelManifest.from_json(self._blobs.get(manifest_key(project_id, iteration_id)))
        )

    def evaluation(self, project_id: str, iteration_id: str) -> HeldOutEvaluation:
        """The held-out evaluation; ``NotFoundIterationPerformance`` when the iteration has none."""

        def load() -> HeldOutEvaluation:
            try:
                data = self._blobs.get(evaluation_key(project_id, iteration_id))
            except NotFound:
                raise NotFound(
                    f"Iteration '{iteration_id}' has no stored evaluation.", Code.NOT_FOUND_ITERATION_PERFORMANCE
                ) from None
            return HeldOutEvaluation.from_json(data)

        return self._evaluations.get(iteration_id, load)
