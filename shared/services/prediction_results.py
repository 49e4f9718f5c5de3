"""What a prediction returns: the model's scored tags named by the project's tags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.domain.entities import Tag
from shared.domain.enums import TagType
from shared.domain.records import Box, ScoredTag, StoredPrediction

__all__ = ["PredictedTag", "PredictionResult", "named"]


@dataclass(frozen=True)
class PredictedTag:
    tag_id: str
    tag_name: str
    tag_type: str
    probability: float
    box: Box | None = None  # left, top, width, height (normalised)


@dataclass(frozen=True)
class PredictionResult:
    id: str
    project_id: str
    iteration_id: str
    created: str
    predictions: list[PredictedTag]
    # Only for stored predictions:
    width: int = 0
    height: int = 0
    domain_id: str = ""
    application: str | None = None
    stored: bool = False

    @classmethod
    def of_record(cls, record: StoredPrediction, tags: Mapping[str, Tag], *, stored: bool = True) -> PredictionResult:
        return cls(
            id=record.id,
            project_id=record.project_id,
            iteration_id=record.iteration_id,
            created=record.created,
            predictions=named(record.predictions, tags),
            width=record.width,
            height=record.height,
            domain_id=record.domain_id,
            application=record.application,
            stored=stored,
        )


def named(scored: Iterable[ScoredTag], tags: Mapping[str, Tag]) -> list[PredictedTag]:
    """The model's outputs named by the current tags (a deleted tag keeps its id, with no name)."""
    found: list[PredictedTag] = []
    for s in scored:
        tag = tags.get(s.tag_id)
        found.append(
            PredictedTag(
                tag_id=s.tag_id,
                tag_name=tag.name if tag else "",
                tag_type=tag.type.value if tag else TagType.REGULAR.value,
                probability=max(0.0, min(1.0, s.probability)),
                box=s.box,
            )
        )
    return found
