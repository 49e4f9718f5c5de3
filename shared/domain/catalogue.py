"""The domain catalogue: Custom Vision's real domain ids and names (SPEC §3.2).

A project's type (classification or detection) follows from its domain. Compact domains are the
exportable ones. ``recipe`` names the training recipe a domain maps to (documented in
docs/architecture.md); the HTTP layer never shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.domain.enums import DomainType, Task

__all__ = [
    "BUILT_EXPORTS",
    "DEFAULT_DOMAIN_ID",
    "DOMAINS",
    "EXPORT_PLATFORMS",
    "Domain",
    "domain_task",
    "find_domain",
]

EXPORT_PLATFORMS = ("CoreML", "TensorFlow", "DockerFile", "ONNX", "VAIDK", "OpenVino")

# What this cvstudio builds for a compact domain: platform -> the flavors it accepts (None: no flavor
# given), in Custom Vision's names. The one list: ``shared.exporting.platforms`` names a builder for
# each pair (a unit test holds them equal), and domains list these platforms as exportable. VAIDK and
# TensorFlow's SavedModel flavors have no converter that installs here; DockerFile's Windows flavor
# would need a Windows container base.
BUILT_EXPORTS: dict[str, tuple[str | None, ...]] = {
    "ONNX": (None, "ONNX10", "ONNX12", "OnnxFloat16"),
    "DockerFile": (None, "Linux", "ARM"),
    "OpenVino": (None,),
    "CoreML": (None,),
    "TensorFlow": ("TensorFlowLite",),
}
_COMPACT_PLATFORMS = tuple(BUILT_EXPORTS)


@dataclass(frozen=True)
class Domain:
    id: str
    name: str
    type: DomainType
    exportable: bool
    recipe: str
    model_size_mb: int
    description: str

    @property
    def exportable_platforms(self) -> tuple[str, ...]:
        return _COMPACT_PLATFORMS if self.exportable else ()

    @property
    def task(self) -> Task:
        return Task.DETECTION if self.type == DomainType.OBJECT_DETECTION else Task.CLASSIFICATION


def _cls(id_: str, name: str, exportable: bool, recipe: str, size: int, text: str) -> Domain:
    return Domain(id_, name, DomainType.CLASSIFICATION, exportable, recipe, size, text)


def _det(id_: str, name: str, exportable: bool, recipe: str, size: int, text: str) -> Domain:
    return Domain(id_, name, DomainType.OBJECT_DETECTION, exportable, recipe, size, text)


DOMAINS: tuple[Domain, ...] = (
    _cls(
        "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31",
        "General",
        False,
        "classify-lite0",
        0,
        "A broad domain for most image classification tasks.",
    ),
    _cls(
        "a8e3c40f-fb4a-466f-832a-5e457ae4a344",
        "General [A1]",
        False,
        "classify-lite0-large",
        0,
        "Tuned for higher accuracy at the cost of training time.",
    ),
    _cls(
        "2e37d7fb-3a54-486a-b4d6-cfc369af0018",
        "General [A2]",
        False,
        "classify-lite0",
        0,
        "Tuned for fast inference with accuracy close to General [A1].",
    ),
    _cls(
        "c151d5b5-dd07-472a-acc8-15d29dea8518",
        "Food",
        False,
        "classify-lite0",
        0,
        "Dishes and individual fruits or vegetables.",
    ),
    _cls(
        "ca455789-012d-4b50-9fec-5bb63841c793",
        "Landmarks",
        False,
        "classify-lite0",
        0,
        "Recognisable natural and man-made landmarks.",
    ),
    _cls(
        "b30a91ae-e3c1-4f73-a81e-c270bff27c39",
        "Retail",
        False,
        "classify-lite0",
        0,
        "Products in shopping catalogues and websites.",
    ),
    _cls(
        "45badf75-3591-4f26-a705-45678d3e9f5f",
        "Adult",
        False,
        "classify-lite0",
        0,
        "Kept for compatibility with old projects.",
    ),
    _cls(
        "0732100f-1a38-4e49-a514-c9b44c697ab5",
        "General (compact)",
        True,
        "classify-lite0",
        14,
        "Exportable classifier for edge devices.",
    ),
    _cls(
        "a1db07ca-a19a-4830-bae8-e004a42dc863",
        "General (compact) [S1]",
        True,
        "classify-lite0",
        14,
        "Exportable classifier, S1 export conventions.",
    ),
    _cls(
        "b5cfd229-2ac7-4b2b-8d0a-2b0661344894",
        "Landmarks (compact)",
        True,
        "classify-lite0",
        14,
        "Exportable landmark classifier.",
    ),
    _cls(
        "6b4faeda-8396-481b-9f8b-177b9fa3097f",
        "Retail (compact)",
        True,
        "classify-lite0",
        14,
        "Exportable retail classifier.",
    ),
    _det(
        "da2e3a8a-40a5-4171-82f4-58522f70fbc1",
        "General",
        False,
        "detect-lite0",
        0,
        "A broad domain for most object detection tasks.",
    ),
    _det(
        "9c616dff-2e7d-ea11-af59-1866da359ce6",
        "General [A1]",
        False,
        "detect-lite0-large",
        0,
        "Tuned for higher accuracy at the cost of training time.",
    ),
    _det("1d8ffafe-ec40-4fb2-8f90-72b3b6cecea4", "Logo", False, "detect-lite0", 0, "Brand logos."),
    _det(
        "3780a898-81c3-4516-81ae-3a139614e1f3",
        "Products on shelves",
        False,
        "detect-lite0",
        0,
        "Products on store shelves.",
    ),
    _det(
        "a27d5ca5-bb19-49d8-a70a-fec086c47f5b",
        "General (compact)",
        True,
        "detect-lite0",
        16,
        "Exportable detector for edge devices.",
    ),
    _det(
        "7ec2ac80-887b-48a6-8df9-8b1357765430",
        "General (compact) [S1]",
        True,
        "detect-lite0",
        16,
        "Exportable detector, S1 export conventions.",
    ),
)

DEFAULT_DOMAIN_ID = DOMAINS[0].id
_BY_ID = {d.id: d for d in DOMAINS}


def find_domain(domain_id: str) -> Domain | None:
    """The domain with this id (case-insensitive), or None."""
    return _BY_ID.get(domain_id.lower())


def domain_task(domain_id: str) -> Task:
    """What models of this domain do (classification for an unknown id, as projects default)."""
    domain = find_domain(domain_id)
    return domain.task if domain is not None else Task.CLASSIFICATION
