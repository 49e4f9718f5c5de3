"""The base of every wire shape, and the shapes several resources share: boxes and predictions."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = ["BoundingBoxOut", "PredictionOut", "UriFor", "Wire", "box_out"]

# (project id, image id, rendition) -> an absolute URL a browser can fetch
UriFor = Callable[[str, str, str], str]


class Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class BoundingBoxOut(Wire):
    left: float
    top: float
    width: float
    height: float


def box_out(box: Sequence[float] | None) -> BoundingBoxOut | None:
    return BoundingBoxOut(left=box[0], top=box[1], width=box[2], height=box[3]) if box else None


class PredictionOut(Wire):
    probability: float
    tag_id: str
    tag_name: str
    bounding_box: BoundingBoxOut | None = None
    tag_type: str
