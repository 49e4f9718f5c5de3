"""Safe defaults against a real ``cvstudio serve`` (and the AsgiFunctionApp): security headers on every response,
image links only on an allowed host or the public base URL, two keys per role that never cross roles, keys
printed only when made (and then once), and error messages without the server's paths or storage keys."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.api.hosts import host_allowed
from shared.domain.errors import plain_reason
from tests.functions.test_function_app import KEY as FUNCTION_KEY
from tests.functions.test_function_app import FunctionsHost, host  # noqa: F401 - the Function App fixture
from tests.servers import PREDICTION_KEY, TRAINING_KEY, RunningServer, start_server

API = "/customvision/v3.4-preview/training"
PREDICTION_API = "/customvision/v3.0/Prediction"
TRAINING_KEY_2 = "test-training-key-2-0123456789"
PREDICTION_KEY_2 = "test-prediction-key-2-0123456789"
ALL_KEYS = (TRAINING_KEY, TRAINING_KEY_2, PREDICTION_KEY, PREDICTION_KEY_2)
APP_ORIGIN = "https://app.example.com"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "custom-vision-samples"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {
        "CVSTUDIO_TRAINING_KEY_2": TRAINING_KEY_2,
        "CVSTUDIO_PREDICTION_KEY_2": PREDICTION_KEY_2,
        "CVSTUDIO_ALLOWED_HOSTS": "cv.internal",
        "CVSTUDIO_CORS_ORIGINS": APP_ORIGIN,
        "CVSTUDIO_PUBLIC_BASE_URL": "",
    }
    running = start_server(tmp_path_factory.mktemp("safe") / "data", extra_env=env)
    yield running
    running.stop()


# No keys in the environment (made and kept in keys.json), links on a public https base URL.
FRESH_ENV = {
    "CVSTUDIO_TRAINING_KEY": "",
    "CVSTUDIO_PREDICTION_KEY": "",
    "CVSTUDIO_PUBLIC_BASE_URL": "https://cv.example.com/",
}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A first start on an empty data dir (the keys test stops it and starts the same data dir again)."""
    running = start_server(tmp_path_factory.mktemp("fresh") / "data", extra_env=FRESH_ENV)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.endpoint, headers={"Training-Key": TRAINING_KEY}, timeout=60) as client:
        yield client


def _image_bytes() -> bytes:
    return next(p for p in sorted(SAMPLES.rglob("*.jpg")) if "Hemlock" in str(p)).read_bytes()


def _upload(http: httpx.Client, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A project with one image; returns the created image (with its three signed links)."""
    project = http.post(f"{API}/projects", params={"name": f"safe-{uuid.uuid4().hex[:8]}"}, headers=headers)
    assert project.status_code == 200, project.text
    reply = http.post(
        f"{API}/projects/{project.json()['id']}/images",
        content=_image_bytes(),
        headers={"Content-Type": "application/octet-stream", **(headers or {})},
    )
    assert reply.status_code == 200, reply.text
    image: dict[str, Any] = reply.json()["images"][0]["image"]
    return image


def _assert_safe_headers(reply: httpx.Response | Any, *, html: bool = False, artifact: bool = False) -> None:
    headers = reply.headers
    where = f"{getattr(reply, 'url', '')} {getattr(reply, 'status_code', '')}"
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("cross-origin-resource-policy") == ("cross-origin" if artifact else "same-origin"), where
    if not html:
        assert headers.get("content-security-policy") == API_CSP, where


# --- security headers -----------------------------------------------------------------------


def test_every_kind_of_response_carries_the_security_headers(server: RunningServer, http: httpx.Client) -> None:
    image = _upload(http)
    bad_link = image["thumbnailUri"].replace("sig=", "sig=0")
    plain = {"Training-Key": ""}
    answers = [
        (http.get("/healthz"), 200),
        (http.get(f"{API}/projects"), 200),
        (http.get(f"{API}/projects", headers=plain), 401),
        (http.get("/no/such/thing"), 404),
        (http.get(f"{API}/projects/{uuid.uuid4()}"), 404),
        (http.post(f"{API}/projects", params={"name": ""}), 400),
        (http.get("/openapi.json"), 200),
    ]
    preflight = http.options(
        f"{API}/projects",
        headers={
            "Origin": APP_ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "training-key",
        },
    )
    answers.append((preflight, 200))
    for reply, status in answers:
        assert reply.status_code == status, (reply.url, reply.text)
        _assert_safe_headers(reply)
        assert "strict-transport-security" not in reply.headers  # plain http: HSTS would mean nothing
    for link, status in ((image["originalImageUri"], 200), (image["thumbnailUri"], 200), (bad_link, 403)):
        reply = http.get(link, headers=plain)
        assert reply.status_code == status, reply.text
        _assert_safe_headers(reply, artifact=True)  # an <img> on the studio's or a web app's origin shows it


def test_the_studio_page_keeps_its_own_policy(http: httpx.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    _assert_safe_headers(page, html=True)
    policy = page.headers["content-security-policy"]
    assert "script-src" in policy and policy != API_CSP and page.headers.get_list("content-security-policy") == [policy]
    docs = http.get("/docs")
    assert docs.status_code == 200
    _assert_safe_headers(docs, html=True)
    assert docs.headers.get("content-security-policy") != API_CSP  # the docs page loads its scripts


def test_the_function_app_answers_with_the_same_headers(host: FunctionsHost) -> None:  # noqa: F811
    for method, path, headers, status in (
        ("GET", "/healthz", {}, 200),
        ("GET", f"{API}/projects", FUNCTION_KEY, 200),
        ("GET", f"{API}/projects", {}, 401),
        ("GET", "/no/such/thing", {}, 404),
    ):
        reply = host.call(method, path, headers=headers)
        assert reply.status_code == status
        _assert_safe_headers(reply)


# --- hosts and links ------------------------------------------------------------------------


def test_a_host_nobody_allowed_is_refused_and_links_use_only_allowed_hosts(
    server: RunningServer, http: httpx.Client
) -> None:
    port = server.endpoint.rsplit(":", 1)[1]
    refused = http.get(f"{API}/projects", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "BadRequest" and "evil.example" in body["message"]
    assert "CVSTUDIO_ALLOWED_HOSTS" in body["message"]
    _assert_safe_headers(refused)
    assert http.get("/healthz", headers={"Host": "evil.example"}).status_code == 200  # probes name what they dial
    for name in (f"cv.internal:{port}", f"localhost:{port}", f"127.0.0.1:{port}"):
        image = _upload(http, headers={"Host": name})
        assert image["originalImageUri"].startswith(f"http://{name}/artifacts/"), image["originalImageUri"]


def test_with_a_public_base_url_links_point_there_whatever_the_host(fresh: RunningServer) -> None:
    kept = json.loads((fresh.data_dir / "keys.json").read_text())
    with httpx.Client(base_url=fresh.endpoint, headers={"Training-Key": kept["training"]}, timeout=60) as http:
        image = _upload(http, headers={"Host": "evil.example"})
        assert image["thumbnailUri"].startswith("https://cv.example.com/artifacts/")
        reply = http.get(f"{API}/projects")
        assert reply.headers.get("strict-transport-security", "").startswith("max-age=")


def test_host_patterns() -> None:
    allowed = ("localhost", "[::1]", "cv.internal:8443", ".example.com")
    for good in ("localhost", "LOCALHOST:8080", "[::1]:80", "cv.internal:8443", "example.com", "a.b.example.com."):
        assert host_allowed(good, allowed), good
    for bad in ("evil.example", "cv.internal", "cv.internal:80", "badexample.com", "localhost:x", "::1", "", "[::1"):
        assert not host_allowed(bad, allowed), bad
    assert host_allowed("anything:1", ("*",))


# --- keys -----------------------------------------------------------------------------------


def test_either_key_of_a_role_works_and_no_key_crosses_roles(http: httpx.Client) -> None:
    for key in (TRAINING_KEY, TRAINING_KEY_2):
        assert http.get(f"{API}/projects", headers={"Training-Key": key}).status_code == 200
    for key in (PREDICTION_KEY, PREDICTION_KEY_2, "", TRAINING_KEY + "x"):
        assert http.get(f"{API}/projects", headers={"Training-Key": key}).status_code == 401, key
    classify = f"{PREDICTION_API}/{uuid.uuid4()}/classify/iterations/none/image"
    for key in (PREDICTION_KEY, PREDICTION_KEY_2):
        reply = http.post(classify, content=_image_bytes(), headers={"Prediction-Key": key, "Training-Key": ""})
        assert reply.status_code == 404, reply.text  # past the key check: the project does not exist
    for key in (TRAINING_KEY, TRAINING_KEY_2):
        reply = http.post(classify, content=_image_bytes(), headers={"Prediction-Key": key, "Training-Key": ""})
        assert reply.status_code == 401


def test_keys_from_the_environment_are_never_printed(server: RunningServer) -> None:
    log = server.log()
    assert "training keys:   from the environment" in log and "prediction keys: from the environment" in log
    assert not [key for key in ALL_KEYS if key in log]


def test_made_keys_are_printed_on_the_start_that_made_them_and_never_again(fresh: RunningServer) -> None:
    data = fresh.data_dir
    fresh.stop()
    kept = json.loads((data / "keys.json").read_text())
    assert len(set(kept.values())) == 4
    assert all(key in fresh.log() for key in kept.values())
    second = start_server(data, extra_env=FRESH_ENV)
    try:
        with httpx.Client(base_url=second.endpoint, timeout=60) as http:
            assert http.get(f"{API}/projects", headers={"Training-Key": kept["training_2"]}).status_code == 200
    finally:
        second.stop()
    assert "keys.json" in second.log() and not [key for key in kept.values() if key in second.log()]
    assert json.loads((data / "keys.json").read_text()) == kept


# --- error messages -------------------------------------------------------------------------


def test_a_missing_stored_file_is_told_without_the_servers_paths_or_storage_keys(
    server: RunningServer, http: httpx.Client
) -> None:
    image = _upload(http)
    files = [path for path in (server.data_dir / "blobs").rglob("*") if path.is_file() and image["id"] in str(path)]
    assert files, "the image's files were not found under the data dir"
    for path in files:
        path.unlink()
    reply = http.get(image["originalImageUri"])
    assert reply.status_code == 404, reply.text
    message = reply.json()["message"]
    relative = str(files[0].relative_to(server.data_dir / "blobs"))
    for leak in (str(server.data_dir), "blobs", relative, relative.rsplit("/", 1)[0], *ALL_KEYS):
        assert leak not in message, message
    assert "missing" in message


def test_a_failure_reason_names_the_os_error_but_not_its_file() -> None:
    reason = plain_reason(FileNotFoundError(2, "No such file or directory", "/srv/cvstudio/data/blobs/p/i/original"))
    assert reason == "FileNotFoundError: No such file or directory"
    assert plain_reason(RuntimeError("out of memory\n  at line 3")) == "RuntimeError: out of memory"
