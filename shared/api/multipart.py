"""Read the images of an upload request body without ever decoding them as text.

Custom Vision clients upload images as ``multipart/form-data`` whose part often carries no
``filename`` and no ``Content-Type`` (only ``Content-Disposition: form-data; name="imageData"``).
Starlette's form parser and Azure Functions' ``req.files`` take such a part for a text field and
decode it, which corrupts the image bytes. So the upload routes hand the raw body stream here
instead, and this module streams it through python-multipart's low-level parser, keeping every
part's bytes exactly as sent.

Three body shapes are accepted, as Custom Vision does:

* ``multipart/form-data; boundary=...``: every part that carries data is one image, whatever its
  field name (Custom Vision's SDKs say ``imageData``, other clients anything);
* ``application/octet-stream``, ``image/*`` or no Content-Type at all: the body is one image;
* ``multipart/form-data`` without a boundary (what ``curl --data-binary`` with a hand-written
  header sends): the body is one raw image too. So is a multipart body whose framing is broken
  from its very first byte but which starts with an image's magic number.

Memory stays bounded whatever the client sends: the body is fed chunk by chunk, an image larger
than ``max_part_bytes`` stops being kept (it comes back flagged ``too_large`` so the caller can
report it per image), and a request with more than ``max_parts`` images fails as soon as the
extra one starts.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartState

from shared.domain.errors import BadRequest, Code, UnsupportedMediaType
from shared.domain.limits import MAX_BATCH_IMAGES, MAX_IMAGE_BYTES_TRAINING

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

__all__ = ["UploadedPart", "read_image_parts"]

_FORM_DATA = "multipart/form-data"
_OCTET_STREAM = "application/octet-stream"

# The magic numbers of the formats Custom Vision accepts (JPEG, PNG, GIF, BMP); used only to
# recognise a raw image sent under a multipart Content-Type.
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")
_MAGIC_LENGTH = max(len(magic) for magic in _IMAGE_MAGIC)

_PATH_SEPARATORS = re.compile(r"[\\/]")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class UploadedPart:
    """One image of an upload, with the bytes exactly as the client sent them.

    ``too_large`` parts kept none of their bytes (``data`` is empty): the caller reports them as
    oversized per image instead of failing the whole batch.
    """

    data: bytes
    filename: str | None
    field_name: str | None
    too_large: bool


async def read_image_parts(
    content_type: str | None,
    chunks: AsyncIterator[bytes],
    *,
    max_parts: int = MAX_BATCH_IMAGES,
    max_part_bytes: int = MAX_IMAGE_BYTES_TRAINING,
) -> list[UploadedPart]:
    """The images of a request body, read from its stream of ``chunks`` (e.g. ``request.stream()``).

    Raises :class:`BadRequest` when the body holds no image (``BadRequestImageBatch``), more than
    ``max_parts`` images (``BadRequestExceededBatchSize``) or broken multipart framing
    (``BadRequestImageStream``), and :class:`UnsupportedMediaType` for any other Content-Type.
    """
    media_type, params = _parse_header_value(content_type or "")
    media_type = media_type.lower()
    boundary = params.get("boundary", "")
    if media_type == _FORM_DATA and boundary:
        return await _read_multipart(boundary, chunks, max_parts, max_part_bytes)
    if _is_raw_image_type(media_type):
        return [await _read_raw(chunks, max_part_bytes)]
    raise UnsupportedMediaType(
        f"Content type '{media_type}' is not supported here; send multipart/form-data or application/octet-stream."
    )


def _is_raw_image_type(media_type: str) -> bool:
    """Whether a body of this media type is one image as it stands.

    ``multipart/form-data`` only reaches here without a boundary, which is how curl users send a
    raw image when they set the header by hand; a missing Content-Type is taken as a raw image too.
    """
    return media_type in ("", _OCTET_STREAM, _FORM_DATA) or media_type.startswith("image/")


# --- accumulating one image with a size cap -------------------------------------------------


class _Accumulator:
    """The bytes of one image, kept only while they fit in ``limit``.

    Past the limit the bytes are dropped and only the count goes on, so an oversized upload costs
    no memory; the first few bytes are always kept to recognise an image by its magic number.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self.size = 0
        self.head = b""

    @property
    def too_large(self) -> bool:
        return self.size > self._limit

    def add(self, data: bytes | memoryview) -> None:
        if len(self.head) < _MAGIC_LENGTH:
            self.head += bytes(data[: _MAGIC_LENGTH - len(self.head)])
        self.size += len(data)
        if self.too_large:
            self._buffer = bytearray()
        else:
            self._buffer += data

    def to_part(self, filename: str | None = None, field_name: str | None = None) -> UploadedPart:
        data = b"" if self.too_large else bytes(self._buffer)
        return UploadedPart(data=data, filename=filename, field_name=field_name, too_large=self.too_large)


# --- a whole body as one image --------------------------------------------------------------


async def _read_raw(chunks: AsyncIterator[bytes], max_part_bytes: int) -> UploadedPart:
    """The whole body as one image, drained to its end even when it is too large to keep."""
    image = _Accumulator(max_part_bytes)
    await _drain_into(image, chunks)
    if image.size == 0:
        raise _no_image()
    return image.to_part()


async def _drain_into(image: _Accumulator, chunks: AsyncIterator[bytes]) -> None:
    async for chunk in chunks:
        if chunk:
            image.add(chunk)


def _looks_like_image(head: bytes) -> bool:
    return head.startswith(_IMAGE_MAGIC)


# --- multipart/form-data --------------------------------------------------------------------


async def _read_multipart(
    boundary: str, chunks: AsyncIterator[bytes], max_parts: int, max_part_bytes: int
) -> list[UploadedPart]:
    """Stream the body through python-multipart, one chunk at a time, collecting its images.

    Until the first part begins the bytes fed are also kept (capped like an image): if the framing
    turns out broken from the start and those bytes begin with an image magic number, the body
    was a raw image sent under a multipart Content-Type, and it is read as one.
    """
    collector = _PartCollector(max_parts, max_part_bytes)
    parser = _new_parser(boundary, collector)
    prefix: _Accumulator | None = _Accumulator(max_part_bytes)
    async for chunk in chunks:
        if not chunk:
            continue
        if prefix is not None:
            prefix.add(chunk)
        try:
            parser.write(chunk)
        except FormParserError as exc:
            if prefix is None or collector.began:
                raise _malformed(str(exc)) from exc
            return [await _read_lenient(prefix, chunks, reason=str(exc))]
        if collector.began:
            prefix = None  # real multipart: the start of the body is no longer needed
    parser.finalize()
    if parser.state != MultipartState.END:
        if prefix is not None and not collector.began:
            return [await _read_lenient(prefix, chunks, reason="no boundary was found")]
        raise _malformed("the body ends before its final boundary")
    if not collector.parts:
        raise _no_image()
    return collector.parts


def _new_parser(boundary: str, collector: _PartCollector) -> MultipartParser:
    try:
        return MultipartParser(boundary.encode("latin-1"), collector.callbacks())
    except (UnicodeEncodeError, FormParserError, ValueError) as exc:
        raise _malformed(f"the boundary is invalid ({exc})") from exc


async def _read_lenient(prefix: _Accumulator, chunks: AsyncIterator[bytes], *, reason: str) -> UploadedPart:
    """The body as one raw image when it starts with an image magic number, else a framing error.

    Reads on only as far as needed to see the magic number (the failing chunk may be tiny), then
    drains the rest into the image when it is one.
    """
    async for chunk in chunks:
        if chunk:
            prefix.add(chunk)
        if len(prefix.head) >= _MAGIC_LENGTH:
            break
    if prefix.size == 0:
        raise _no_image()
    if not _looks_like_image(prefix.head):
        raise _malformed(reason)
    await _drain_into(prefix, chunks)
    return prefix.to_part()


class _PartCollector:
    """The python-multipart callbacks: headers and data of each part, turned into images.

    A part counts as an image once its first data byte arrives, whatever its field name, so a
    browser's empty file input (a part with no data) is not an image.
    """

    def __init__(self, max_parts: int, max_part_bytes: int) -> None:
        self._max_parts = max_parts
        self._max_part_bytes = max_part_bytes
        self.parts: list[UploadedPart] = []
        self.began = False
        self._images = 0
        self._headers: dict[str, bytes] = {}
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._field_name: str | None = None
        self._filename: str | None = None
        self._current: _Accumulator | None = None

    def callbacks(self) -> MultipartCallbacks:
        callbacks: dict[str, Callable[..., None]] = {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }
        return cast("MultipartCallbacks", callbacks)

    def on_part_begin(self) -> None:
        self.began = True
        self._headers = {}
        self._header_field.clear()
        self._header_value.clear()
        self._field_name = self._filename = None
        self._current = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").strip().lower()
        self._headers[name] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        disposition = self._headers.get("content-disposition")
        if disposition is not None:
            self._field_name, self._filename = _parse_content_disposition(_decode_header(disposition))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current is None:
            self._images += 1
            if self._images > self._max_parts:
                raise BadRequest(
                    f"A batch may hold at most {self._max_parts} images; this request had more.",
                    Code.BAD_REQUEST_EXCEEDED_BATCH_SIZE,
                )
            self._current = _Accumulator(self._max_part_bytes)
        self._current.add(memoryview(data)[start:end])

    def on_part_end(self) -> None:
        if self._current is not None:
            self.parts.append(self._current.to_part(self._filename, self._field_name))
        self._current = None


# --- header values --------------------------------------------------------------------------


def _decode_header(raw: bytes) -> str:
    """Header bytes as text: browsers send non-ASCII filenames as raw UTF-8, older clients Latin-1."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_content_disposition(value: str) -> tuple[str | None, str | None]:
    """The field name and the filename (a basename, or None) of a part's Content-Disposition.

    ``filename*`` (RFC 5987/6266) wins over ``filename`` when both are given, as browsers and
    RFC 6266 say.
    """
    _, params = _parse_header_value(value)
    filename = params.get("filename")
    extended = params.get("filename*")
    if extended is not None:
        filename = _decode_extended_value(extended)
    return params.get("name"), _basename(filename)


def _decode_extended_value(value: str) -> str:
    """An RFC 5987 ``charset'language'percent-encoded`` value; a bare value is taken as is."""
    charset, quote, rest = value.partition("'")
    if not quote:
        return unquote(value)
    _, _, encoded = rest.partition("'")
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="replace")
    except LookupError:
        return unquote(encoded, encoding="utf-8", errors="replace")


def _basename(filename: str | None) -> str | None:
    """Only the last path segment: clients send ``C:\\x\\a.jpg`` or ``../a.jpg``, we keep ``a.jpg``."""
    if filename is None:
        return None
    name = _CONTROL_CHARACTERS.sub("", _PATH_SEPARATORS.split(filename)[-1]).strip()
    return None if name in ("", ".", "..") else name


def _parse_header_value(value: str) -> tuple[str, dict[str, str]]:
    """A header value split into its leading token and its ``key=value`` parameters.

    Keys are lower-cased (``Boundary=`` is ``boundary``); quoted values lose their quotes, and only
    ``\\"`` and ``\\\\`` count as escapes inside them, since browsers send Windows paths with bare
    backslashes.
    """
    first, *segments = _split_unquoted(value, ";")
    params: dict[str, str] = {}
    for segment in segments:
        key, equals, raw = segment.partition("=")
        key = key.strip().lower()
        if key and equals:
            params[key] = _unquote(raw.strip())
    return first.strip(), params


def _split_unquoted(value: str, separator: str) -> list[str]:
    """``value`` split on ``separator`` wherever it is outside a quoted string."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            pieces.append("".join(current))
            current = []
            continue
        current.append(char)
    pieces.append("".join(current))
    return pieces


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
    return value


# --- errors ---------------------------------------------------------------------------------


def _no_image() -> BadRequest:
    return BadRequest("The request contains no image.", Code.BAD_REQUEST_IMAGE_BATCH)


def _malformed(reason: str) -> BadRequest:
    return BadRequest(f"The multipart body is malformed: {reason}.", Code.BAD_REQUEST_IMAGE_STREAM)
