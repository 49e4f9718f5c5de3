"""The closed sets of the product, each one enum (values exactly as on the wire and in storage).

``StrEnum`` members are strings, so they compare equal to the text clients send and read
(``iteration.status == "Completed"``) and serialise as that text.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

__all__ = [
    "ClassificationType",
    "DomainType",
    "ExportStatus",
    "ImageCreateStatus",
    "IterationStatus",
    "MetadataUpdateStatus",
    "TagType",
    "TaggingStatus",
    "Task",
    "TrainingType",
    "parse_member",
]


_E = TypeVar("_E", bound=StrEnum)


def parse_member(enum: type[_E], value: str | None, default: _E) -> _E | None:
    """The member whose value matches ``value`` in any casing (``default`` for None or empty), or
    None when nothing matches: the caller raises its own error with its own code."""
    if not value:
        return default
    folded = value.strip().lower()
    return next((m for m in enum if m.value.lower() == folded), None)


class DomainType(StrEnum):
    CLASSIFICATION = "Classification"
    OBJECT_DETECTION = "ObjectDetection"


class Task(StrEnum):
    """What a trained model does (the model manifest's and the evaluation's ``task``)."""

    CLASSIFICATION = "classification"
    DETECTION = "detection"


class ClassificationType(StrEnum):
    MULTICLASS = "Multiclass"
    MULTILABEL = "Multilabel"


class TagType(StrEnum):
    REGULAR = "Regular"
    NEGATIVE = "Negative"
    GENERAL_PRODUCT = "GeneralProduct"


class TaggingStatus(StrEnum):
    """Which images a query wants by whether they carry any tag."""

    ALL = "All"
    TAGGED = "Tagged"
    UNTAGGED = "Untagged"


class TrainingType(StrEnum):
    REGULAR = "Regular"
    ADVANCED = "Advanced"


class IterationStatus(StrEnum):
    """``Training``, then ``Completed`` or ``Failed`` (clients poll with string comparisons)."""

    TRAINING = "Training"
    COMPLETED = "Completed"
    FAILED = "Failed"


class ExportStatus(StrEnum):
    EXPORTING = "Exporting"
    DONE = "Done"
    FAILED = "Failed"


class ImageCreateStatus(StrEnum):
    """One image's outcome in an upload batch (Custom Vision's ``ImageCreateStatus``)."""

    OK = "OK"
    OK_DUPLICATE = "OKDuplicate"
    ERROR_SOURCE = "ErrorSource"
    ERROR_IMAGE_FORMAT = "ErrorImageFormat"
    ERROR_IMAGE_SIZE = "ErrorImageSize"
    ERROR_IMAGE_DIMENSIONS = "ErrorImageDimensions"
    ERROR_INVALID_TAG = "ErrorInvalidTag"
    ERROR_TAG_LIMIT_EXCEED = "ErrorTagLimitExceed"
    ERROR_REGION_LIMIT_EXCEED = "ErrorRegionLimitExceed"
    ERROR_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE = "ErrorNegativeAndRegularTagOnSameImage"

    @property
    def stored(self) -> bool:
        """The image is in the project (new, or there already)."""
        return self in (ImageCreateStatus.OK, ImageCreateStatus.OK_DUPLICATE)


class MetadataUpdateStatus(StrEnum):
    OK = "OK"
    ERROR_IMAGE_NOT_FOUND = "ErrorImageNotFound"
    ERROR_LIMIT_EXCEED = "ErrorLimitExceed"
