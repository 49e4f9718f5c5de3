"""Tests for shared.vision.images: real images made in memory with Pillow, no mocks."""

from __future__ import annotations

import functools
import io
import struct
import threading
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from shared.domain.errors import Code, InvalidImage
from shared.domain.limits import DEFAULT_DECODE_MEMORY_BYTES, MAX_IMAGE_BYTES_PREDICTION, MAX_IMAGE_PIXELS
from shared.vision.decode_memory import DecodeBudget
from shared.vision.images import (
    ImageInfo,
    _open_checked,
    decode_cost,
    inspect_image,
    load_rgb,
    model_image,
    render_rendition,
)
from shared.vision.preprocess import preprocess

HEMLOCK = Path(__file__).parents[1] / "fixtures" / "custom-vision-samples" / "ImageClassification" / "Images"
HEMLOCK_PHOTOS = sorted((HEMLOCK / "Hemlock").glob("*.jpg"))


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **params)
    return out.getvalue()


def photo(width: int, height: int) -> Image.Image:
    """A noisy RGB image, so encoders produce realistic (not trivially small) streams."""
    noise = Image.effect_noise((width, height), 60).convert("RGB")
    gradient = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    return Image.blend(noise, gradient, 0.5)


def png_with_header(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR claims ``width`` x ``height`` pixels, with a valid CRC."""
    data = bytearray(encode(Image.new("RGB", (1, 1)), "PNG"))
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def gif_with_frame(screen: tuple[int, int], frame: tuple[int, int]) -> bytes:
    """A minimal one-pixel-data GIF whose first frame descriptor claims ``frame`` pixels."""
    return (
        b"GIF89a"
        + struct.pack("<HHBBB", *screen, 0x80, 0, 0)
        + b"\x00\x00\x00\xff\xff\xff"  # 2-colour global table
        + b","
        + struct.pack("<HHHHB", 0, 0, *frame, 0)
        + b"\x02\x02\x44\x01\x00"  # LZW data for one pixel
        + b";"
    )


def refused(data: bytes, **kwargs: int) -> InvalidImage:
    with pytest.raises(InvalidImage) as caught:
        inspect_image(data, **kwargs)
    return caught.value


# --- accepted images ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mode", "content_type"),
    [
        ("JPEG", "RGB", "image/jpeg"),
        ("PNG", "RGBA", "image/png"),
        ("BMP", "RGB", "image/bmp"),
        ("GIF", "P", "image/gif"),
    ],
)
def test_accepted_formats_report_format_size_and_content_type(fmt: str, mode: str, content_type: str) -> None:
    data = encode(photo(64, 48).convert(mode), fmt)

    assert inspect_image(data) == ImageInfo(format=fmt, width=64, height=48, content_type=content_type)


def test_format_comes_from_the_bytes_not_the_file_name(tmp_path: Path) -> None:
    misnamed = tmp_path / "holiday.jpg"
    misnamed.write_bytes(encode(photo(30, 20), "PNG"))

    info = inspect_image(misnamed.read_bytes())

    assert (info.format, info.content_type) == ("PNG", "image/png")


def test_aspect_ratio_at_the_limit_is_accepted() -> None:
    assert inspect_image(encode(photo(250, 10), "PNG")).width == 250  # exactly 25:1


@pytest.mark.parametrize("path", HEMLOCK_PHOTOS, ids=lambda p: p.name)
def test_quickstart_photos_are_accepted(path: Path) -> None:
    info = inspect_image(path.read_bytes())

    assert (info.format, info.content_type) == ("JPEG", "image/jpeg")
    assert info.width > 0 and info.height > 0


def test_quickstart_photos_are_present() -> None:
    assert len(HEMLOCK_PHOTOS) >= 5


# --- refused formats and damaged data -------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(encode(photo(32, 32), "WEBP"), id="webp"),
        pytest.param(encode(photo(32, 32), "TIFF"), id="tiff"),
        pytest.param(b"This is not an image, just some text.\n", id="text"),
        pytest.param(bytes(range(256)) * 8, id="random-bytes"),
        pytest.param(b"BM" + b"\x00" * 64, id="bmp-magic-only"),
    ],
)
def test_unaccepted_or_unrecognisable_formats_are_refused(data: bytes) -> None:
    error = refused(data)

    assert (error.code, error.create_status) == (Code.BAD_REQUEST_IMAGE_FORMAT, "ErrorImageFormat")
    assert error.status == 400


def test_format_message_lists_accepted_formats() -> None:
    assert "JPEG, PNG, BMP, GIF" in refused(b"hello").message


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "BMP"])
def test_truncated_images_are_refused(fmt: str) -> None:
    data = encode(photo(300, 200).convert("P") if fmt == "GIF" else photo(300, 200), fmt)

    error = refused(data[: int(len(data) * 0.6)])

    assert (error.code, error.create_status) == (Code.BAD_REQUEST_IMAGE_FORMAT, "ErrorImageFormat")
    assert "truncated or corrupt" in error.message


def test_png_without_its_end_chunk_is_refused() -> None:
    data = encode(photo(40, 30), "PNG")
    assert data.endswith(b"IEND\xaeB`\x82")

    assert refused(data[:-12]).create_status == "ErrorImageFormat"


def test_load_truncated_images_set_globally_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
        inspect_image(encode(photo(8, 8), "PNG"))


# --- byte size ------------------------------------------------------------------------------


def test_oversized_bytes_are_refused() -> None:
    data = encode(photo(64, 64), "PNG")

    error = refused(data, max_bytes=len(data) - 1)

    assert (error.code, error.create_status) == (Code.BAD_REQUEST_IMAGE_SIZE_BYTES, "ErrorImageSize")


def test_size_message_names_the_limit_in_mb() -> None:
    just_over = b"\xff\xd8\xff" + bytes(6 * 1024 * 1024)  # refused on length alone, never parsed

    assert refused(just_over).message == "Image is 6.1 MB; the limit is 6 MB."


def test_empty_data_is_refused_as_a_size_error() -> None:
    assert refused(b"").code == Code.BAD_REQUEST_IMAGE_SIZE_BYTES


# --- dimensions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(png_with_header(50_000, 50_000), id="png-50000x50000"),
        pytest.param(png_with_header(10_000, 10_000), id="png-over-pixel-limit"),  # Pillow only warns
        pytest.param(png_with_header(10_241, 10), id="png-side-over-10240"),
        pytest.param(png_with_header(0, 10), id="png-zero-width"),
        pytest.param(gif_with_frame((10, 10), (10_000, 10_000)), id="gif-frame-outgrows-screen"),
        pytest.param(gif_with_frame((10, 10), (30_000, 30_000)), id="gif-frame-bomb"),
    ],
)
def test_bombs_and_oversized_headers_are_refused_before_decoding(data: bytes) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = refused(data)

    assert (error.code, error.create_status) == (Code.BAD_REQUEST_IMAGE_DIMENSIONS, "ErrorImageDimensions")
    assert error.__cause__ is None  # our header check, not a Pillow error converted afterwards
    assert caught == []


def test_extreme_aspect_ratio_is_refused() -> None:
    error = refused(encode(photo(300, 10), "PNG"))  # 30:1

    assert (error.code, error.create_status) == (Code.BAD_REQUEST_IMAGE_ASPECT_RATIO, "ErrorImageDimensions")


# --- EXIF orientation -----------------------------------------------------------------------


def rotated_jpeg() -> bytes:
    """A 40x20 JPEG, red left half and blue right half, tagged "rotate 90 clockwise" (6)."""
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(img, "JPEG", exif=exif, quality=95)


def assert_close(pixel: tuple[int, ...], expected: tuple[int, int, int]) -> None:
    assert all(abs(a - b) < 40 for a, b in zip(pixel, expected, strict=True)), pixel


def test_exif_orientation_swaps_reported_sides() -> None:
    info = inspect_image(rotated_jpeg())

    assert (info.width, info.height) == (20, 40)


def test_render_rendition_applies_orientation_and_scales() -> None:
    out = Image.open(io.BytesIO(render_rendition(rotated_jpeg(), max_side=20)))

    assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (10, 20))
    assert_close(out.getpixel((5, 2)), (255, 0, 0))  # the left (red) half is now on top
    assert_close(out.getpixel((5, 17)), (0, 0, 255))


def test_load_rgb_applies_orientation() -> None:
    img = load_rgb(rotated_jpeg())

    assert (img.mode, img.size) == ("RGB", (20, 40))
    assert_close(img.getpixel((10, 5)), (255, 0, 0))


# --- render_rendition and load_rgb ------------------------------------------------------------


def test_render_rendition_downscales_a_big_jpeg_to_the_longer_side() -> None:
    out = Image.open(io.BytesIO(render_rendition(encode(photo(2000, 1500), "JPEG"), max_side=256)))

    assert out.size == (256, 192)


def test_render_rendition_composites_rgba_on_white() -> None:
    img = Image.new("RGBA", (600, 300), (0, 0, 0, 0))
    img.paste((0, 128, 0, 255), (0, 0, 300, 300))

    out = Image.open(io.BytesIO(render_rendition(encode(img, "PNG"), max_side=256)))

    assert (out.mode, out.size) == ("RGB", (256, 128))
    assert_close(out.getpixel((200, 64)), (255, 255, 255))
    assert_close(out.getpixel((50, 64)), (0, 128, 0))


def test_render_rendition_never_upscales_a_palette_gif() -> None:
    img = Image.new("P", (100, 50), 1)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    img.paste(0, (50, 0, 100, 50))
    data = encode(img, "GIF", transparency=0)

    out = Image.open(io.BytesIO(render_rendition(data, max_side=1024)))

    assert (out.mode, out.size) == ("RGB", (100, 50))
    assert_close(out.getpixel((25, 25)), (255, 0, 0))
    assert_close(out.getpixel((75, 25)), (255, 255, 255))  # transparent -> white


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16"])
def test_load_rgb_gives_rgb_for_every_mode(mode: str) -> None:
    img = load_rgb(encode(photo(24, 16).convert(mode), "PNG"))

    assert (img.mode, img.size) == ("RGB", (24, 16))


def test_variants_of_refused_data_raise_invalid_image() -> None:
    with pytest.raises(InvalidImage):
        render_rendition(png_with_header(50_000, 50_000), max_side=256)
    with pytest.raises(InvalidImage):
        load_rgb(b"not an image")


# --- decode memory ------------------------------------------------------------------------------


@functools.cache
def largest_transparent_png() -> bytes:
    """An RGBA PNG of exactly MAX_IMAGE_PIXELS, all transparent (250 KB; 262 MB decoded)."""
    width, height = 10_240, MAX_IMAGE_PIXELS // 10_240
    packer = zlib.compressobj(1)
    idat = b"".join(packer.compress(bytes(1 + 4 * width)) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_model_image_of_the_largest_image_keeps_a_few_times_the_input_size() -> None:
    data = largest_transparent_png()
    with model_image(data, min_side=224, max_bytes=MAX_IMAGE_BYTES_PREDICTION) as decoded:
        assert (decoded.width, decoded.height) == (10_240, 6_400)  # the original's, for the record
        assert min(decoded.image.size) >= 3 * 224 and max(decoded.image.size) <= 6 * 224
        assert decoded.image.mode == "RGB"
        assert decoded.image.getpixel((5, 5)) == (255, 255, 255)  # transparency on white


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "P", "I;16"])
def test_model_image_resizes_as_the_whole_image_would(mode: str) -> None:
    """The box reduction before the model's resize is invisible: within one level of 255 on average."""
    img = photo(1500, 1400).convert("RGBA")
    img.putalpha(Image.linear_gradient("L").resize(img.size))
    img = img.convert("I;16") if mode == "I;16" else img.convert(mode)
    data = encode(img, "PNG")
    whole = np.asarray(preprocess(load_rgb(data), 224))
    with model_image(data, min_side=224, max_bytes=64 * 1024 * 1024) as decoded:
        assert decoded.image.size[0] < 1500
        reduced = np.asarray(preprocess(decoded.image, 224))
    assert float(np.abs(whole - reduced).mean()) < 1.0


def test_decode_budget_queues_decodes_that_do_not_fit() -> None:
    budget = DecodeBudget(100)
    order: list[str] = []
    first_holds = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with budget.held(60):
            first_holds.set()
            release_first.wait(5)
            order.append("first done")

    def second() -> None:
        first_holds.wait(5)
        with budget.held(60):
            order.append("second ran")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_holds.wait(5)
    time.sleep(0.1)
    assert order == [] and budget.used == 60  # the second waits for room
    release_first.set()
    for thread in threads:
        thread.join(5)
    assert order == ["first done", "second ran"] and budget.used == 0
    with budget.held(10_000):  # larger than the whole budget: runs alone, never waits forever
        assert budget.used == 100


def test_a_prediction_of_the_largest_image_fits_the_default_budget() -> None:
    _, img = _open_checked(largest_transparent_png())
    cost = decode_cost(img, (10_240 // (3 * 224), 6_400 // (3 * 224)))  # as model_image reduces it
    assert 262_144_000 <= cost < DEFAULT_DECODE_MEMORY_BYTES


def test_a_progressive_jpeg_costs_its_coefficients_whatever_the_draft_scale() -> None:
    """libjpeg buffers every DCT coefficient of a multi-scan JPEG at full size (about 2 bytes per
    pixel per component, measured: 385 MB for 10,240 x 6,400 at 4:4:4), even when decoding at 1/8."""
    costs = {}
    for progressive in (False, True):
        out = io.BytesIO()
        Image.new("RGB", (4_096, 2_048), (120, 30, 200)).save(out, "JPEG", progressive=progressive, subsampling=0)
        _, img = _open_checked(out.getvalue())
        size = img.size
        img.draft("RGB", (224, 224))
        costs[progressive] = decode_cost(img, (1, 1), size)
    assert costs[False] < 4_096 * 2_048  # streamed at 1/8 scale: a fraction of a byte per pixel
    assert costs[True] >= 2 * 3 * 4_096 * 2_048


def test_decode_budget_serves_in_arrival_order() -> None:
    """A small decode that would fit waits behind a large one that came first (no starvation)."""
    budget = DecodeBudget(100)
    order: list[str] = []
    started = {name: threading.Event() for name in ("large", "small")}

    def decode(name: str, cost: int) -> None:
        started[name].set()
        with budget.held(cost):
            order.append(name)

    with budget.held(60):
        large = threading.Thread(target=decode, args=("large", 60))
        large.start()
        started["large"].wait(5)
        time.sleep(0.1)
        small = threading.Thread(target=decode, args=("small", 10))
        small.start()
        started["small"].wait(5)
        time.sleep(0.1)
        assert order == []  # 10 bytes would fit, but the large decode is first in line
    large.join(5)
    small.join(5)
    assert order == ["large", "small"]
