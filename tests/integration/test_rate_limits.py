"""Per-key request limits on a real ``cvstudio serve``, set low (2 a second, bursts of 2), as a client of
Custom Vision meets them: 429, Custom Vision's flat error body and ``Retry-After``.

Raw HTTP shows the answer and who is counted (the key, under any header casing, API version or the
subscription-key alias; not another key, not the other API). The official SDK shows why ``Retry-After``
matters: msrest's urllib3 policy waits it out and retries GET/PUT/DELETE (up to 3 times), so a burst of
reads succeeds; a POST is not retried by default and raises ``CustomVisionErrorException`` 429, as against
Azure, unless the client lets its retry policy take POSTs too.

The limits hold no stored state, so these run on the embedded default only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.models import (
    CustomVisionErrorException as PredictionError,
)
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.authentication import ApiKeyCredentials
from msrest.pipeline import ClientRawResponse

from tests.sdk.helpers import png_bytes, training_client
from tests.servers import PREDICTION_KEY, TRAINING_KEY, RunningServer, start_server

RATE, BURST = 2, 2
TRAINING = "/customvision/v3.4-preview/training"
PREDICTION = "/customvision/v3.1/prediction"
CODE = "TooManyRequests"
TRAINING_KEY_2 = "test-training-key-2-0123456789"  # Custom Vision's Key2: a key of its own


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    limits = {"RATE_LIMIT": str(RATE), "RATE_BURST": str(BURST)}
    env = {f"CVSTUDIO_{api}_{name}": value for api in ("TRAINING", "PREDICTION") for name, value in limits.items()}
    env["CVSTUDIO_TRAINING_KEY_2"] = TRAINING_KEY_2
    running = start_server(tmp_path_factory.mktemp("rate-limits") / "data", extra_env=env)
    yield running
    running.stop()


def refill() -> None:
    """Wait until every bucket is full again (for the tests that count from a full one)."""
    time.sleep(BURST / RATE)


@pytest.fixture()
def http(limited: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=limited.endpoint, timeout=30) as client:
        yield client


def list_projects(http: httpx.Client, headers: dict[str, str], path: str = f"{TRAINING}/projects") -> httpx.Response:
    return http.get(path, headers=headers)


def predict(http: httpx.Client, headers: dict[str, str]) -> httpx.Response:
    # No such project: past the limit, the Prediction API answers 404 (NotFoundProject).
    path = f"{PREDICTION}/{uuid.uuid4()}/classify/iterations/nothing/image"
    return http.post(path, headers={**headers, "Content-Type": "application/octet-stream"}, content=png_bytes())


def exhaust(send: Callable[[], httpx.Response]) -> httpx.Response:
    """Send until refused (the bucket is then empty for a moment); the refusal."""
    for _ in range(20):
        reply = send()
        if reply.status_code == 429:
            return reply
    raise AssertionError("20 requests in a row were never refused")


def assert_refused(reply: httpx.Response, key: str) -> int:
    assert reply.status_code == 429, reply.text
    assert reply.headers["content-type"] == "application/json"
    seconds = int(reply.headers["retry-after"])
    assert seconds >= 1
    body = reply.json()
    assert set(body) == {"code", "message"} and body["code"] == CODE
    assert f"Please retry after {seconds} second" in body["message"]
    assert key not in body["message"]
    return seconds


# --- raw HTTP -------------------------------------------------------------------------------


def test_a_burst_over_the_limit_is_answered_429_with_retry_after(http: httpx.Client) -> None:
    refill()
    replies = [list_projects(http, {"Training-Key": TRAINING_KEY}) for _ in range(BURST + 4)]
    statuses = [reply.status_code for reply in replies]
    assert statuses[:BURST] == [200] * BURST, statuses
    assert 429 in statuses, statuses
    assert_refused(next(reply for reply in replies if reply.status_code == 429), TRAINING_KEY)


def test_the_caller_is_the_key_under_any_header_casing_version_or_alias(http: httpx.Client) -> None:
    own = {"Training-Key": TRAINING_KEY}
    for headers, path in (
        ({"training-key": TRAINING_KEY}, f"{TRAINING}/projects"),
        ({"Training-Key": TRAINING_KEY}, "/customvision/v3.3/Training/projects"),
        ({"Ocp-Apim-Subscription-Key": TRAINING_KEY}, f"{TRAINING}/projects"),
    ):
        exhaust(lambda: list_projects(http, own))
        assert_refused(list_projects(http, headers, path), TRAINING_KEY)


def test_another_key_the_other_api_and_keyless_requests_are_not_counted(http: httpx.Client) -> None:
    refill()
    exhaust(lambda: list_projects(http, {"Training-Key": TRAINING_KEY}))
    assert list_projects(http, {"Training-Key": TRAINING_KEY_2}).status_code == 200
    assert list_projects(http, {"Training-Key": "someone-elses-key-0123"}).status_code == 401
    assert list_projects(http, {}).status_code == 401  # no key: the key check answers, not the limit
    assert predict(http, {"Prediction-Key": PREDICTION_KEY}).status_code == 404


def test_a_wrong_key_is_limited_too_before_it_is_checked(http: httpx.Client) -> None:
    wrong = {"Prediction-Key": "a-guessed-key-0123456789"}
    statuses = [predict(http, wrong).status_code for _ in range(BURST + 4)]
    assert statuses[:BURST] == [401] * BURST and 429 in statuses, statuses


def test_the_limit_recovers_after_retry_after(http: httpx.Client) -> None:
    for send, key in (
        (lambda: list_projects(http, {"Training-Key": TRAINING_KEY}), TRAINING_KEY),
        (lambda: predict(http, {"Prediction-Key": PREDICTION_KEY}), PREDICTION_KEY),
    ):
        seconds = assert_refused(exhaust(send), key)
        time.sleep(seconds)
        assert send().status_code != 429


def test_a_refused_upload_is_answered_whole_and_the_connection_goes_on(http: httpx.Client) -> None:
    own = {"Training-Key": TRAINING_KEY}
    exhaust(lambda: list_projects(http, own))
    # Refused before its body is read; the server still reads it to the end, so the client gets the 429.
    upload = http.post(
        f"{TRAINING}/projects/{uuid.uuid4()}/images",
        headers={**own, "Content-Type": "application/octet-stream"},
        content=bytes(5 * 1024 * 1024),
    )
    time.sleep(assert_refused(upload, TRAINING_KEY))
    assert list_projects(http, own).status_code == 200


def test_non_api_paths_are_not_limited(http: httpx.Client) -> None:
    assert all(http.get("/healthz").status_code == 200 for _ in range(BURST + 4))


# --- the official SDK ---------------------------------------------------------------------------


def refusals_seen(raw: ClientRawResponse | CustomVisionErrorException | PredictionError) -> list[int]:
    """The statuses urllib3 retried on before this answer (its Retry history)."""
    history = raw.response.raw.retries.history if raw.response.raw.retries else ()
    return [entry.status for entry in history]


def test_the_training_sdk_waits_out_a_burst_of_reads(limited: RunningServer) -> None:
    trainer = training_client(limited.endpoint)
    try:
        started = time.monotonic()
        answers = [trainer.get_projects(raw=True) for _ in range(BURST + 4)]
        elapsed = time.monotonic() - started
    finally:
        trainer.close()
    refused = [status for answer in answers for status in refusals_seen(answer)]
    assert all(answer.response.status_code == 200 for answer in answers)
    assert refused and set(refused) == {429}, "the server refused some of them and the SDK retried"
    assert elapsed >= len(refused) * 1.0 - 0.1, "each retry waited Retry-After (1 s)"


def test_the_training_sdk_raises_429_on_a_post_and_it_passes_after_retry_after(
    limited: RunningServer,
) -> None:
    refill()
    trainer = training_client(limited.endpoint)
    try:
        project = trainer.create_project(f"limits {uuid.uuid4().hex[:8]}")
        with pytest.raises(CustomVisionErrorException) as info:
            for index in range(20):
                trainer.create_tag(project.id, f"tag {index}")
        error = info.value
        assert (error.response.status_code, error.error.code) == (429, CODE)
        assert str(error) == error.error.message and "Please retry after" in str(error)
        time.sleep(int(error.response.headers["Retry-After"]))
        assert trainer.create_tag(project.id, "after the wait").name == "after the wait"
    finally:
        trainer.close()


def prediction_client(endpoint: str) -> CustomVisionPredictionClient:
    return CustomVisionPredictionClient(endpoint, ApiKeyCredentials(in_headers={"Prediction-key": PREDICTION_KEY}))


def test_the_prediction_sdk_sees_429_and_waits_when_its_retry_policy_takes_posts(limited: RunningServer) -> None:
    image, project = png_bytes(), str(uuid.uuid4())

    def codes(predictor: CustomVisionPredictionClient, count: int) -> list[tuple[str, list[int]]]:
        seen = []
        for _ in range(count):
            with pytest.raises(PredictionError) as info:
                predictor.classify_image(project, "nothing", image)
            seen.append((info.value.error.code, refusals_seen(info.value)))
        return seen

    predictor = prediction_client(limited.endpoint)
    try:
        # By default msrest (urllib3) retries no POST: the burst's tail is refused, as on Azure.
        assert CODE in [code for code, _ in codes(predictor, BURST + 4)]
    finally:
        predictor.close()

    predictor = prediction_client(limited.endpoint)
    predictor.config.retry_policy.policy.allowed_methods = None  # every method, POST included
    try:
        seen = codes(predictor, BURST + 4)
    finally:
        predictor.close()
    # Every call got the Prediction API's own answer (there is no such project) ...
    assert all(code.startswith("NotFound") for code, _ in seen), seen
    # ... after the SDK had waited out the 429s it met on the way.
    assert {status for _, refused in seen for status in refused} == {429}, seen
