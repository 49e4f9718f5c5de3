"""What `shared.client.http.ApiClient` does with answers a local cvstudio never gives but Azure does.

The everyday path (the key, Custom Vision's error body, 429 + Retry-After in seconds, an unreachable
endpoint) runs against real servers in tests/integration/test_migrate.py. Here, through an in-process
transport, the rest: a ``Retry-After`` given as an HTTP date, a source that stays throttled (the tries and
each wait are bounded), Azure's gateway error shape and a body that is no JSON at all, and where the key goes.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from shared.client.http import TRAINING_ROOT, ApiClient, ApiError


def client(handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float], **kw: Any) -> ApiClient:
    return ApiClient(
        "https://cv.example/", "the-key", sleep=sleeps.append, transport=httpx.MockTransport(handler), **kw
    )


def test_a_throttled_answer_is_waited_out_for_its_retry_after_seconds_or_date() -> None:
    answers = [
        httpx.Response(429, headers={"Retry-After": "2"}, json={"code": "TooManyRequests", "message": "slow"}),
        httpx.Response(503, headers={"Retry-After": email.utils.formatdate(time.time() + 5, usegmt=True)}),
        httpx.Response(200, json=[{"id": "p"}]),
    ]
    sleeps: list[float] = []
    with client(lambda request: answers.pop(0), sleeps) as api:
        assert api.json("GET", "projects") == [{"id": "p"}]
        assert api.throttled == 2
    assert sleeps[0] == 2.0 and 3.0 <= sleeps[1] <= 5.0


def test_a_source_that_stays_throttled_is_given_up_on_with_bounded_waits() -> None:
    calls: list[int] = []

    def always_busy(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "86400"}, json={"code": "TooManyRequests", "message": "x"})

    sleeps: list[float] = []
    with client(always_busy, sleeps, tries=4, max_wait_s=7.0) as api, pytest.raises(ApiError) as info:
        api.request("GET", "projects")
    assert (info.value.status, info.value.code) == (429, "TooManyRequests")
    assert len(calls) == 4 and sleeps == [7.0, 7.0, 7.0]


@pytest.mark.parametrize(
    ("response", "code", "message"),
    [
        (httpx.Response(404, json={"code": "NotFoundProject", "message": "gone"}), "NotFoundProject", "gone"),
        (
            httpx.Response(401, json={"error": {"code": "401", "message": "Access denied due to invalid key"}}),
            "401",
            "Access denied due to invalid key",
        ),
        (httpx.Response(502, text="<html>Bad Gateway</html>"), "BadGateway", "Bad Gateway from cv.example"),
    ],
)
def test_errors_carry_a_code_and_a_message_whatever_the_body(response: httpx.Response, code: str, message: str) -> None:
    with client(lambda request: response, []) as api, pytest.raises(ApiError) as info:
        api.request("GET", "projects")
    assert (info.value.status, info.value.code, info.value.message) == (response.status_code, code, message)


def test_the_key_goes_to_the_api_and_never_to_an_image_url() -> None:
    seen: list[tuple[str, str | None]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("Training-Key")))
        return httpx.Response(200, content=b"bytes")

    with client(record, []) as api:
        api.request("GET", "projects")
        api.request("GET", "/customvision/v3.3/Training/domains")
        assert api.download("https://blob.example/image.jpg?sig=x") == b"bytes"
        with pytest.raises(ValueError, match="use download"):
            api.request("GET", "https://blob.example/image.jpg?sig=x")
    assert seen == [
        (f"https://cv.example{TRAINING_ROOT}/projects", "the-key"),
        ("https://cv.example/customvision/v3.3/Training/domains", "the-key"),
        ("https://blob.example/image.jpg?sig=x", None),
    ]
