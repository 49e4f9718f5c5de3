"""Fuzzing both APIs from our own OpenAPI document (schemathesis) against a real ``cvstudio serve``.

Every operation of the Training and Prediction APIs that ``/openapi.json`` lists gets generated
requests, valid and invalid (wrong types, missing fields, out-of-range numbers, odd strings), sent
over real HTTP with the test keys. A run fails on any 5xx, on a status the document does not list
for the operation, and on a body that does not match the documented shape (errors included: the
flat ``{"code", "message"}``).

So that the requests get past the 404 of a random project id, the document handed to schemathesis
names one real project, tag and image as the values its path parameters take (negative cases still
send others). Deletes of the project and tag themselves keep random ids, so the rest of the run
keeps its project. No trainings start: the project has one image, which no training accepts.

Bounded by default: a fixed seed (``derandomize``) and ``FUZZ_EXAMPLES`` cases per
operation and mode (default 5: about a minute on two busy cores); ``make fuzz`` runs the long version.
"""

from __future__ import annotations

import copy
import io
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from PIL import Image
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.servers import PREDICTION_KEY, TRAINING_KEY, RunningServer, start_server

API = "/customvision/v3.4-preview/training"
KEYS = {"Training-Key": TRAINING_KEY, "Prediction-Key": PREDICTION_KEY}
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The embedded store: what is fuzzed is the HTTP layer and the services above the stores."""
    running = start_server(tmp_path_factory.mktemp("fuzz") / "data")
    yield running
    running.stop()


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 140, 90)).save(out, format="JPEG")
    return out.getvalue()


def _real_ids(endpoint: str) -> dict[str, str]:
    with httpx.Client(base_url=endpoint, headers=KEYS, timeout=60) as http:
        project = http.post(f"{API}/projects", params={"name": f"fuzz-{uuid.uuid4().hex[:8]}"}).json()
        tag = http.post(f"{API}/projects/{project['id']}/tags", params={"name": "fuzzed"}).json()
        upload = http.post(
            f"{API}/projects/{project['id']}/images",
            params={"tagIds": tag["id"]},
            content=_jpeg(),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert upload.status_code == 200, upload.text
        image_id = upload.json()["images"][0]["image"]["id"]
    return {"projectId": project["id"], "tagId": tag["id"], "imageId": image_id}


def _pinned(document: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """The document with path parameters naming the real project, tag and image (not on their own deletes)."""
    pinned = copy.deepcopy(document)
    for path, operations in pinned["paths"].items():
        for method, operation in operations.items():
            operation.pop("security", None)  # the keys are sent as given; a wrong key's 401 is tested elsewhere
            for parameter in operation.get("parameters", []):
                name = parameter["name"]
                if parameter["in"] != "path" or name not in ids:
                    continue
                deletes_it = method == "delete" and path.rstrip("/").endswith("{" + name + "}")
                if not deletes_it:
                    parameter["schema"] = {"type": "string", "enum": [ids[name]]}
    return pinned


def _can_be_wrong(operation: dict[str, Any]) -> bool:
    """Whether an invalid request exists: a body, a query parameter, or a constrained path parameter
    (a free-text path parameter alone takes every string)."""
    return "requestBody" in operation or any(
        p["in"] == "query" or "enum" in p.get("schema", {}) for p in operation.get("parameters", [])
    )


def test_no_input_reaches_a_5xx_or_an_undocumented_answer(fuzz_server: RunningServer) -> None:
    document = httpx.get(f"{fuzz_server.endpoint}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(_pinned(document, _real_ids(fuzz_server.endpoint)))
    failures: list[str] = []
    operations = 0
    statuses: dict[int, int] = {}
    succeeded: set[str] = set()  # operations that got past validation at least once
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        modes = [GenerationMode.POSITIVE]
        if _can_be_wrong(operation.definition.raw):
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @settings(
                max_examples=EXAMPLES,
                derandomize=True,  # the fixed seed: the same cases on every run
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],  # no shrinking: the report has the case's curl
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def send(case: Any) -> None:
                response = case.call_and_validate(
                    base_url=fuzz_server.endpoint, headers=KEYS, checks=CHECKS, timeout=30
                )
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code < 300:
                    succeeded.add(case.operation.label)

            try:
                send()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, per operation
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:3000]}")
    assert operations >= 50, f"the document lists only {operations} operations"
    print(f"fuzzed {operations} operations: statuses {sorted(statuses.items())}; {len(succeeded)} answered 2xx")
    assert len(succeeded) >= 15, f"only {len(succeeded)} operations got past validation: the pinned ids are not used"
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)


def test_the_document_states_the_real_error_statuses_and_body(fuzz_server: RunningServer) -> None:
    document = httpx.get(f"{fuzz_server.endpoint}/openapi.json", timeout=30).json()
    assert "422" not in str(document) and "HTTPValidationError" not in str(document)
    error = document["components"]["schemas"]["CustomVisionError"]
    assert error["required"] == ["code", "message"]
    error_ref = {"$ref": "#/components/schemas/CustomVisionError"}
    keyed = {"/customvision/v3.4-preview/training": "TrainingKey", "/customvision/v3.1/prediction": "PredictionKey"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert responses["400"]["content"]["application/json"]["schema"] == error_ref, (method, path)
            scheme = next((s for prefix, s in keyed.items() if path.startswith(prefix)), None)
            if scheme:
                assert "401" in responses and "429" in responses and operation["security"] == [{scheme: []}]
            if "{" in path:
                assert "404" in responses, (method, path)
    upload = document["paths"]["/customvision/v3.4-preview/training/projects/{projectId}/images"]["post"]
    assert set(upload["requestBody"]["content"]) == {"multipart/form-data", "application/octet-stream"}
    assert "415" in upload["responses"]
    # and the server answers as documented: a real 400 has the documented body
    reply = httpx.get(
        f"{fuzz_server.endpoint}/customvision/v3.4-preview/training/projects/{uuid.uuid4()}/images",
        params={"skip": "-1"},
        headers=KEYS,
    )
    assert reply.status_code == 400 and set(reply.json()) == {"code", "message"}
