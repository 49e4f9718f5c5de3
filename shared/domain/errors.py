"""The one error hierarchy of the product, and the Custom Vision error codes it speaks.

Every failure a user can cause is raised as a :class:`ServiceError` carrying a Custom Vision
error ``code`` (a member of :class:`Code`) and a message a person can act on. The HTTP layer
renders it as Custom Vision's flat ``{"code": ..., "message": ...}`` body; the status comes from
the code's family, in one place (:func:`http_status`).

    ServiceError                 code + message; the status follows the code's family
    ├── BadRequest               BadRequest*           -> 400
    ├── Unauthorized             Unauthorized          -> 401
    ├── Forbidden                Forbidden*            -> 403
    ├── NotFound                 NotFound*             -> 404
    ├── Conflict                 Conflict*             -> 409 (an etag lost a race)
    ├── UnsupportedMediaType     UnsupportedMediaType  -> 415
    ├── (the rate limits)        TooManyRequests       -> 429 (with Retry-After)
    └── ServerError              Error*                -> 500

Adapters translate their SDK's exceptions into these at their boundary, so nothing above the
stores ever sees a driver exception.
"""

from __future__ import annotations

from enum import StrEnum

from shared.domain.enums import ImageCreateStatus

__all__ = [
    "BadRequest",
    "Code",
    "Conflict",
    "Forbidden",
    "InvalidImage",
    "NotFound",
    "ServerError",
    "ServiceError",
    "Unauthorized",
    "UnsupportedMediaType",
    "http_status",
    "plain_reason",
]


class Code(StrEnum):
    """The Custom Vision error codes this product emits (names as in ``CustomVisionErrorCodes``)."""

    BAD_REQUEST = "BadRequest"
    BAD_REQUEST_EXCEEDED_BATCH_SIZE = "BadRequestExceededBatchSize"
    BAD_REQUEST_INVALID_IDS = "BadRequestInvalidIds"
    BAD_REQUEST_INVALID = "BadRequestInvalid"
    BAD_REQUEST_REQUIRED_PARAM_IS_NULL = "BadRequestRequiredParamIsNull"
    BAD_REQUEST_PROJECT_NAME = "BadRequestProjectName"
    BAD_REQUEST_PROJECT_NAME_NOT_UNIQUE = "BadRequestProjectNameNotUnique"
    BAD_REQUEST_PROJECT_DESCRIPTION = "BadRequestProjectDescription"
    BAD_REQUEST_PROJECT_UNKNOWN_DOMAIN = "BadRequestProjectUnknownDomain"
    BAD_REQUEST_PROJECT_UNKNOWN_CLASSIFICATION = "BadRequestProjectUnknownClassification"
    BAD_REQUEST_PROJECT_UNSUPPORTED_DOMAIN_TYPE_CHANGE = "BadRequestProjectUnsupportedDomainTypeChange"
    BAD_REQUEST_PROJECT_UNSUPPORTED_EXPORT_PLATFORM = "BadRequestProjectUnsupportedExportPlatform"
    BAD_REQUEST_EXCEED_PROJECT_LIMIT = "BadRequestExceedProjectLimit"
    BAD_REQUEST_TAG_NAME = "BadRequestTagName"
    BAD_REQUEST_TAG_NAME_NOT_UNIQUE = "BadRequestTagNameNotUnique"
    BAD_REQUEST_TAG_DESCRIPTION = "BadRequestTagDescription"
    BAD_REQUEST_TAG_TYPE = "BadRequestTagType"
    BAD_REQUEST_MULTIPLE_NEGATIVE_TAG = "BadRequestMultipleNegativeTag"
    BAD_REQUEST_EXCEED_TAG_PER_PROJECT_LIMIT = "BadRequestExceedTagPerProjectLimit"
    BAD_REQUEST_EXCEED_TAG_PER_IMAGE_LIMIT = "BadRequestExceedTagPerImageLimit"
    BAD_REQUEST_IMAGE_TAGS = "BadRequestImageTags"
    BAD_REQUEST_IMAGE_REGIONS = "BadRequestImageRegions"
    BAD_REQUEST_NEGATIVE_AND_REGULAR_TAG_ON_SAME_IMAGE = "BadRequestNegativeAndRegularTagOnSameImage"
    BAD_REQUEST_IMAGE_BATCH = "BadRequestImageBatch"
    BAD_REQUEST_IMAGE_STREAM = "BadRequestImageStream"
    BAD_REQUEST_IMAGE_URL = "BadRequestImageUrl"
    BAD_REQUEST_IMAGE_FORMAT = "BadRequestImageFormat"
    BAD_REQUEST_IMAGE_SIZE_BYTES = "BadRequestImageSizeBytes"
    BAD_REQUEST_IMAGE_DIMENSIONS = "BadRequestImageDimensions"
    BAD_REQUEST_IMAGE_ASPECT_RATIO = "BadRequestImageAspectRatio"
    BAD_REQUEST_IMAGE_EXCEEDED_COUNT = "BadRequestImageExceededCount"
    BAD_REQUEST_IMAGE_METADATA_KEY = "BadRequestImageMetadataKey"
    BAD_REQUEST_IMAGE_METADATA_VALUE = "BadRequestImageMetadataValue"
    BAD_REQUEST_INVALID_URI = "BadRequestInvalidUri"
    BAD_REQUEST_NOT_SUPPORTED = "BadRequestNotSupported"
    BAD_REQUEST_ITERATION_NAME = "BadRequestIterationName"
    BAD_REQUEST_ITERATION_NAME_NOT_UNIQUE = "BadRequestIterationNameNotUnique"
    BAD_REQUEST_ITERATION_IS_NOT_TRAINED = "BadRequestIterationIsNotTrained"
    BAD_REQUEST_ITERATION_IS_PUBLISHED = "BadRequestIterationIsPublished"
    BAD_REQUEST_EXCEED_ITERATION_PER_PROJECT_LIMIT = "BadRequestExceedIterationPerProjectLimit"
    BAD_REQUEST_TRAINING_NOT_NEEDED = "BadRequestTrainingNotNeeded"
    BAD_REQUEST_TRAINING_ALREADY_IN_PROGRESS = "BadRequestTrainingAlreadyInProgress"
    BAD_REQUEST_TRAINING_VALIDATION_FAILED = "BadRequestTrainingValidationFailed"
    BAD_REQUEST_MULTICLASS_TRAINING_VALIDATION_FAILED = "BadRequestMultiClassClassificationTrainingValidationFailed"
    BAD_REQUEST_MULTILABEL_TRAINING_VALIDATION_FAILED = "BadRequestMultiLabelClassificationTrainingValidationFailed"
    BAD_REQUEST_DETECTION_TRAINING_VALIDATION_FAILED = "BadRequestDetectionTrainingValidationFailed"
    BAD_REQUEST_DETECTION_TRAINING_NOT_ALLOW_NEGATIVE_TAG = "BadRequestDetectionTrainingNotAllowNegativeTag"
    BAD_REQUEST_RESERVED_BUDGET_NOT_ENOUGH = "BadRequestReservedBudgetInHoursNotEnoughForAdvancedTraining"
    BAD_REQUEST_INVALID_EMAIL_ADDRESS = "BadRequestInvalidEmailAddress"
    BAD_REQUEST_EXPORT_VALIDATION_FAILED = "BadRequestExportValidationFailed"
    BAD_REQUEST_EXPORT_ALREADY_IN_PROGRESS = "BadRequestExportAlreadyInProgress"
    BAD_REQUEST_EXPORT_WHILE_TRAINING = "BadRequestExportWhileTraining"
    BAD_REQUEST_INVALID_IMPORT_TOKEN = "BadRequestInvalidImportToken"
    BAD_REQUEST_INVALID_PUBLISH_NAME = "BadRequestInvalidPublishName"
    BAD_REQUEST_ITERATION_NOT_PUBLISHED = "BadRequestIterationNotPublished"
    BAD_REQUEST_PREDICTION_IDS_MISSING = "BadRequestPredictionIdsMissing"
    BAD_REQUEST_PREDICTION_TAGS_EXCEEDED = "BadRequestPredictionTagsExceededCount"
    BAD_REQUEST_PREDICTION_INVALID_QUERY = "BadRequestPredictionInvalidQueryParameters"
    BAD_REQUEST_PREDICTION_INVALID_APPLICATION = "BadRequestPredictionInvalidApplicationName"
    UNAUTHORIZED = "Unauthorized"
    FORBIDDEN = "Forbidden"
    NOT_FOUND = "NotFound"
    NOT_FOUND_PROJECT = "NotFoundProject"
    NOT_FOUND_ITERATION = "NotFoundIteration"
    NOT_FOUND_ITERATION_PERFORMANCE = "NotFoundIterationPerformance"
    NOT_FOUND_TAG = "NotFoundTag"
    NOT_FOUND_IMAGE = "NotFoundImage"
    NOT_FOUND_DOMAIN = "NotFoundDomain"
    CONFLICT = "Conflict"
    UNSUPPORTED_MEDIA_TYPE = "UnsupportedMediaType"
    # Custom Vision's codes have none for rate limits (Azure's gateway answers {"error": {"code": "429"}},
    # which the SDK cannot read): ours, in the flat shape.
    TOO_MANY_REQUESTS = "TooManyRequests"
    ERROR_UNKNOWN = "ErrorUnknown"
    ERROR_PROJECT_IMPORT_REQUEST_FAILED = "ErrorProjectImportRequestFailed"
    ERROR_PROJECT_EXPORT_REQUEST_FAILED = "ErrorProjectExportRequestFailed"


_FAMILY_STATUS = (
    ("BadRequest", 400),
    ("Unauthorized", 401),
    ("Forbidden", 403),
    ("NotFound", 404),
    ("Conflict", 409),
    ("UnsupportedMediaType", 415),
    ("TooManyRequests", 429),
)


def http_status(code: Code | str) -> int:
    """The HTTP status for an error code, decided by its family prefix (SPEC §1.5)."""
    name = code.value if isinstance(code, Code) else code
    for prefix, status in _FAMILY_STATUS:
        if name.startswith(prefix):
            return status
    return 500


class ServiceError(Exception):
    """A failure with a Custom Vision error code and a message meant for the caller."""

    default_code: Code = Code.ERROR_UNKNOWN

    def __init__(self, message: str, code: Code | None = None) -> None:
        super().__init__(message)
        self.code: Code = code or self.default_code
        self.message = message

    @property
    def status(self) -> int:
        return http_status(self.code)


class BadRequest(ServiceError):
    default_code = Code.BAD_REQUEST


class Unauthorized(ServiceError):
    default_code = Code.UNAUTHORIZED


class Forbidden(ServiceError):
    default_code = Code.FORBIDDEN


class NotFound(ServiceError):
    default_code = Code.NOT_FOUND


class Conflict(ServiceError):
    """A concurrent writer changed a document first (etag mismatch) or an id already exists."""

    default_code = Code.CONFLICT


class UnsupportedMediaType(ServiceError):
    default_code = Code.UNSUPPORTED_MEDIA_TYPE


class ServerError(ServiceError):
    default_code = Code.ERROR_UNKNOWN


class InvalidImage(BadRequest):
    """An image that cannot be accepted.

    ``create_status`` is the per-image ``ImageCreateStatus`` a batch upload reports for it
    (``ErrorImageFormat``, ``ErrorImageSize``, ``ErrorImageDimensions``, ``ErrorSource``), while
    single-image calls raise it as a 400 with ``code``.
    """

    def __init__(self, message: str, code: Code, create_status: ImageCreateStatus) -> None:
        super().__init__(message, code)
        self.create_status = create_status


def plain_reason(exc: BaseException) -> str:
    """An exception as one line a user may read (an iteration's or an export's failure): its type and the
    first line of its message, but an OS error's reason without the file it names (the server's paths
    are nobody else's business)."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:500] if first else type(exc).__name__
