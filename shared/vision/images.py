"""Image validation and rendering: the only place in the product where pixels are decoded.

Uploads are untrusted bytes, so everything here is written to fail closed and cheaply:

* the format is sniffed from the magic bytes (never a file name or a declared content type), and
  the Pillow plugin for that format alone parses the header, so Pillow can never "recognise" the
  bytes as something else;
* dimensions come from the header (Pillow opens lazily) and are checked against the limits in
  :mod:`shared.domain.limits` *before* any pixel is decoded, which defuses decompression bombs
  without touching Pillow's global ``Image.MAX_IMAGE_PIXELS``;
* the whole entropy-coded stream is then decoded once (at 1/8 scale for JPEG) so a truncated or
  corrupt upload is refused at upload time, not discovered later by training;
* every decode first acquires its estimated cost (bytes) from the process's decode budget
  (:mod:`shared.vision.decode_memory`), so decodes in flight never hold more than the budget, and
  pixels are converted (RGB, transparency on white) and reduced a strip at a time, so the only
  full-size pixels are the decoded ones: the prediction path keeps a few times the model's input.

Every refusal is an :class:`~shared.domain.errors.InvalidImage` carrying the Custom Vision error
code and the per-image ``ImageCreateStatus`` a batch upload reports. Dimensions are in pixels,
sizes in bytes.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import (
    BmpImagePlugin,
    GifImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
)

from shared.domain.enums import ImageCreateStatus
from shared.domain.errors import Code, InvalidImage
from shared.domain.limits import (
    ACCEPTED_IMAGE_FORMATS,
    MAX_ASPECT_RATIO,
    MAX_IMAGE_BYTES_TRAINING,
    MAX_IMAGE_PIXELS,
    MAX_IMAGE_SIDE,
)
from shared.vision.decode_memory import decode_budget

__all__ = [
    "ImageInfo",
    "ModelImage",
    "content_type",
    "decode_cost",
    "inspect_image",
    "load_rgb",
    "model_image",
    "render_rendition",
]

_MIB = 1024 * 1024

# Pixels converted and reduced at once (a few MB whatever the image's size).
_STRIP_PIXELS = 1 << 20
# A downscale keeps at least this many times the target's pixels per side before the final filter:
# a box reduction that far above the target is indistinguishable from resampling the whole image
# (Pillow's own ``reducing_gap``), and it is what bounds the prediction path's memory.
_REDUCING_GAP = 3

_STATUS_FORMAT = ImageCreateStatus.ERROR_IMAGE_FORMAT
_STATUS_SIZE = ImageCreateStatus.ERROR_IMAGE_SIZE
_STATUS_DIMENSIONS = ImageCreateStatus.ERROR_IMAGE_DIMENSIONS

# Magic bytes -> format. Only these four are accepted (ACCEPTED_IMAGE_FORMATS).
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)

# Constructing the plugin class directly (rather than Image.open) skips Pillow's own bomb check,
# which would warn or raise before our limits, lower than Pillow's, get a say.
_PLUGINS: dict[str, type[ImageFile.ImageFile]] = {
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "GIF": GifImagePlugin.GifImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
}

_CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "BMP": "image/bmp",
}

# EXIF orientation (tag 0x0112) -> the transpose that shows the image as a browser does.
_ORIENTATION_TAG = 0x0112
_TRANSPOSES = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPS_SIDES = frozenset({5, 6, 7, 8})

# What Pillow's parsers and decoders raise on hostile or damaged input.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # Pillow's "not a ... file" / "broken PNG file"
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    struct.error,
)
# Pillow bomb-checks a GIF frame that outgrows its screen while opening it; _gif_size checks that
# first, so these are a backstop (under ``-W error`` Pillow's warning arrives as an exception).
_BOMB_ERRORS: tuple[type[BaseException], ...] = (
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)

# A PNG's last chunk: zero length, "IEND", fixed CRC. Pillow stops quietly without it.
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"

_FORMAT_MESSAGE = f"Unsupported image format; accepted formats are {', '.join(ACCEPTED_IMAGE_FORMATS)}."
_CORRUPT_MESSAGE = "The image data is truncated or corrupt."


@dataclass(frozen=True)
class ModelImage:
    """An image decoded for a model: RGB pixels, reduced to a few times the model's input size."""

    image: Image.Image  # EXIF-oriented RGB
    width: int  # pixels of the original, as a browser shows it
    height: int


@dataclass(frozen=True)
class ImageInfo:
    """What an accepted upload is: its real format and the size a browser would show."""

    format: str  # "JPEG" | "PNG" | "BMP" | "GIF"
    width: int  # pixels, after EXIF orientation
    height: int  # pixels, after EXIF orientation
    content_type: str  # "image/jpeg", ...


def inspect_image(data: bytes, *, max_bytes: int = MAX_IMAGE_BYTES_TRAINING) -> ImageInfo:
    """Validate an upload against Custom Vision's limits and describe it.

    Raises :class:`InvalidImage` for empty or oversized data, an unaccepted or unrecognisable
    format, dimensions or aspect ratio over the limits (checked from the header, before decoding),
    and truncated or corrupt pixel data (found by decoding the whole stream, at 1/8 scale for
    JPEG so a typical photo costs a few milliseconds).
    """
    if not data or len(data) > max_bytes:
        raise InvalidImage(
            f"Image is {_megabytes(len(data))} MB; the limit is {_megabytes(max_bytes)} MB."
            if data
            else "The image is empty (0 bytes).",
            Code.BAD_REQUEST_IMAGE_SIZE_BYTES,
            _STATUS_SIZE,
        )
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # With this global set, Pillow pads truncated images instead of failing, and we would
        # accept them. Nothing in the product sets it; fail loudly if something did.
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; truncated uploads can't be detected.")

    fmt, img = _open_checked(data)
    width, height = img.size
    with _refused_as_invalid(_CORRUPT_MESSAGE):
        if fmt == "JPEG":
            # Scaled DCT decoding still reads every entropy-coded byte, at a fraction of the cost.
            img.draft("RGB", (max(1, width // 8), max(1, height // 8)))
        cost = _pixel_bytes(img) * img.width * img.height + _jpeg_coefficient_bytes(img, (width, height))
        with decode_budget().held(cost):
            img.load()  # GIF: the first frame is enough
            orientation = _orientation(img)
            img.close()  # the pixels go now, inside the budget
        _check_png_end(fmt, data)

    if orientation in _SWAPS_SIDES:
        width, height = height, width
    return ImageInfo(format=fmt, width=width, height=height, content_type=_CONTENT_TYPES[fmt])


def render_rendition(data: bytes, *, max_side: int, quality: int = 85) -> bytes:
    """JPEG bytes of the image as a browser shows it, longer side at most ``max_side`` pixels.

    Serves the "resized" (1024) and "thumbnail" (256) URIs. Never upscales; transparency is
    composited on white because JPEG has no alpha.
    """
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1 pixel, not {max_side}")
    fmt, img = _open_checked(data)
    width, height = img.size
    scale = min(1.0, max_side / max(width, height))
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    with _refused_as_invalid(_CORRUPT_MESSAGE):
        if fmt == "JPEG" and scale < 1.0:
            # Let libjpeg do the bulk of a big downscale (1/2, 1/4 or 1/8), never below target.
            img.draft("RGB", target)
        factor = _reduction(img.size, target)
        with decode_budget().held(decode_cost(img, factor, (width, height))):
            img.load()
            orientation = _orientation(img)
            rgb = _rgb_reduced(img, factor)
    if rgb.size != target:
        rgb = rgb.resize(target, Image.Resampling.LANCZOS)
    rgb = _transposed(rgb, orientation)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def load_rgb(data: bytes) -> Image.Image:
    """The fully decoded image as a browser shows it (EXIF-oriented), in RGB, for training and
    prediction. Expects bytes that :func:`inspect_image` accepted; GIFs give their first frame."""
    _, img = _open_checked(data)
    with _refused_as_invalid(_CORRUPT_MESSAGE), decode_budget().held(decode_cost(img, (1, 1))):
        img.load()
        orientation = _orientation(img)
        rgb = _rgb_reduced(img, (1, 1))
    return _transposed(rgb, orientation)


def content_type(data: bytes) -> str:
    """The MIME type of accepted image bytes, from their magic bytes alone (no decoding)."""
    fmt = _sniff(data)
    return _CONTENT_TYPES[fmt] if fmt else "application/octet-stream"


@contextmanager
def model_image(data: bytes, *, min_side: int, max_bytes: int) -> Iterator[ModelImage]:
    """Validate and decode an image for a model that resizes it to ``min_side`` square: one pass.

    The checks of :func:`inspect_image` (size, format, dimensions before decoding, truncation),
    then a decode that skips detail the model never sees: libjpeg's scaled decoding for JPEG, and
    for every format a box reduction, a strip at a time, to no less than a few times ``min_side``
    a side (so the result is what resizing the whole image gives). EXIF-oriented RGB. The
    prediction path's only decode; the decode budget is held until the caller is done with it.
    """
    if not data or len(data) > max_bytes:
        raise InvalidImage(
            f"Image is {_megabytes(len(data))} MB; the limit is {_megabytes(max_bytes)} MB."
            if data
            else "The image is empty (0 bytes).",
            Code.BAD_REQUEST_IMAGE_SIZE_BYTES,
            _STATUS_SIZE,
        )
    fmt, img = _open_checked(data)
    width, height = img.size
    if fmt == "JPEG":
        img.draft("RGB", (min_side, min_side))
    factor = _reduction(img.size, (min_side, min_side))
    with decode_budget().held(decode_cost(img, factor, (width, height))):
        with _refused_as_invalid(_CORRUPT_MESSAGE):
            img.load()
            _check_png_end(fmt, data)
            orientation = _orientation(img)
            rgb = _rgb_reduced(img, factor)
        if orientation in _SWAPS_SIDES:
            width, height = height, width
        yield ModelImage(_transposed(rgb, orientation), width, height)


def decode_cost(img: Image.Image, factor: tuple[int, int], full_size: tuple[int, int] | None = None) -> int:
    """The bytes that decoding ``img`` (opened, not loaded; after any ``draft``, ``full_size`` being
    its size before) and reducing it by ``factor`` take at most: the decoded pixels, the RGB result,
    one strip in conversion, and a progressive JPEG's coefficients."""
    coefficients = _jpeg_coefficient_bytes(img, full_size or img.size)
    width, height = img.size
    decoded = _pixel_bytes(img) * width * height
    result = 4 * -(-width // factor[0]) * -(-height // factor[1])  # Pillow keeps RGB in 4 bytes
    strip = 3 * 4 * min(width * height, max(_STRIP_PIXELS, width * factor[1]))
    return decoded + result + strip + coefficients


# ---------------------------------------------------------------------------------------------
# Helpers


@contextmanager
def _refused_as_invalid(message: str) -> Iterator[None]:
    """Pillow's failures on hostile or damaged bytes, as the refusal a user reads."""
    try:
        yield
    except _BOMB_ERRORS as exc:
        raise _dimensions_error(f"Image dimensions are too large: {exc}") from exc
    except _DECODE_ERRORS as exc:
        raise InvalidImage(message, Code.BAD_REQUEST_IMAGE_FORMAT, _STATUS_FORMAT) from exc


def _check_png_end(fmt: str, data: bytes) -> None:
    # Pillow stops quietly at a PNG's last image chunk: a truncated file must be said to be one.
    if fmt == "PNG" and data.rfind(_PNG_IEND) < 0:
        raise OSError("PNG stream has no IEND chunk")


def _open_checked(data: bytes) -> tuple[str, ImageFile.ImageFile]:
    """Sniff the format, parse the header only, and enforce the dimension limits (pixels)."""
    fmt = _sniff(data)
    if fmt is None:
        raise InvalidImage(_FORMAT_MESSAGE, Code.BAD_REQUEST_IMAGE_FORMAT, _STATUS_FORMAT)
    header = _header_size(fmt, data)
    if header is not None:
        # Checked before Pillow sees the bytes: it refuses zero sizes as an unknown format.
        _check_dimensions(*header)
    with _refused_as_invalid(_FORMAT_MESSAGE):
        img = _PLUGINS[fmt](io.BytesIO(data))
    if img.format != fmt:
        raise InvalidImage(_FORMAT_MESSAGE, Code.BAD_REQUEST_IMAGE_FORMAT, _STATUS_FORMAT)
    _check_dimensions(*img.size)
    return fmt, img


def _sniff(data: bytes) -> str | None:
    for magic, fmt in _SIGNATURES:
        if data.startswith(magic):
            return fmt
    return None


def _header_size(fmt: str, data: bytes) -> tuple[int, int] | None:
    """Width and height (pixels) read straight from a PNG, GIF or BMP header; None for JPEG (its
    size sits in a SOF segment Pillow finds) or a header too short or unknown to read."""
    try:
        if fmt == "PNG" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if fmt == "GIF":
            return _gif_size(data)
        if fmt == "BMP":
            (dib_size,) = struct.unpack("<I", data[14:18])
            if dib_size == 12:  # OS/2 core header: 16-bit sides
                width, height = struct.unpack("<HH", data[18:22])
                return width, height
            if dib_size in (40, 52, 56, 64, 108, 124):  # negative height means top-down rows
                width, height = struct.unpack("<ii", data[18:26])
                return abs(width), abs(height)
    except struct.error:
        return None
    return None


def _gif_size(data: bytes) -> tuple[int, int]:
    """The logical screen (pixels), grown to hold the first frame as Pillow grows it: a tiny
    screen with a huge frame is a bomb too, and Pillow would only warn about it."""
    width, height, flags = struct.unpack("<HHB", data[6:11])
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)  # skip the global colour table
    while pos < len(data) and data[pos] == 0x21:  # extension: label, then sub-blocks up to a 0
        pos += 2
        while pos < len(data) and data[pos]:
            pos += data[pos] + 1
        pos += 1
    if data[pos : pos + 1] == b",":  # the first image descriptor
        left, top, frame_width, frame_height = struct.unpack("<HHHH", data[pos + 1 : pos + 9])
        width, height = max(width, left + frame_width), max(height, top + frame_height)
    return width, height


def _check_dimensions(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise _dimensions_error(f"Image is {width}x{height} pixels; both sides must be at least 1 pixel.")
    if max(width, height) > MAX_IMAGE_SIDE:
        raise _dimensions_error(f"Image is {width}x{height} pixels; the limit is {MAX_IMAGE_SIDE} pixels per side.")
    if width * height > MAX_IMAGE_PIXELS:
        raise _dimensions_error(
            f"Image is {width}x{height} pixels ({width * height} in all); the limit is {MAX_IMAGE_PIXELS} pixels."
        )
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise InvalidImage(
            f"Image is {width}x{height} pixels; the longer side may be at most {MAX_ASPECT_RATIO:g} times the shorter.",
            Code.BAD_REQUEST_IMAGE_ASPECT_RATIO,
            _STATUS_DIMENSIONS,
        )


def _dimensions_error(message: str) -> InvalidImage:
    return InvalidImage(message, Code.BAD_REQUEST_IMAGE_DIMENSIONS, _STATUS_DIMENSIONS)


def _megabytes(size: int) -> str:
    """``size`` bytes in MB (1 MB = 1,048,576 bytes, as in "6 MB"), rounded up to 0.1 so an
    oversized image never reads as equal to the limit."""
    return f"{math.ceil(size * 10 / _MIB) / 10:g}"


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation (1-8), 1 when absent. Unreadable metadata counts as absent, as it
    does in a browser: it must never fail an image whose pixels are fine."""
    try:
        value = img.getexif().get(_ORIENTATION_TAG)
    except Exception:  # any EXIF parse failure means "no orientation"
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _transposed(img: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSES.get(orientation)
    return img if method is None else img.transpose(method)


def _jpeg_coefficient_bytes(img: Image.Image, full_size: tuple[int, int]) -> int:
    """libjpeg keeps every DCT coefficient of a progressive (multi-scan) JPEG at full size until the
    last scan, whatever ``draft`` scale: 2 bytes per coefficient, 64 per 8x8 block per component
    (an upper bound: chroma subsampling keeps fewer). A baseline JPEG streams: nothing."""
    if img.format != "JPEG" or not (img.info.get("progressive") or img.info.get("progression")):
        return 0
    blocks = -(-full_size[0] // 8) * -(-full_size[1] // 8)
    return 2 * 64 * blocks * max(1, int(getattr(img, "layers", 3)))


def _pixel_bytes(img: Image.Image) -> int:
    """What Pillow stores per pixel of ``img``'s mode: 1 byte (L, P, 1), 2 (16-bit grey) or 4
    (everything else, RGB included)."""
    if img.mode in ("1", "L", "P"):
        return 1
    return 2 if img.mode.startswith("I;16") else 4


def _reduction(size: tuple[int, int], target: tuple[int, int]) -> tuple[int, int]:
    """The box reduction (per axis) that keeps at least ``_REDUCING_GAP`` times ``target``."""
    return (
        max(1, size[0] // (target[0] * _REDUCING_GAP)),
        max(1, size[1] // (target[1] * _REDUCING_GAP)),
    )


def _rgb_reduced(img: Image.Image, factor: tuple[int, int]) -> Image.Image:
    """``img``'s pixels as :func:`_to_rgb` gives them, box-reduced by ``factor``; converted a strip
    at a time, so that no full-size copy (RGBA, premultiplied, white background) is ever made.
    ``img`` is closed once converted: its pixels are freed now, not when the caller returns."""
    if factor == (1, 1) and img.mode == "RGB" and "transparency" not in img.info:
        return img
    width, height = img.size
    step_x, step_y = factor
    rows = max(step_y, _STRIP_PIXELS // width // step_y * step_y)
    out = Image.new("RGB", (-(-width // step_x), -(-height // step_y)))
    # Averaging commutes with compositing on white (premultiplied, as Pillow reduces RGBA), so
    # these modes are reduced first and convert only the reduced pixels; the others (palette,
    # 16-bit) convert first, as Pillow cannot average them.
    reduce_first = factor != (1, 1) and img.mode in ("RGB", "L", "RGBA", "LA") and "transparency" not in img.info
    for top in range(0, height, rows):
        box = (0, top, width, min(height, top + rows))
        if reduce_first and img.mode in ("RGB", "L"):
            strip = _to_rgb(img.reduce(factor, box))  # reads the box in place: no copy of the strip
        elif reduce_first:
            strip = _to_rgb(img.crop(box).reduce(factor))  # Pillow premultiplies the whole image it reduces
        else:
            strip = _to_rgb(img.crop(box))
            if factor != (1, 1):
                strip = strip.reduce(factor)
        out.paste(strip, (0, top // step_y))
    img.close()
    return out


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB pixels, transparency composited on white (palette, LA, RGBA and tRNS alike)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale PNG: scale to 8 bits rather than clipping at 255.
        img = img.convert("I").point(lambda v: v / 256).convert("L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img if img.mode == "RGB" else img.convert("RGB")
