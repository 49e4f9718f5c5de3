"""The raw-body image reader: image bytes come back exactly as sent, whatever the client sends.

Bodies are built the way Custom Vision clients send them, notably a part with no filename and no
Content-Type, the shape that generic form parsers decode as text and corrupt.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import pytest
from PIL import Image

from shared.api.multipart import UploadedPart, read_image_parts
from shared.domain.errors import BadRequest, Code, UnsupportedMediaType

T = TypeVar("T")

BOUNDARY = "cvstudio-test-boundary"
FORM = f"multipart/form-data; boundary={BOUNDARY}"


# --- helpers --------------------------------------------------------------------------------


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to its end (pytest-asyncio is not installed)."""
    return asyncio.run(coroutine)


async def stream(body: bytes, chunk_size: int | None = None) -> AsyncIterator[bytes]:
    """The body as Starlette's ``request.stream()`` yields it: chunks, then an empty one."""
    size = chunk_size or max(len(body), 1)
    for start in range(0, len(body), size):
        yield body[start : start + size]
    yield b""


def read(content_type: str | None, body: bytes, chunk_size: int | None = None, **limits: int) -> list[UploadedPart]:
    return run(read_image_parts(content_type, stream(body, chunk_size), **limits))


def image_bytes(fmt: str, size: tuple[int, int] = (24, 16)) -> bytes:
    """A real image file; its bytes hold invalid UTF-8, and PNG's signature holds a CRLF."""
    image = Image.new("RGB", size)
    image.putdata([((x * 37) % 256, (y * 91) % 256, (x * y) % 256) for y in range(size[1]) for x in range(size[0])])
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def part(data: bytes, disposition: str = 'form-data; name="imageData"', content_type: str | None = None) -> bytes:
    headers = f"Content-Disposition: {disposition}\r\n"
    if content_type is not None:
        headers += f"Content-Type: {content_type}\r\n"
    return f"--{BOUNDARY}\r\n{headers}\r\n".encode() + data + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")
# Bytes that look like multipart framing and are not UTF-8: what a text decoder would mangle.
TRICKY = b"\xff\xfe\x00\r\n\r\n--" + BOUNDARY.encode()[:-1] + b"\r\n\x80\x81\r"


def raises_bad_request(code: Code, call: Any) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        call()
    assert info.value.code is code
    assert info.value.status == 400
    return info.value


# --- multipart/form-data --------------------------------------------------------------------


@pytest.mark.parametrize("data", [PNG, JPEG, TRICKY], ids=["png", "jpeg", "framing-like-bytes"])
def test_a_part_without_filename_or_type_keeps_its_bytes_exactly(data: bytes) -> None:
    parts = read(FORM, form(part(data)))

    assert parts == [UploadedPart(data=data, filename=None, field_name="imageData", too_large=False)]


def test_a_part_with_filename_and_octet_stream_type() -> None:
    body = form(part(JPEG, 'form-data; name="imageData"; filename="cat.jpg"', "application/octet-stream"))

    assert read(FORM, body) == [UploadedPart(JPEG, "cat.jpg", "imageData", False)]


def test_a_body_encoded_by_the_python_sdk_runtime() -> None:
    """msrest (the official SDK's runtime) hands ``requests`` a nameless stream for ``imageData``."""
    requests = pytest.importorskip("requests")
    universal_http = pytest.importorskip("msrest.universal_http")
    request = universal_http.ClientRequest("POST", "http://localhost/images")
    request.add_formdata({"imageData": io.BytesIO(PNG)})
    prepared = requests.Request("POST", "http://localhost/images", files=request.files).prepare()

    parts = read(prepared.headers["Content-Type"], prepared.body)

    assert [(p.data, p.field_name, p.too_large) for p in parts] == [(PNG, "imageData", False)]


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('form-data; name="imageData"; filename="C:\\x\\a.jpg"', "a.jpg"),
        ('form-data; name="imageData"; filename="C:\\\\x\\\\a.jpg"', "a.jpg"),
        ('form-data; name="imageData"; filename="../a.jpg"', "a.jpg"),
        ('form-data; name="imageData"; filename="/etc/x/a.jpg"', "a.jpg"),
        ("form-data; name=imageData; filename=a.jpg", "a.jpg"),
        ('form-data; name="imageData"; filename="semi;colon \\"q\\".jpg"', 'semi;colon "q".jpg'),
        ("form-data; name=\"imageData\"; filename*=UTF-8''caf%C3%A9.jpg", "café.jpg"),
        ('form-data; name="imageData"; filename="x.jpg"; filename*=UTF-8\'\'%2E%2E%2Fb.jpg', "b.jpg"),
        ('form-data; name="imageData"; filename=""', None),
        ('form-data; name="imageData"; filename=".."', None),
    ],
)
def test_filenames_keep_only_their_basename(disposition: str, expected: str | None) -> None:
    [uploaded] = read(FORM, form(part(PNG, disposition)))

    assert uploaded.filename == expected
    assert uploaded.field_name == "imageData"
    assert uploaded.data == PNG


def test_a_utf8_filename_sent_raw_by_a_browser() -> None:
    body = form(part(PNG, 'form-data; name="f"; filename="ünïcode.png"'))

    assert read(FORM, body)[0].filename == "ünïcode.png"


def test_several_parts_come_back_in_order_whatever_their_field_names() -> None:
    images = [PNG, JPEG, TRICKY]
    body = form(
        part(images[0]),
        part(images[1], 'form-data; name="file"; filename="b.jpg"', "image/jpeg"),
        part(images[2], 'form-data; name="anything"'),
    )

    parts = read(FORM, body)

    assert [p.data for p in parts] == images
    assert [p.field_name for p in parts] == ["imageData", "file", "anything"]
    assert [p.filename for p in parts] == [None, "b.jpg", None]


def test_a_part_without_data_is_not_an_image() -> None:
    body = form(part(b"", 'form-data; name="imageData"; filename=""'), part(PNG))

    assert [p.data for p in read(FORM, body)] == [PNG]


def test_exactly_the_batch_limit_is_accepted() -> None:
    assert len(read(FORM, form(*[part(b"x%d" % i) for i in range(64)]))) == 64


def test_more_parts_than_the_batch_limit_fail() -> None:
    body = form(*[part(b"x%d" % i) for i in range(65)])

    error = raises_bad_request(Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE, lambda: read(FORM, body))
    assert "64" in error.message


def test_the_batch_limit_is_a_parameter() -> None:
    body = form(part(PNG), part(JPEG), part(PNG))

    raises_bad_request(Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE, lambda: read(FORM, body, max_parts=2))


def test_an_oversized_part_is_flagged_and_the_others_are_kept() -> None:
    small, big = b"s" * 1000, b"b" * 1001
    body = form(part(small), part(big, 'form-data; name="imageData"; filename="big.png"'), part(b"tail"))

    parts = read(FORM, body, max_part_bytes=1000)

    assert parts == [
        UploadedPart(small, None, "imageData", False),
        UploadedPart(b"", "big.png", "imageData", True),
        UploadedPart(b"tail", None, "imageData", False),
    ]


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000])
def test_tiny_chunks_give_the_same_result_as_one_chunk(chunk_size: int) -> None:
    body = form(
        part(PNG),
        part(JPEG, 'form-data; name="imageData"; filename="C:\\x\\a.jpg"', "application/octet-stream"),
        part(TRICKY),
        part(b"z" * 1500),
    )

    whole = read(FORM, body, max_part_bytes=1000)

    assert read(FORM, body, chunk_size, max_part_bytes=1000) == whole
    assert [p.data for p in whole] == [PNG, JPEG, TRICKY, b""]
    assert whole[-1].too_large


def test_a_preamble_newline_and_an_epilogue_are_tolerated() -> None:
    body = b"\r\n" + form(part(PNG)) + b"epilogue"

    assert [p.data for p in read(FORM, body)] == [PNG]


@pytest.mark.parametrize(
    "content_type",
    [
        f'Multipart/Form-Data; Boundary="{BOUNDARY}"',
        f"multipart/form-data;boundary={BOUNDARY}",
        f"multipart/form-data; charset=utf-8; boundary={BOUNDARY}",
        f'  MULTIPART/FORM-DATA ; BOUNDARY = "{BOUNDARY}" ',
    ],
)
def test_content_type_casing_quoting_and_parameters(content_type: str) -> None:
    assert [p.data for p in read(content_type, form(part(PNG)))] == [PNG]


def test_an_empty_form_has_no_image() -> None:
    body = f"--{BOUNDARY}--\r\n".encode()

    raises_bad_request(Code.BAD_REQUEST_IMAGE_BATCH, lambda: read(FORM, body))


def test_an_empty_multipart_body_has_no_image() -> None:
    raises_bad_request(Code.BAD_REQUEST_IMAGE_BATCH, lambda: read(FORM, b""))


@pytest.mark.parametrize(
    "body",
    [
        b"this is not multipart at all",
        b"--another-boundary\r\n\r\nx\r\n--another-boundary--\r\n",
        form(part(PNG))[: -len(f"--{BOUNDARY}--\r\n")],  # the final boundary is missing
        part(PNG)[:40],  # cut inside the headers
        f"--{BOUNDARY}\r\nContent-Disposition form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n".encode(),
    ],
    ids=["text", "wrong-boundary", "no-final-boundary", "truncated-headers", "bad-header"],
)
def test_malformed_multipart_is_a_bad_image_stream(body: bytes) -> None:
    error = raises_bad_request(Code.BAD_REQUEST_IMAGE_STREAM, lambda: read(FORM, body))
    assert error.message.startswith("The multipart body is malformed: ")


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
@pytest.mark.parametrize("data", [PNG, JPEG, image_bytes("GIF"), image_bytes("BMP")], ids=["png", "jpeg", "gif", "bmp"])
def test_a_raw_image_under_a_multipart_boundary_is_read_leniently(data: bytes, chunk_size: int | None) -> None:
    assert read(FORM, data, chunk_size) == [UploadedPart(data, None, None, False)]


def test_a_lenient_raw_image_still_has_the_size_cap() -> None:
    assert read(FORM, JPEG, 7, max_part_bytes=100) == [UploadedPart(b"", None, None, True)]


# --- a whole body as one image --------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/octet-stream",
        "Application/Octet-Stream; charset=binary",
        "image/png",
        "multipart/form-data",  # curl with a hand-written header: no boundary, raw bytes
        "multipart/form-data; boundary=",
        None,
        "",
    ],
)
@pytest.mark.parametrize("chunk_size", [None, 7])
def test_a_raw_body_is_one_image(content_type: str | None, chunk_size: int | None) -> None:
    assert read(content_type, JPEG, chunk_size) == [UploadedPart(JPEG, None, None, False)]


def test_a_raw_body_that_looks_like_multipart_is_still_raw() -> None:
    body = form(part(PNG))

    assert read("application/octet-stream", body) == [UploadedPart(body, None, None, False)]


def test_an_oversized_raw_body_is_flagged_and_drained() -> None:
    consumed: list[int] = []

    async def counting() -> AsyncIterator[bytes]:
        async for chunk in stream(b"x" * 5000, 100):
            consumed.append(len(chunk))
            yield chunk

    parts = run(read_image_parts("application/octet-stream", counting(), max_part_bytes=1000))

    assert parts == [UploadedPart(b"", None, None, True)]
    assert sum(consumed) == 5000


def test_a_raw_body_at_exactly_the_limit_is_kept() -> None:
    assert read(None, b"x" * 1000, 7, max_part_bytes=1000) == [UploadedPart(b"x" * 1000, None, None, False)]


@pytest.mark.parametrize("content_type", ["application/octet-stream", "multipart/form-data", None])
def test_an_empty_raw_body_has_no_image(content_type: str | None) -> None:
    error = raises_bad_request(Code.BAD_REQUEST_IMAGE_BATCH, lambda: read(content_type, b""))
    assert error.message == "The request contains no image."


# --- other media types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "named"),
    [
        ("text/plain", "text/plain"),
        ("Text/Plain; charset=utf-8", "text/plain"),
        ("application/json", "application/json"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("multipart/mixed; boundary=abc", "multipart/mixed"),
    ],
)
def test_other_media_types_are_unsupported(content_type: str, named: str) -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        read(content_type, b"hello")

    assert info.value.status == 415
    assert info.value.code is Code.UNSUPPORTED_MEDIA_TYPE
    assert info.value.message == (
        f"Content type '{named}' is not supported here; send multipart/form-data or application/octet-stream."
    )
