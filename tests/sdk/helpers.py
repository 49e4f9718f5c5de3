"""Small helpers shared by the SDK tests: the client, unique names, error checks, test images."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.authentication import ApiKeyCredentials
from PIL import Image

from tests.servers import TRAINING_KEY

GENERAL_CLASSIFICATION = "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"
GENERAL_COMPACT_CLASSIFICATION = "0732100f-1a38-4e49-a514-c9b44c697ab5"
GENERAL_DETECTION = "da2e3a8a-40a5-4171-82f4-58522f70fbc1"


def training_client(endpoint: str, key: str = TRAINING_KEY) -> CustomVisionTrainingClient:
    """Built exactly as the quickstarts build it."""
    return CustomVisionTrainingClient(endpoint, ApiKeyCredentials(in_headers={"Training-key": key}))


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:10]}"


@contextmanager
def cv_error(code: str, status: int) -> Iterator[pytest.ExceptionInfo[CustomVisionErrorException]]:
    """Expect the SDK to raise ``CustomVisionErrorException`` with this error code and HTTP status."""
    with pytest.raises(CustomVisionErrorException) as info:
        yield info
    error = info.value
    assert error.error is not None
    assert (error.error.code, error.response.status_code) == (code, status), str(error)
    assert error.error.message, "the error should say what went wrong"


def png_bytes(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()
