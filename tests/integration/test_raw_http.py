"""Raw HTTP against a real ``cvstudio serve``: what the official SDK never sends, but curl, browsers,
hand-written clients and Microsoft's REST docs do.

Every request here is built by hand with httpx (multipart bodies byte by byte), so the server sees
exactly the shapes named in the compatibility SPEC (§0, §1.4-§1.6): raw octet-stream bodies, parts
with no filename and no Content-Type, curl's boundary-less multipart header, any API version and
casing, any casing of the key header, and the flat ``{"code", "message"}`` error body everywhere.
"""

from __future__ import annotations

import base64
import io
import re
import struct
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from PIL import Image

from tests.servers import TRAINING_KEY, RunningServer, start_server

T = TypeVar("T")

API = "/customvision/v3.4-preview/training"
KEY = {"Training-Key": TRAINING_KEY}
JSON_TYPE = "application/json"
BOUNDARY = "cvstudioRawHttpBoundary7f3a"

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# YYYY-MM-DDTHH:MM:SS[.fraction]Z, the only datetime shape msrest parses everywhere (SPEC §1.3).
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?Z$")


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.endpoint, headers=KEY, timeout=60) as http:
        yield http


def new_project(http: httpx.Client, **params: str) -> dict[str, Any]:
    reply = http.post(f"{API}/projects", params={"name": f"raw-{uuid.uuid4().hex[:8]}", **params})
    assert reply.status_code == 200, reply.text
    project: dict[str, Any] = reply.json()
    return project


def new_tag(http: httpx.Client, project_id: str, name: str, **params: str) -> dict[str, Any]:
    reply = http.post(f"{API}/projects/{project_id}/tags", params={"name": name, **params})
    assert reply.status_code == 200, reply.text
    tag: dict[str, Any] = reply.json()
    return tag


def image_count(http: httpx.Client, project_id: str) -> int:
    reply = http.get(f"{API}/projects/{project_id}/images/count")
    assert reply.status_code == 200, reply.text
    count = reply.json()
    assert isinstance(count, int)
    return count


def all_images(http: httpx.Client, project_id: str) -> list[dict[str, Any]]:
    reply = http.get(f"{API}/projects/{project_id}/images", params={"take": 256, "orderBy": "Oldest"})
    assert reply.status_code == 200, reply.text
    images: list[dict[str, Any]] = reply.json()
    return images


def fetch_bytes(http: httpx.Client, uri: str) -> bytes:
    """The bytes behind a signed image URI, fetched without the key header (as a browser would)."""
    reply = httpx.get(uri, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.content


def png(size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def jpeg(size: tuple[int, int] = (96, 64), color: tuple[int, int, int] = (10, 120, 250)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=90)
    return out.getvalue()


def distinct_pngs(count: int) -> list[bytes]:
    """``count`` small PNGs whose bytes all differ (the server dedupes identical bytes)."""
    return [png((32, 32), (i % 256, (i * 7) % 256, (i * 13) % 256)) for i in range(count)]


def multipart(parts: list[tuple[list[str], bytes]], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body built by hand: each part is (header lines, raw bytes)."""
    body = bytearray()
    for headers, data in parts:
        body += f"--{boundary}\r\n".encode()
        for line in headers:
            body += line.encode() + b"\r\n"
        body += b"\r\n" + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body)


def form_type(boundary: str = BOUNDARY) -> dict[str, str]:
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def assert_error(reply: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """A flat Custom Vision error: the status, JSON, exactly ``code`` and ``message``."""
    assert reply.status_code == status, f"{reply.status_code} {reply.text}"
    assert reply.headers.get("content-type", "").startswith(JSON_TYPE), reply.headers
    body: dict[str, Any] = reply.json()
    assert set(body) == {"code", "message"}, body
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_json(reply: httpx.Response, status: int = 200) -> Any:
    assert reply.status_code == status, f"{reply.status_code} {reply.text}"
    assert reply.headers.get("content-type", "").startswith(JSON_TYPE), reply.headers
    return reply.json()


def all_at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(0..count-1)`` on ``count`` threads that all start at the same moment."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        barrier.wait(timeout=30)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


# --- request body shapes --------------------------------------------------------------------


def test_raw_octet_stream_upload_stores_the_image(client: httpx.Client) -> None:
    project = new_project(client)
    data = jpeg((120, 80))

    reply = client.post(
        f"{API}/projects/{project['id']}/images",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
    )

    body = assert_json(reply, 200)
    assert body["isBatchSuccessful"] is True
    [result] = body["images"]
    assert result["status"] == "OK"
    assert result["sourceUrl"] is None
    assert (result["image"]["width"], result["image"]["height"]) == (120, 80)
    assert image_count(client, project["id"]) == 1
    assert fetch_bytes(client, result["image"]["originalImageUri"]) == data


def test_multipart_part_without_filename_or_content_type_arrives_byte_identical(
    client: httpx.Client, hemlock_images: list[Path]
) -> None:
    """The classification quickstart's shape: only ``Content-Disposition: form-data; name="imageData"``."""
    project = new_project(client)
    data = hemlock_images[0].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # a form parser that decodes this part as text would corrupt it
    body = multipart([(['Content-Disposition: form-data; name="imageData"'], data)])

    reply = client.post(f"{API}/projects/{project['id']}/images", content=body, headers=form_type())

    summary = assert_json(reply, 200)
    [result] = summary["images"]
    assert result["status"] == "OK"
    assert result["sourceUrl"] is None
    original = fetch_bytes(client, result["image"]["originalImageUri"])
    assert len(original) == len(data)
    assert original == data
    with Image.open(io.BytesIO(data)) as sent:
        assert (result["image"]["width"], result["image"]["height"]) == sent.size


def test_multipart_three_parts_with_different_field_names_are_three_images(client: httpx.Client) -> None:
    project = new_project(client)
    images = [png((40, 30), (1, 2, 3)), jpeg((50, 40), (4, 5, 6)), png((60, 50), (7, 8, 9))]
    body = multipart(
        [
            (['Content-Disposition: form-data; name="imageData"'], images[0]),
            (
                ['Content-Disposition: form-data; name="file"; filename="b.jpg"', "Content-Type: image/jpeg"],
                images[1],
            ),
            (
                ['Content-Disposition: form-data; name="photo"', "Content-Type: application/octet-stream"],
                images[2],
            ),
        ]
    )

    reply = client.post(f"{API}/projects/{project['id']}/images", content=body, headers=form_type())

    summary = assert_json(reply, 200)
    assert summary["isBatchSuccessful"] is True
    assert [r["status"] for r in summary["images"]] == ["OK", "OK", "OK"]
    assert image_count(client, project["id"]) == 3
    stored = sorted(fetch_bytes(client, r["image"]["originalImageUri"]) for r in summary["images"])
    assert stored == sorted(images)


def test_multipart_with_64_parts_is_accepted(client: httpx.Client) -> None:
    project = new_project(client)
    images = distinct_pngs(64)
    body = multipart([([f'Content-Disposition: form-data; name="imageData{i}"'], d) for i, d in enumerate(images)])

    reply = client.post(f"{API}/projects/{project['id']}/images", content=body, headers=form_type())

    summary = assert_json(reply, 200)
    assert len(summary["images"]) == 64
    assert image_count(client, project["id"]) == 64


def test_multipart_with_65_parts_is_refused_whole(client: httpx.Client) -> None:
    project = new_project(client)
    body = multipart([(['Content-Disposition: form-data; name="imageData"'], d) for d in distinct_pngs(65)])

    reply = client.post(f"{API}/projects/{project['id']}/images", content=body, headers=form_type())

    assert_error(reply, 400, "BadRequestExceededBatchSize")
    assert image_count(client, project["id"]) == 0


def test_curl_multipart_header_without_boundary_is_a_raw_image(client: httpx.Client) -> None:
    """``curl --data-binary @img.jpg -H "Content-Type: multipart/form-data"`` (the cURL quickstart)."""
    project = new_project(client)
    data = jpeg((70, 70), (90, 90, 10))

    reply = client.post(
        f"{API}/projects/{project['id']}/images",
        content=data,
        headers={"Content-Type": "multipart/form-data"},
    )

    summary = assert_json(reply, 200)
    [result] = summary["images"]
    assert result["status"] == "OK"
    assert fetch_bytes(client, result["image"]["originalImageUri"]) == data


@pytest.mark.parametrize(
    "content_type",
    [
        f'multipart/form-data; boundary="{BOUNDARY}"',
        f"Multipart/Form-Data; Boundary={BOUNDARY}",
        f"multipart/form-data;boundary={BOUNDARY};charset=utf-8",
    ],
    ids=["quoted", "capitalised", "extra-param"],
)
def test_multipart_content_type_spellings(client: httpx.Client, content_type: str) -> None:
    project = new_project(client)
    data = jpeg((40, 44), (200, 200, 1))
    body = multipart([(['Content-Disposition: form-data; name="imageData"'], data)])
    reply = client.post(f"{API}/projects/{project['id']}/images", content=body, headers={"Content-Type": content_type})
    [result] = assert_json(reply)["images"]
    assert result["status"] == "OK"
    assert fetch_bytes(client, result["image"]["originalImageUri"]) == data


@pytest.mark.parametrize("shape", ["raw", "multipart"])
def test_chunked_upload_without_content_length(client: httpx.Client, shape: str) -> None:
    """A streamed request body (Transfer-Encoding: chunked), in small uneven pieces."""
    project = new_project(client)
    data = jpeg((300, 200), (5, 50, 150))
    body = data if shape == "raw" else multipart([(['Content-Disposition: form-data; name="imageData"'], data)])
    headers = {"Content-Type": "application/octet-stream"} if shape == "raw" else form_type()

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(body), 997):
            yield body[start : start + 997]

    reply = client.post(f"{API}/projects/{project['id']}/images", content=pieces(), headers=headers)

    assert reply.request.headers.get("transfer-encoding") == "chunked"
    [result] = assert_json(reply)["images"]
    assert result["status"] == "OK"
    assert fetch_bytes(client, result["image"]["originalImageUri"]) == data


@pytest.mark.parametrize(
    "content_type,body,code",
    [
        ("application/octet-stream", b"", "BadRequestImageBatch"),
        (f"multipart/form-data; boundary={BOUNDARY}", f"--{BOUNDARY}--\r\n".encode(), "BadRequestImageBatch"),
        (
            f"multipart/form-data; boundary={BOUNDARY}",
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="imageData"\r\n\r\n'.encode() + b"\x89PNG\r\n",
            "BadRequestImageStream",
        ),
    ],
    ids=["empty-raw", "no-parts", "truncated"],
)
def test_upload_without_a_complete_image_is_a_json_400(
    client: httpx.Client, content_type: str, body: bytes, code: str
) -> None:
    project = new_project(client)
    reply = client.post(f"{API}/projects/{project['id']}/images", content=body, headers={"Content-Type": content_type})
    assert_error(reply, 400, code)
    assert image_count(client, project["id"]) == 0


def test_raw_image_over_6_mb_is_207_error_image_size(client: httpx.Client) -> None:
    project = new_project(client)
    body = jpeg() + b"\0" * (6 * 1024 * 1024)
    reply = client.post(
        f"{API}/projects/{project['id']}/images",
        content=body,
        headers={"Content-Type": "application/octet-stream"},
    )
    summary = assert_json(reply, 207)
    assert [r["status"] for r in summary["images"]] == ["ErrorImageSize"]
    assert image_count(client, project["id"]) == 0


# --- paths and versions ---------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v3.0", "v3.1", "v3.2", "v3.3", "v3.4-preview"])
@pytest.mark.parametrize("segment", ["training", "Training", "TRAINING"])
def test_every_training_version_and_casing_is_routed(client: httpx.Client, version: str, segment: str) -> None:
    prefix = f"/customvision/{version}/{segment}"
    created = assert_json(client.post(f"{prefix}/projects", params={"name": f"v-{uuid.uuid4().hex[:8]}"}))
    listed = assert_json(client.get(f"{prefix}/projects"))
    assert created["id"] in [p["id"] for p in listed]
    assert assert_json(client.get(f"{prefix}/projects/{created['id']}"))["id"] == created["id"]
    domains = assert_json(client.get(f"{prefix}/domains"))
    assert isinstance(domains, list) and domains


def test_rest_docs_capitalised_path_creates_and_lists(client: httpx.Client) -> None:
    """Microsoft's REST/cURL docs: ``/customvision/v3.3/Training/projects``."""
    name = f"docs-{uuid.uuid4().hex[:8]}"
    created = assert_json(client.post("/customvision/v3.3/Training/projects", params={"name": name}))
    assert created["name"] == name
    listed = assert_json(client.get("/customvision/v3.3/Training/projects"))
    assert name in [p["name"] for p in listed]


@pytest.mark.parametrize("version", ["v2.0", "v9.9", "v3.5", "latest"])
def test_unknown_version_is_a_json_404(client: httpx.Client, version: str) -> None:
    assert_error(client.get(f"/customvision/{version}/training/projects"), 404)
    assert_error(client.get(f"/customvision/{version}/Training/domains"), 404)


# --- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["training-key", "Training-Key", "Training-key", "TRAINING-KEY", "Ocp-Apim-Subscription-Key"]
)
def test_key_header_name_is_case_insensitive_and_apim_alias_works(server: RunningServer, header: str) -> None:
    with httpx.Client(base_url=server.endpoint, timeout=30) as http:
        reply = http.get(f"{API}/projects", headers={header: TRAINING_KEY})
    assert isinstance(assert_json(reply, 200), list)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Training-Key": "wrong-key-0123456789"},
        {"Training-Key": ""},
        {"Training-Key": TRAINING_KEY[:-1]},
        {"Ocp-Apim-Subscription-Key": "wrong-key-0123456789"},
        {"Prediction-Key": TRAINING_KEY},
    ],
    ids=["missing", "wrong", "empty", "prefix", "wrong-apim", "other-header"],
)
@pytest.mark.parametrize("method,path", [("GET", "/projects"), ("POST", "/projects?name=x"), ("GET", "/domains")])
def test_wrong_or_missing_key_is_a_json_401(
    server: RunningServer, headers: dict[str, str], method: str, path: str
) -> None:
    with httpx.Client(base_url=server.endpoint, timeout=30) as http:
        reply = http.request(method, f"{API}{path}", headers=headers)
    assert_error(reply, 401, "Unauthorized")


def test_wrong_key_creates_nothing(server: RunningServer, client: httpx.Client) -> None:
    name = f"nokey-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=server.endpoint, timeout=30) as http:
        assert_error(http.post(f"{API}/projects", params={"name": name}), 401, "Unauthorized")
    assert name not in [p["name"] for p in assert_json(client.get(f"{API}/projects"))]


# --- reply shapes and status codes ----------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", f"{API}/no-such-route"),
        ("GET", f"{API}/projects/{{pid}}/no-such-thing"),
        ("GET", "/no/such/path"),
        ("GET", "/customvision"),
        ("POST", f"{API}/projects/{{pid}}/images/nope"),
    ],
)
def test_unknown_route_is_a_json_404(client: httpx.Client, method: str, path: str) -> None:
    project = new_project(client)
    assert_error(client.request(method, path.format(pid=project["id"])), 404)


@pytest.mark.parametrize(
    "method,path",
    [
        ("PUT", f"{API}/projects"),
        ("DELETE", f"{API}/domains"),
        ("PUT", f"{API}/projects/{{pid}}/tags"),
        ("PATCH", f"{API}/projects/{{pid}}/images/count"),
    ],
)
def test_wrong_method_is_a_json_405(client: httpx.Client, method: str, path: str) -> None:
    project = new_project(client)
    assert_error(client.request(method, path.format(pid=project["id"])), 405)


@pytest.mark.parametrize(
    "path,params",
    [
        ("/images", {"take": "abc"}),
        ("/images", {"take": "999"}),
        ("/images", {"take": "-1"}),
        ("/images", {"skip": "-5"}),
        ("/images", {"skip": "lots"}),
        ("/images/tagged", {"take": "257"}),
        ("/images", {"orderBy": "Sideways"}),
        ("/images", {"taggingStatus": "Maybe"}),
        ("/images", {"$filter": "this is not odata"}),
        ("/images", {"tagIds": "not-a-guid"}),
    ],
)
def test_bad_query_parameters_are_json_400(client: httpx.Client, path: str, params: dict[str, str]) -> None:
    project = new_project(client)
    assert_error(client.get(f"{API}/projects/{project['id']}{path}", params=params), 400)


def test_unknown_project_is_a_json_404(client: httpx.Client) -> None:
    missing = str(uuid.uuid4())
    assert_error(client.get(f"{API}/projects/{missing}"), 404, "NotFoundProject")
    assert_error(client.get(f"{API}/projects/{missing}/tags"), 404)
    reply = client.post(f"{API}/projects/{missing}/images", content=png(), headers={"Content-Type": "image/png"})
    assert_error(reply, 404)


def test_creates_answer_200_and_deletes_204_with_an_empty_body(client: httpx.Client) -> None:
    project_reply = client.post(f"{API}/projects", params={"name": f"codes-{uuid.uuid4().hex[:8]}"})
    project = assert_json(project_reply, 200)
    tag = assert_json(client.post(f"{API}/projects/{project['id']}/tags", params={"name": "t"}), 200)
    upload = client.post(
        f"{API}/projects/{project['id']}/images/files",
        json={
            "images": [{"name": "a.png", "contents": base64.b64encode(png()).decode()}],
            "tagIds": [tag["id"]],
        },
    )
    image = assert_json(upload, 200)["images"][0]["image"]
    other = assert_json(client.post(f"{API}/projects/{project['id']}/tags", params={"name": "u"}), 200)
    tagged = client.post(
        f"{API}/projects/{project['id']}/images/tags",
        json={"tags": [{"imageId": image["id"], "tagId": other["id"]}]},
    )
    assert_json(tagged, 200)

    for reply in (
        client.delete(
            f"{API}/projects/{project['id']}/images/tags",
            params={"imageIds": image["id"], "tagIds": other["id"]},
        ),
        client.delete(f"{API}/projects/{project['id']}/tags/{other['id']}"),
        client.delete(f"{API}/projects/{project['id']}/images", params={"imageIds": image["id"]}),
        client.delete(f"{API}/projects/{project['id']}"),
    ):
        assert reply.status_code == 204, f"{reply.request.url}: {reply.status_code} {reply.text}"
        assert reply.content == b""
    assert_error(client.get(f"{API}/projects/{project['id']}"), 404, "NotFoundProject")


@pytest.mark.parametrize("route", ["/images/count", "/images/untagged/count", "/images/tagged/count"])
def test_count_routes_answer_a_bare_integer(client: httpx.Client, route: str) -> None:
    project = new_project(client)
    tag = new_tag(client, project["id"], "counted")
    images = distinct_pngs(3)
    upload = client.post(
        f"{API}/projects/{project['id']}/images/files",
        json={
            "images": [{"contents": base64.b64encode(d).decode()} for d in images],
            "tagIds": [tag["id"]] if route == "/images/tagged/count" else None,
        },
    )
    assert_json(upload, 200)

    reply = client.get(f"{API}/projects/{project['id']}{route}")

    assert assert_json(reply, 200) == 3
    assert reply.content.strip() == b"3"


def test_wire_formats_times_ids_and_empty_descriptions(client: httpx.Client) -> None:
    project = new_project(client)
    detection = new_project(client, domainId="da2e3a8a-40a5-4171-82f4-58522f70fbc1")
    tag = new_tag(client, project["id"], "plain")
    box_tag = new_tag(client, detection["id"], "box")
    for entity in (project, detection):
        assert GUID.match(entity["id"]), entity["id"]
        assert entity["description"] == ""
        assert TIMESTAMP.match(entity["created"]), entity["created"]
        assert TIMESTAMP.match(entity["lastModified"]), entity["lastModified"]
        assert entity["settings"] is not None
    for entity in (tag, box_tag):
        assert GUID.match(entity["id"]), entity["id"]
        assert entity["description"] == ""
        assert entity["type"] == "Regular"
    fetched_tag = assert_json(client.get(f"{API}/projects/{project['id']}/tags/{tag['id']}"))
    assert fetched_tag["description"] == ""
    assert assert_json(client.get(f"{API}/projects/{project['id']}"))["description"] == ""

    classified = client.post(
        f"{API}/projects/{project['id']}/images/files",
        json={"images": [{"contents": base64.b64encode(png()).decode(), "tagIds": [tag["id"]]}]},
    )
    boxed = client.post(
        f"{API}/projects/{detection['id']}/images/files",
        json={
            "images": [
                {
                    "contents": base64.b64encode(jpeg()).decode(),
                    "regions": [{"tagId": box_tag["id"], "left": 0.1, "top": 0.2, "width": 0.3, "height": 0.4}],
                }
            ]
        },
    )
    image = assert_json(classified)["images"][0]["image"]
    boxed_image = assert_json(boxed)["images"][0]["image"]
    for img in (image, boxed_image):
        assert GUID.match(img["id"]), img["id"]
        assert TIMESTAMP.match(img["created"]), img["created"]
    [image_tag] = image["tags"]
    assert image_tag["tagId"] == tag["id"]
    assert TIMESTAMP.match(image_tag["created"]), image_tag["created"]
    [region] = boxed_image["regions"]
    assert GUID.match(region["regionId"]), region["regionId"]
    assert region["tagId"] == box_tag["id"]
    assert TIMESTAMP.match(region["created"]), region["created"]
    listed = assert_json(client.get(f"{API}/projects/{project['id']}/images"))
    assert [i["id"] for i in listed] == [image["id"]]
    assert TIMESTAMP.match(listed[0]["created"])


def test_upload_with_text_plain_is_a_json_415(client: httpx.Client) -> None:
    project = new_project(client)
    reply = client.post(
        f"{API}/projects/{project['id']}/images", content=b"hello", headers={"Content-Type": "text/plain"}
    )
    assert_error(reply, 415, "UnsupportedMediaType")
    assert image_count(client, project["id"]) == 0


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"images": [', b"\xff\xfe\x00garbage", b'{"images": "nope"}', b"[]"],
    ids=["broken", "truncated", "binary", "wrong-type", "array"],
)
def test_malformed_json_on_images_files_is_a_json_400(client: httpx.Client, body: bytes) -> None:
    project = new_project(client)
    reply = client.post(
        f"{API}/projects/{project['id']}/images/files",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert_error(reply, 400)


def test_base64_garbage_in_contents_is_207_error_image_format(client: httpx.Client) -> None:
    project = new_project(client)
    good = base64.b64encode(png((33, 33))).decode()
    reply = client.post(
        f"{API}/projects/{project['id']}/images/files",
        json={
            "images": [
                {"name": "bad.png", "contents": "!!!not base64@@@"},
                {"name": "ok.png", "contents": good},
            ]
        },
    )

    summary = assert_json(reply, 207)
    assert summary["isBatchSuccessful"] is False
    statuses = [r["status"] for r in summary["images"]]
    assert statuses == ["ErrorImageFormat", "OK"]
    assert summary["images"][0]["image"] is None
    assert image_count(client, project["id"]) == 1


def test_valid_base64_that_is_not_an_image_is_207_error_image_format(client: httpx.Client) -> None:
    project = new_project(client)
    reply = client.post(
        f"{API}/projects/{project['id']}/images/files",
        json={"images": [{"contents": base64.b64encode(b"just some text, not pixels").decode()}]},
    )
    summary = assert_json(reply, 207)
    assert [r["status"] for r in summary["images"]] == ["ErrorImageFormat"]


# --- hostile images -------------------------------------------------------------------------


def png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR is patched to claim ``width`` x ``height``, with a valid CRC."""
    data = bytearray(png((1, 1), (0, 0, 0)))
    assert data[12:16] == b"IHDR"
    ihdr = bytearray(data[12:29])  # type + 13 bytes of data
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return bytes(data)


def test_decompression_bomb_png_is_refused_quickly_and_server_stays_healthy(
    server: RunningServer, client: httpx.Client
) -> None:
    project = new_project(client)
    bomb = png_claiming(50_000, 50_000)
    assert len(bomb) < 200

    started = time.monotonic()
    reply = client.post(
        f"{API}/projects/{project['id']}/images",
        content=bomb,
        headers={"Content-Type": "application/octet-stream"},
    )
    elapsed = time.monotonic() - started

    summary = assert_json(reply, 207)
    assert summary["isBatchSuccessful"] is False
    assert [r["status"] for r in summary["images"]] == ["ErrorImageDimensions"]
    assert elapsed < 5, f"the bomb took {elapsed:.1f} s to refuse"
    assert httpx.get(f"{server.endpoint}/healthz", timeout=10).status_code == 200
    assert image_count(client, project["id"]) == 0
    # and the server still takes real work
    ok = client.post(f"{API}/projects/{project['id']}/images", content=png(), headers={"Content-Type": "image/png"})
    assert assert_json(ok)["images"][0]["status"] == "OK"


def test_decompression_bomb_in_a_multipart_batch_fails_only_itself(client: httpx.Client) -> None:
    project = new_project(client)
    body = multipart(
        [
            (['Content-Disposition: form-data; name="imageData"'], png_claiming(50_000, 50_000)),
            (['Content-Disposition: form-data; name="imageData"'], png((20, 20))),
        ]
    )
    reply = client.post(f"{API}/projects/{project['id']}/images", content=body, headers=form_type())
    summary = assert_json(reply, 207)
    assert [r["status"] for r in summary["images"]] == ["ErrorImageDimensions", "OK"]


@pytest.mark.parametrize("size", [(300, 10), (10, 300)], ids=["wide", "tall"])
def test_aspect_ratio_over_25_to_1_is_error_image_dimensions(client: httpx.Client, size: tuple[int, int]) -> None:
    project = new_project(client)
    reply = client.post(
        f"{API}/projects/{project['id']}/images", content=png(size), headers={"Content-Type": "image/png"}
    )
    summary = assert_json(reply, 207)
    assert [r["status"] for r in summary["images"]] == ["ErrorImageDimensions"]
    assert image_count(client, project["id"]) == 0


def test_aspect_ratio_of_exactly_25_to_1_is_accepted(client: httpx.Client) -> None:
    project = new_project(client)
    reply = client.post(
        f"{API}/projects/{project['id']}/images",
        content=png((250, 10)),
        headers={"Content-Type": "image/png"},
    )
    assert assert_json(reply, 200)["images"][0]["status"] == "OK"


# --- persistence across restarts ------------------------------------------------------------


def _snapshot(http: httpx.Client) -> dict[str, Any]:
    """Everything the API says about every project, with each image's original bytes."""
    state: dict[str, Any] = {}
    for project in assert_json(http.get(f"{API}/projects")):
        pid = project["id"]
        tags = sorted(assert_json(http.get(f"{API}/projects/{pid}/tags")), key=lambda t: t["id"])
        images = []
        for image in all_images(http, pid):
            images.append(
                {
                    "id": image["id"],
                    "created": image["created"],
                    "width": image["width"],
                    "height": image["height"],
                    "tags": sorted(image["tags"] or [], key=lambda t: t["tagId"]),
                    "regions": sorted(image["regions"] or [], key=lambda r: r["regionId"]),
                    "metadata": image["metadata"],
                    "bytes": fetch_bytes(http, image["originalImageUri"]),
                }
            )
        state[pid] = {
            "project": project,
            "tags": tags,
            "images": sorted(images, key=lambda i: i["id"]),
            "count": image_count(http, pid),
            "tagged": assert_json(http.get(f"{API}/projects/{pid}/images/tagged/count")),
            "untagged": assert_json(http.get(f"{API}/projects/{pid}/images/untagged/count")),
        }
    return state


def _populate(
    http: httpx.Client, hemlock: list[Path], regions: dict[str, dict[str, float | str]], detection_dir: Path
) -> dict[str, bytes]:
    """Two projects with tags, images, regions and metadata; returns every uploaded image by id."""
    uploaded: dict[str, bytes] = {}
    classifier = new_project(http, description="the classifier")
    hemlock_tag = new_tag(http, classifier["id"], "Hemlock", description="a conifer")
    spare_tag = new_tag(http, classifier["id"], "Spare")
    new_tag(http, classifier["id"], "Nothing", type="Negative")
    for path in hemlock[:3]:
        data = path.read_bytes()
        reply = http.post(
            f"{API}/projects/{classifier['id']}/images",
            params={"tagIds": hemlock_tag["id"]},
            content=multipart([(['Content-Disposition: form-data; name="imageData"'], data)]),
            headers=form_type(),
        )
        image = assert_json(reply)["images"][0]["image"]
        uploaded[image["id"]] = data
    files = distinct_pngs(2)
    reply = http.post(
        f"{API}/projects/{classifier['id']}/images/files",
        json={
            "images": [{"name": f"f{i}.png", "contents": base64.b64encode(d).decode()} for i, d in enumerate(files)],
            "tagIds": [spare_tag["id"]],
            "metadata": {"shelf": "3", "colour": "mixed"},
        },
    )
    for result, data in zip(assert_json(reply)["images"], files, strict=True):
        uploaded[result["image"]["id"]] = data
    untagged = jpeg((77, 55), (3, 3, 3))
    reply = http.post(
        f"{API}/projects/{classifier['id']}/images", content=untagged, headers={"Content-Type": "image/jpeg"}
    )
    untagged_id = assert_json(reply)["images"][0]["image"]["id"]
    uploaded[untagged_id] = untagged
    meta = http.post(
        f"{API}/projects/{classifier['id']}/images/metadata",
        params={"imageIds": untagged_id},
        json={"source": "camera-7"},
    )
    assert assert_json(meta)["isBatchSuccessful"] is True

    detector = new_project(http, domainId="da2e3a8a-40a5-4171-82f4-58522f70fbc1", description="boxes")
    fork = new_tag(http, detector["id"], "fork")
    scissors = new_tag(http, detector["id"], "scissors")
    names = [
        min(n for n in regions if regions[n]["tag"] == "fork"),
        min(n for n in regions if regions[n]["tag"] == "scissors"),
    ]
    entries = []
    datas = []
    for name in names:
        box = regions[name]
        tag = fork if box["tag"] == "fork" else scissors
        data = (detection_dir / name).read_bytes()
        datas.append(data)
        entries.append(
            {
                "name": Path(name).name,
                "contents": base64.b64encode(data).decode(),
                "regions": [
                    {
                        "tagId": tag["id"],
                        "left": box["left"],
                        "top": box["top"],
                        "width": box["width"],
                        "height": box["height"],
                    }
                ],
            }
        )
    reply = http.post(
        f"{API}/projects/{detector['id']}/images/files", json={"images": entries, "metadata": {"set": "od"}}
    )
    results = assert_json(reply)["images"]
    for result, data in zip(results, datas, strict=True):
        assert result["status"] == "OK", result
        uploaded[result["image"]["id"]] = data
    # a second region added afterwards, and a tag attached to a classifier image later on
    added = http.post(
        f"{API}/projects/{detector['id']}/images/regions",
        json={
            "regions": [
                {
                    "imageId": results[0]["image"]["id"],
                    "tagId": scissors["id"],
                    "left": 0.05,
                    "top": 0.05,
                    "width": 0.1,
                    "height": 0.1,
                }
            ]
        },
    )
    assert assert_json(added)["created"]
    retag = http.post(
        f"{API}/projects/{classifier['id']}/images/tags",
        json={"tags": [{"imageId": next(iter(uploaded)), "tagId": spare_tag["id"]}]},
    )
    assert assert_json(retag)["created"]
    return uploaded


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_everything_survives_a_restart(
    tmp_path: Path,
    hard: bool,
    hemlock_images: list[Path],
    detection_regions: dict[str, dict[str, float | str]],
    detection_images_dir: Path,
) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    try:
        with httpx.Client(base_url=first.endpoint, headers=KEY, timeout=60) as http:
            uploaded = _populate(http, hemlock_images, detection_regions, detection_images_dir)
            before = _snapshot(http)
            # the last acknowledged write, then the process goes at once
            last = new_project(http, description="written last")
    finally:
        first.stop(hard=hard)
    assert first.process.returncode is not None

    second = start_server(data_dir)
    try:
        with httpx.Client(base_url=second.endpoint, headers=KEY, timeout=60) as http:
            after = _snapshot(http)
    finally:
        second.stop()

    assert last["id"] in after
    assert after[last["id"]]["project"] == last | {"lastModified": after[last["id"]]["project"]["lastModified"]}
    del after[last["id"]]
    assert set(after) == set(before)
    for pid, state in before.items():
        assert after[pid] == state, f"project {pid} changed across the restart"
    stored = {i["id"]: i["bytes"] for s in after.values() for i in s["images"]}
    assert stored == uploaded
    counts = {s["project"]["name"]: s["count"] for s in after.values()}
    assert sorted(counts.values()) == [2, 6]
    tag_counts = {t["name"]: t["imageCount"] for s in after.values() for t in s["tags"]}
    assert tag_counts["Hemlock"] == 3
    assert tag_counts["Spare"] == 3
    assert tag_counts["Nothing"] == 0
    metadata = [i["metadata"] for s in after.values() for i in s["images"] if i["metadata"]]
    assert {"source": "camera-7"} in metadata
    assert metadata.count({"shelf": "3", "colour": "mixed"}) == 2
    assert metadata.count({"set": "od"}) == 2
    assert sum(len(i["regions"]) for s in after.values() for i in s["images"]) == 3


# --- concurrency ----------------------------------------------------------------------------


def test_same_bytes_uploaded_by_8_threads_at_once_is_stored_once(server: RunningServer, client: httpx.Client) -> None:
    project = new_project(client)
    data = jpeg((128, 96), (11, 22, 33))

    def upload(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.endpoint, headers=KEY, timeout=60) as http:
            return http.post(
                f"{API}/projects/{project['id']}/images",
                content=multipart([(['Content-Disposition: form-data; name="imageData"'], data)]),
                headers=form_type(),
            )

    replies = all_at_once(8, upload)

    statuses = []
    ids = set()
    for reply in replies:
        summary = assert_json(reply, 200)
        [result] = summary["images"]
        statuses.append(result["status"])
        ids.add(result["image"]["id"])
    assert sorted(statuses) == ["OK"] + ["OKDuplicate"] * 7
    assert len(ids) == 1
    assert image_count(client, project["id"]) == 1
    [image] = all_images(client, project["id"])
    assert fetch_bytes(client, image["originalImageUri"]) == data


def test_same_tag_name_created_by_8_threads_at_once_succeeds_once(server: RunningServer, client: httpx.Client) -> None:
    project = new_project(client)

    def create(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.endpoint, headers=KEY, timeout=60) as http:
            return http.post(f"{API}/projects/{project['id']}/tags", params={"name": "Racing"})

    replies = all_at_once(8, create)

    assert sorted(r.status_code for r in replies) == [200] + [400] * 7, [r.text for r in replies]
    for reply in replies:
        if reply.status_code == 400:
            assert_error(reply, 400, "BadRequestTagNameNotUnique")
    tags = assert_json(client.get(f"{API}/projects/{project['id']}/tags"))
    assert [t["name"] for t in tags] == ["Racing"]


def test_8_threads_tagging_one_image_lose_no_update(server: RunningServer, client: httpx.Client) -> None:
    project = new_project(client, classificationType="Multilabel")
    tags = [new_tag(client, project["id"], f"tag-{i}") for i in range(8)]
    rounds = 3
    image_ids = []
    for data in distinct_pngs(rounds):
        reply = client.post(
            f"{API}/projects/{project['id']}/images", content=data, headers={"Content-Type": "image/png"}
        )
        image_ids.append(assert_json(reply)["images"][0]["image"]["id"])

    for image_id in image_ids:

        def tag(index: int, image_id: str = image_id) -> httpx.Response:
            with httpx.Client(base_url=server.endpoint, headers=KEY, timeout=60) as http:
                return http.post(
                    f"{API}/projects/{project['id']}/images/tags",
                    json={"tags": [{"imageId": image_id, "tagId": tags[index]["id"]}]},
                )

        replies = all_at_once(8, tag)
        for index, reply in enumerate(replies):
            summary = assert_json(reply, 200)
            assert summary["created"] == [{"imageId": image_id, "tagId": tags[index]["id"]}], summary

    listed = assert_json(
        client.get(f"{API}/projects/{project['id']}/images/id", params={"imageIds": ",".join(image_ids)})
    )
    assert len(listed) == rounds
    for image in listed:
        assert sorted(t["tagId"] for t in image["tags"]) == sorted(t["id"] for t in tags), image["id"]
    for tag_out in assert_json(client.get(f"{API}/projects/{project['id']}/tags")):
        assert tag_out["imageCount"] == rounds, tag_out
