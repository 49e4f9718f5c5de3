"""Bad input over real HTTP answers 4xx in Custom Vision's shape, never a 5xx, and the keep-alive
connection it arrived on stays usable.

The inputs are the ones that used to reach a 500 (blank ids inside JSON bodies, paging numbers
near the integer limits, a `$filter` with a thousand terms) or were misread (a `$filter` value
that says "and" or "or"), on the embedded default and on the Azure adapters.
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from shared.domain.limits import MAX_FILTER_TERMS, MAX_INT32
from tests.servers import TRAINING_KEY, RunningServer

API = "/customvision/v3.4-preview/training"
KEY = {"Training-Key": TRAINING_KEY}
GUID = "8b1a3c3e-1f0e-4a52-9a55-0a8c4e0f6d11"


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.endpoint, headers=KEY, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def labelled(http: httpx.Client) -> dict[str, str]:
    """A project with a tag and two images that carry metadata, one of whose values says "and"."""
    project = http.post(f"{API}/projects", params={"name": f"bad-input-{uuid.uuid4().hex[:8]}"}).json()
    tag = http.post(f"{API}/projects/{project['id']}/tags", params={"name": "t"}).json()
    ids = []
    for color in ((10, 20, 30), (200, 100, 50)):
        reply = http.post(
            f"{API}/projects/{project['id']}/images",
            content=png_bytes(color),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert reply.status_code == 200, reply.text
        ids.append(reply.json()["images"][0]["image"]["id"])
    for image_id, value in zip(ids, ("black and white", "black"), strict=True):
        reply = http.post(
            f"{API}/projects/{project['id']}/images/metadata", params={"imageIds": image_id}, json={"color": value}
        )
        assert reply.status_code == 200, reply.text
    return {
        "project": project["id"],
        "project_name": project["name"],
        "tag": tag["id"],
        "bw": ids[0],
        "black": ids[1],
    }


def png_bytes(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, format="PNG")
    return out.getvalue()


def assert_error(reply: httpx.Response, status: int = 400, code: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, f"{reply.status_code} {reply.text}"
    assert reply.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = reply.json()
    assert set(body) == {"code", "message"} and body["code"] and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def still_serves(http: httpx.Client, project_id: str) -> None:
    """The same connection answers a good request right after (a 500 used to drop it unannounced)."""
    reply = http.get(f"{API}/projects/{project_id}/tags")
    assert reply.status_code == 200, reply.text


# --- blank, missing and malformed ids inside JSON bodies ------------------------------------------


@pytest.mark.parametrize(
    "path,body,code",
    [
        ("/images/tags", {"tags": [{"imageId": "", "tagId": ""}]}, "BadRequestInvalidIds"),
        ("/images/tags", {"tags": [{"imageId": "  ", "tagId": "{tag}"}]}, "BadRequestInvalidIds"),
        ("/images/tags", {"tags": [{"imageId": "{image}", "tagId": ""}]}, "BadRequestInvalidIds"),
        ("/images/tags", {"tags": [{"imageId": "not-a-guid", "tagId": "{tag}"}]}, "BadRequestInvalidIds"),
        ("/images/tags", {"tags": [{"imageId": "{image}"}]}, "BadRequest"),
        ("/images/tags", {"tags": [{"imageId": 7, "tagId": None}]}, "BadRequest"),
        ("/images/tags", {"tags": "all of them"}, "BadRequest"),
        ("/images/tags", ["not", "an", "object"], "BadRequest"),
        ("/images/tags", "just a string", "BadRequest"),
        (
            "/images/regions",
            {"regions": [{"imageId": "", "tagId": "", "left": 0, "top": 0, "width": 0.5, "height": 0.5}]},
            "BadRequestInvalidIds",
        ),
        (
            "/images/regions",
            {"regions": [{"imageId": "{image}", "tagId": " ", "left": 0, "top": 0, "width": 0.5, "height": 0.5}]},
            "BadRequestInvalidIds",
        ),
        ("/images/regions", {"regions": [{"imageId": "{image}", "tagId": "{tag}"}]}, "BadRequest"),
        ("/images/regions", {"regions": [{"imageId": "{image}", "tagId": "{tag}", "left": "x"}]}, "BadRequest"),
        ("/images/regions", 42, "BadRequest"),
        ("/images/predictions", {"images": [{"id": ""}]}, "BadRequestInvalidIds"),
        ("/images/predictions", {"images": [{"id": "nope"}]}, "BadRequestInvalidIds"),
        ("/images/predictions", {"images": [{}]}, "BadRequest"),
        ("/images/metadata?imageIds={image}", ["color", "red"], "BadRequest"),
        ("/images/metadata?imageIds={image}", {"color": 5}, "BadRequest"),
        ("/tagsandregions/suggestions?iterationId=&imageIds=", None, None),
        ("/images/suggested?iterationId=" + GUID, {"tagIds": [""]}, None),
        ("/predictions/query", {"tags": [{"id": "", "minThreshold": 0.5}]}, "BadRequestInvalidIds"),
        ("/predictions/query", {"maxCount": "many"}, "BadRequest"),
    ],
)
def test_bad_json_bodies_are_a_400_with_a_custom_vision_code(
    http: httpx.Client, labelled: dict[str, str], path: str, body: Any, code: str | None
) -> None:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("{image}", labelled["bw"]).replace("{tag}", labelled["tag"])
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    reply = http.post(f"{API}/projects/{labelled['project']}{fill(path)}", json=fill(body))
    if code is None:
        assert 400 <= reply.status_code < 500, f"{reply.status_code} {reply.text}"
        assert_error(reply, reply.status_code)
    else:
        assert_error(reply, 400, code)
    still_serves(http, labelled["project"])


def test_a_body_that_is_not_json_is_a_400(http: httpx.Client, labelled: dict[str, str]) -> None:
    reply = http.post(
        f"{API}/projects/{labelled['project']}/images/tags",
        content=b'{"tags": [',
        headers={"Content-Type": "application/json"},
    )
    assert_error(reply, 400, "BadRequest")
    still_serves(http, labelled["project"])


@pytest.mark.parametrize(
    "path,code",
    [("", "BadRequestProjectName"), ("/tags/{tag}", "BadRequestTagName")],
)
def test_names_that_are_not_unicode_text_are_refused(
    http: httpx.Client, labelled: dict[str, str], path: str, code: str
) -> None:
    """JSON's "\\ud800" reads as a lone surrogate: no store can keep it, no client could read it back."""
    url = f"{API}/projects/{labelled['project']}{path.replace('{tag}', labelled['tag'])}"
    for name in ('"\\ud800"', '"tag \\udfff"'):
        reply = http.patch(url, content=f'{{"name": {name}}}'.encode(), headers={"Content-Type": "application/json"})
        assert_error(reply, 400, code)
    assert http.get(url).json()["name"] in ("t", labelled["project_name"])


def test_a_blank_tag_id_in_an_upload_is_refused(http: httpx.Client, labelled: dict[str, str]) -> None:
    """Batch tags: the request is refused; an image's own tags: that image is (as for a malformed id)."""
    url = f"{API}/projects/{labelled['project']}/images/files"
    image = {"name": "blank.png", "contents": base64.b64encode(png_bytes((1, 2, 3))).decode()}
    assert_error(http.post(url, json={"images": [image], "tagIds": [labelled["tag"], ""]}), 400, "BadRequestInvalidIds")
    reply = http.post(url, json={"images": [{**image, "tagIds": [" "]}]})
    assert reply.status_code == 207, reply.text
    assert [i["status"] for i in reply.json()["images"]] == ["ErrorInvalidTag"]
    count = http.get(f"{API}/projects/{labelled['project']}/images/count").json()
    assert count == 2  # neither stored


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_that_are_not_json_numbers_are_a_400(http: httpx.Client, labelled: dict[str, str], number: str) -> None:
    """Python's JSON reader takes NaN and Infinity; the API does not (they could never be echoed back)."""
    project, tag = labelled["project"], labelled["tag"]
    bodies = [
        ("/predictions/query", f'{{"tags": [{{"id": "{tag}", "minThreshold": {number}}}]}}'),
        ("/predictions/query", f'{{"tags": [{{"id": "{tag}", "maxThreshold": {number}}}]}}'),
        (
            "/images/regions",
            f'{{"regions": [{{"imageId": "{labelled["bw"]}", "tagId": "{tag}", "left": 0, "top": 0, '
            f'"width": {number}, "height": 0.1}}]}}',
        ),
    ]
    for path, body in bodies:
        reply = http.post(
            f"{API}/projects/{project}{path}", content=body.encode(), headers={"Content-Type": "application/json"}
        )
        assert_error(reply, 400, "BadRequestImageRegions" if "regions" in path else "BadRequest")
    still_serves(http, project)


# --- paging and other numbers near the integer limits ---------------------------------------------

HUGE = [str(2**31), str(2**63), str(10**40), "-1", "1e3", "12abc", "NaN", "", " "]


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize(
    "path,name",
    [
        ("/images", "take"),
        ("/images", "skip"),
        ("/images/tagged", "skip"),
        ("/images/untagged", "skip"),
        ("/iterations/" + GUID + "/performance/images", "skip"),
        ("/train", "reservedBudgetInHours"),
    ],
)
def test_numbers_out_of_range_are_a_400(
    http: httpx.Client, labelled: dict[str, str], path: str, name: str, value: str
) -> None:
    method = "POST" if path == "/train" else "GET"
    reply = http.request(method, f"{API}/projects/{labelled['project']}{path}", params={name: value})
    if value == "" and name != "reservedBudgetInHours" and path != "/iterations/" + GUID + "/performance/images":
        # An empty value is the parameter left out (the default), as ASP.NET binds it.
        assert reply.status_code in (200, 400), reply.text
    else:
        assert 400 <= reply.status_code < 500, f"{reply.status_code} {reply.text}"
        assert_error(reply, reply.status_code)
    still_serves(http, labelled["project"])


def test_the_largest_int32_skip_is_an_empty_page(http: httpx.Client, labelled: dict[str, str]) -> None:
    reply = http.get(f"{API}/projects/{labelled['project']}/images", params={"skip": MAX_INT32, "take": 256})
    assert reply.status_code == 200, reply.text
    assert reply.json() == []
    body = assert_error(http.get(f"{API}/projects/{labelled['project']}/images", params={"skip": MAX_INT32 + 1}))
    assert str(MAX_INT32) in body["message"]


# --- $filter --------------------------------------------------------------------------------------


def listed(http: httpx.Client, project_id: str, expression: str) -> set[str]:
    reply = http.get(f"{API}/projects/{project_id}/images", params={"$filter": expression, "take": 256})
    assert reply.status_code == 200, reply.text
    return {image["id"] for image in reply.json()}


def test_filter_values_may_say_and_or_or(http: httpx.Client, labelled: dict[str, str]) -> None:
    project = labelled["project"]
    assert listed(http, project, "color eq 'black and white'") == {labelled["bw"]}
    assert listed(http, project, "color eq 'black'") == {labelled["black"]}
    assert listed(http, project, "color eq 'black or white'") == set()
    assert listed(http, project, "color eq 'black' or color eq 'black and white'") == {
        labelled["bw"],
        labelled["black"],
    }
    assert listed(http, project, "(color eq 'black and white') and color eq 'black and white'") == {labelled["bw"]}
    count = http.get(f"{API}/projects/{project}/images/count", params={"$filter": "color eq 'black and white'"})
    assert count.json() == 1


@pytest.mark.parametrize(
    "expression",
    [
        " and ".join(f"k{i} eq 'v'" for i in range(1000)),
        " or ".join(f"k eq 'v{i}'" for i in range(1000)),
        " or ".join(f"(a{i} eq '1' and b{i} eq '2')" for i in range(8)),
        "(" * 5000 + "k eq 'v'" + ")" * 5000,
        "k eq 'unterminated",
        "k eq 'v' and",
        "k eq 'v')",
        "((k eq 'v')",
        "k eq 'v' k eq 'w'",
        "k eq '" + "x" * 8000 + "'",
    ],
)
def test_filters_too_large_or_malformed_are_a_400(
    http: httpx.Client, labelled: dict[str, str], expression: str
) -> None:
    reply = http.get(f"{API}/projects/{labelled['project']}/images", params={"$filter": expression})
    if len(expression) > 5000 and expression.count(" eq ") == 1 and reply.status_code == 200:
        return  # a long value within the limits is a legitimate filter that matches nothing
    body = assert_error(reply, 400)
    assert "$filter" in body["message"]
    if expression.count(" eq ") > MAX_FILTER_TERMS:
        assert str(MAX_FILTER_TERMS) in body["message"]
    still_serves(http, labelled["project"])


# --- the connection after a 4xx -------------------------------------------------------------------


def test_a_keep_alive_connection_survives_every_kind_of_4xx(server: RunningServer, labelled: dict[str, str]) -> None:
    """One connection, a bad request then a good one, for each kind of refusal."""
    project = labelled["project"]
    bad: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", f"{API}/projects/{project}/images/tags", {"json": {"tags": [{"imageId": "", "tagId": ""}]}}),
        ("GET", f"{API}/projects/{project}/images", {"params": {"skip": str(2**63)}}),
        ("GET", f"{API}/projects/{project}/images", {"params": {"$filter": " and ".join(["k eq 'v'"] * 1000)}}),
        ("GET", f"{API}/projects/{uuid.uuid4()}", {}),
        ("GET", f"{API}/projects", {"headers": {"Training-Key": "wrong"}}),
        ("PUT", f"{API}/projects", {}),
        ("POST", f"{API}/projects/{project}/images", {"content": b"not an image", "headers": {"Content-Type": "x/y"}}),
    ]
    streams: list[object] = []
    with httpx.Client(base_url=server.endpoint, headers=KEY, timeout=60) as http:
        for method, url, kwargs in bad:
            reply = http.request(method, url, **kwargs)
            assert 400 <= reply.status_code < 500, f"{method} {url}: {reply.status_code} {reply.text}"
            assert reply.headers.get("connection", "").lower() != "close", reply.headers
            good = http.get(f"{API}/projects/{project}/tags")
            assert good.status_code == 200, good.text
            stream = good.extensions.get("network_stream")
            if stream is not None:
                streams.append(stream)
    assert streams and all(s is streams[0] for s in streams), "the client had to open a new connection after a 4xx"
