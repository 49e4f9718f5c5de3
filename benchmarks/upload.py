"""Upload throughput, server memory as a project grows, and listing cost at size.

Against a real ``cvstudio serve`` subprocess (``tests.servers.start_server``) on a fresh data dir:

1. uploads ``--images`` unique ~200 KB JPEG photos (1024x768, made from the quickstart's Hemlock
   and Japanese Cherry samples plus mild noise) in 64-image ``CreateImagesFromFiles`` batches, as
   the SDK sends them: JSON with base64 contents, ``Training-Key`` header. Each image is made unique
   cheaply by a JPEG COM segment holding a counter right after SOI (the server dedupes by sha256);
   the COM segment is a multiple of 3 bytes long, so the base64 of the unchanged tail is computed
   once per base photo and each body is a join of ready bytes: the client's own cost stays small
   and is reported;
2. samples the server's RSS (with children) every 0.2 s and reads it after ~1,000 images and at
   the end;
3. times ``GET /images?take=256``, ``/images/count`` and ``/tags`` (with imageCount) at full size.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import math
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from PIL import Image, ImageChops, ImageOps

__all__ = ["add_arguments", "run"]

from benchmarks import Row, at_least, median, progress
from benchmarks._support import RssSampler, rss_bytes

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "fixtures" / "custom-vision-samples" / "ImageClassification" / "Images"
CLASSES = ("Hemlock", "Japanese_Cherry")
TRAINING = "/customvision/v3.4-preview/training"

SIZE = (1024, 768)
QUALITY = 90
TARGET_BYTES = 200 * 1024
BATCH = 64
DEFAULT_IMAGES = 10_000
QUICK_IMAGES = 1_000
EARLY_CHECKPOINT = 1_000
SAMPLE_EVERY_S = 0.2
LISTING_REPEATS = 5

TARGET_RATE = 100.0  # images/s, on 2 cores
FLAT_GROWTH = 0.20  # RSS growth from ~1,000 images to the end that still counts as flat

_SOI = b"\xff\xd8"
_COM = b"\xff\xfe"
_PAYLOAD = "cvstudio-bench {:09d}"  # 24 bytes: SOI + COM marker/length + payload = 30, a multiple of 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("upload")
    group.add_argument(
        "--images",
        type=int,
        default=None,
        help=f"images to upload, in full batches of {BATCH} (default {DEFAULT_IMAGES:,}; --quick: {QUICK_IMAGES:,})",
    )
    group.add_argument(
        "--upload-concurrency",
        type=int,
        default=1,
        help="upload batches in flight at once (default 1: one client uploading in a loop, as the SDK quickstart does)",
    )
    group.add_argument("--keep-data", action="store_true", help="keep the server's temporary data dir")


# -- images ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BasePhoto:
    """A realistic JPEG, and the base64 of everything after its SOI marker."""

    tag: str  # class name
    data: bytes
    tail_b64: bytes


def _photo(path: Path) -> bytes:
    """``path`` as a 1024x768 photo at quality 90, with just enough noise to weigh ~200 KB."""
    with Image.open(path) as img:
        rgb = ImageOps.fit(ImageOps.exif_transpose(img).convert("RGB"), SIZE, Image.Resampling.LANCZOS)

    def encode(sigma: float) -> bytes:
        out = io.BytesIO()
        noisy = rgb
        if sigma > 0:
            noise = Image.effect_noise(SIZE, sigma).convert("RGB")
            noisy = ImageChops.add(rgb, noise, 1.0, -128)
        noisy.save(out, format="JPEG", quality=QUALITY)
        return out.getvalue()

    low, high = 0.0, 32.0
    best = encode(low)
    if len(best) >= TARGET_BYTES:
        return best
    for _ in range(12):  # bisect the noise level towards the target size
        sigma = (low + high) / 2
        data = encode(sigma)
        if abs(len(data) - TARGET_BYTES) < abs(len(best) - TARGET_BYTES):
            best = data
        if abs(len(data) - TARGET_BYTES) <= TARGET_BYTES * 0.02:
            break
        low, high = (sigma, high) if len(data) < TARGET_BYTES else (low, sigma)
    return best


def base_photos() -> list[BasePhoto]:
    photos: list[BasePhoto] = []
    for tag in CLASSES:
        for path in sorted((SAMPLES / tag).glob("*.jpg")):
            data = _photo(path)
            assert data.startswith(_SOI)
            photos.append(BasePhoto(tag, data, base64.b64encode(data[len(_SOI) :])))
    if not photos:
        raise RuntimeError(f"no sample photos under {SAMPLES}")
    return photos


def unique_header(counter: int) -> bytes:
    """SOI + a COM segment carrying ``counter``: 30 bytes, so its base64 ends on a group boundary."""
    payload = _PAYLOAD.format(counter).encode()
    header = _SOI + _COM + (len(payload) + 2).to_bytes(2, "big") + payload
    assert len(header) % 3 == 0, len(header)
    return header


def unique_image(base: BasePhoto, counter: int) -> bytes:
    return unique_header(counter) + base.data[len(_SOI) :]


def unique_b64(base: BasePhoto, counter: int) -> bytes:
    return base64.b64encode(unique_header(counter)) + base.tail_b64


def batch_body(photos: list[BasePhoto], tag_ids: dict[str, str], first: int, count: int) -> bytes:
    """A CreateImagesFromFiles body (as the SDK sends it) of images ``first`` .. ``first+count-1``.

    Built as one join of ready pieces, so the 270 KB base64 tails are copied once.
    """
    parts: list[bytes] = [b'{"images":[']
    for n in range(first, first + count):
        base = photos[n % len(photos)]
        if n > first:
            parts.append(b",")
        parts += (
            b'{"name":"bench-%d.jpg","contents":"' % n,
            base64.b64encode(unique_header(n)),
            base.tail_b64,
            b'","tagIds":["%s"]}' % tag_ids[base.tag].encode(),
        )
    parts.append(b"]}")
    return b"".join(parts)


def _self_check(photos: list[BasePhoto]) -> None:
    """The shortcut base64 equals the real one, bodies carry the right bytes, stamped photos decode."""
    data = unique_image(photos[0], 12345)
    assert base64.b64encode(data) == unique_b64(photos[0], 12345)
    assert data != unique_image(photos[0], 12346)
    body = json.loads(batch_body(photos, {t: "tag-" + t for t in CLASSES}, 12340, 8))
    for n, entry in enumerate(body["images"], 12340):
        base = photos[n % len(photos)]
        assert base64.b64decode(entry["contents"]) == unique_image(base, n)
        assert entry["tagIds"] == ["tag-" + base.tag]
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.size == SIZE and img.format == "JPEG"


# -- memory -----------------------------------------------------------------------------------------


# -- the run ----------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    first: int
    count: int
    build_s: float
    latency_s: float
    status: int
    ok: int
    errors: list[str]


def _upload_batch(
    client: httpx.Client, url: str, photos: list[BasePhoto], tag_ids: dict[str, str], first: int, count: int
) -> BatchResult:
    t0 = time.perf_counter()
    body = batch_body(photos, tag_ids, first, count)
    t1 = time.perf_counter()
    try:
        response = client.post(url, content=body, headers={"Content-Type": "application/json"})
    except httpx.HTTPError as exc:
        return BatchResult(first, count, t1 - t0, time.perf_counter() - t1, 0, 0, [f"{type(exc).__name__}: {exc}"])
    latency = time.perf_counter() - t1
    errors: list[str] = []
    ok = 0
    try:
        summary = response.json()
    except ValueError:
        summary = {}
    if response.status_code != 200 or summary.get("isBatchSuccessful") is not True:
        errors.append(f"HTTP {response.status_code}, isBatchSuccessful={summary.get('isBatchSuccessful')!r}")
    results = summary.get("images") or []
    for item in results:
        if item.get("status") == "OK":
            ok += 1
        else:
            errors.append(f"image status {item.get('status')!r}")
    if len(results) != count and not errors:
        errors.append(f"{len(results)} results for {count} images")
    return BatchResult(first, count, t1 - t0, latency, response.status_code, ok, errors)


def _timed_get(
    client: httpx.Client, url: str, params: dict[str, str] | None = None
) -> tuple[list[float], httpx.Response]:
    client.get(url, params=params).raise_for_status()  # warm-up
    times: list[float] = []
    response: httpx.Response | None = None
    for _ in range(LISTING_REPEATS):
        t0 = time.perf_counter()
        response = client.get(url, params=params)
        times.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
    assert response is not None
    return times, response


def _dir_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _batches(total: int) -> Iterator[tuple[int, int]]:
    for first in range(0, total, BATCH):
        yield first, BATCH


def run(args: argparse.Namespace) -> list[Row]:
    from tests.servers import TRAINING_KEY, start_server

    wanted = args.images or (QUICK_IMAGES if args.quick else DEFAULT_IMAGES)
    batches = math.ceil(wanted / BATCH)
    total = batches * BATCH
    early = EARLY_CHECKPOINT if total >= 2 * EARLY_CHECKPOINT else max(BATCH, (total // 4) // BATCH * BATCH)
    concurrency = max(1, args.upload_concurrency)

    t0 = time.monotonic()
    photos = base_photos()
    _self_check(photos)
    sizes = [len(unique_image(photos[n % len(photos)], n)) for n in range(total)]
    avg_kb = statistics.fmean(sizes) / 1024
    progress(
        f"upload: {len(photos)} base photos {SIZE[0]}x{SIZE[1]} q{QUALITY}, avg {avg_kb:.0f} KB "
        f"(min {min(sizes) / 1024:.0f}, max {max(sizes) / 1024:.0f}) in {time.monotonic() - t0:.1f} s; "
        f"{total:,} images in {batches} batches of {BATCH}"
    )

    tmp = Path(tempfile.mkdtemp(prefix="cvstudio-bench-upload-"))
    server = start_server(tmp / "data")
    try:
        process = psutil.Process(server.process.pid)
        rss_start = rss_bytes(process)
        base = f"{server.endpoint}{TRAINING}"
        with httpx.Client(headers={"Training-Key": TRAINING_KEY}, timeout=httpx.Timeout(300.0)) as client:
            project = client.post(f"{base}/projects", params={"name": "upload benchmark"})
            project.raise_for_status()
            project_id = project.json()["id"]
            tag_ids: dict[str, str] = {}
            for tag in CLASSES:
                made = client.post(f"{base}/projects/{project_id}/tags", params={"name": tag.replace("_", " ")})
                made.raise_for_status()
                tag_ids[tag] = made.json()["id"]
            url = f"{base}/projects/{project_id}/images/files"

            results: list[BatchResult] = []
            done = 0
            rss_early: int | None = None
            rss_early_at = 0
            next_report = 0.1
            with RssSampler(process, SAMPLE_EVERY_S) as sampler, ThreadPoolExecutor(max_workers=concurrency) as pool:
                started = time.perf_counter()
                for result in pool.map(lambda fc: _upload_batch(client, url, photos, tag_ids, *fc), _batches(total)):
                    results.append(result)
                    done += result.count
                    if rss_early is None and done >= early:
                        rss_early, rss_early_at = rss_bytes(process), done
                    if done / total >= next_report or result.errors:
                        rate = done / (time.perf_counter() - started)
                        errs = sum(len(r.errors) for r in results)
                        progress(f"upload: {done:,}/{total:,} images, {rate:.0f} images/s, {errs} errors")
                        next_report += 0.1
                elapsed = time.perf_counter() - started
                rss_end = rss_bytes(process)

            # Listing cost at this size.
            project_url = f"{base}/projects/{project_id}"
            list_ms, listed = _timed_get(client, f"{project_url}/images", {"take": "256"})
            count_ms, counted = _timed_get(client, f"{project_url}/images/count")
            tags_ms, tags = _timed_get(client, f"{project_url}/tags")
        rss_after_listing = rss_bytes(process)
        peak = max(sampler.peak, rss_end, rss_early or 0, rss_after_listing)
        store_bytes = _dir_bytes(tmp / "data")
    finally:
        server.stop()
        if args.keep_data:
            progress(f"upload: data kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    mb = 1024 * 1024
    ok = sum(r.ok for r in results)
    error_count = sum(len(r.errors) for r in results)
    first_errors = sorted({e for r in results for e in r.errors})[:3]
    latencies = sorted(r.latency_s * 1000 for r in results)
    build_ms = statistics.fmean(r.build_s * 1000 for r in results)
    rate = total / elapsed
    counted_n = counted.json()
    tag_counts = {t["name"]: t["imageCount"] for t in tags.json()}
    listed_n = len(listed.json())
    if counted_n != ok:
        first_errors.append(f"/images/count says {counted_n}, {ok} uploaded OK")
        error_count += 1
    if sum(tag_counts.values()) != ok:
        first_errors.append(f"/tags imageCounts sum to {sum(tag_counts.values())}, {ok} uploaded OK")
        error_count += 1
    cpus = os.cpu_count()
    client_note = (
        f"client: httpx, one pre-built SDK-shaped JSON body per batch (base64 contents, tagIds), "
        f"{concurrency} in flight; building a body took {build_ms:.0f} ms (in the wall time)"
    )
    early_mb, end_mb = (rss_early or 0) / mb, rss_end / mb
    growth = (rss_end - (rss_early or rss_end)) / (rss_early or rss_end)
    flat = growth < FLAT_GROWTH
    at = f"at {ok:,} images"
    p = statistics.quantiles(latencies, n=10) if len(latencies) >= 2 else latencies * 9

    rows = [
        Row(
            f"upload throughput ({BATCH}-image CreateImagesFromFiles batches)",
            rate,
            "images/s",
            f"≥ {TARGET_RATE:.0f} images/s on 2 cores",
            f"{total:,} images × avg {avg_kb:.0f} KB "
            f"({SIZE[0]}x{SIZE[1]} JPEG q{QUALITY}, unique by COM segment) "
            f"in {elapsed:.1f} s = {total * statistics.fmean(sizes) / mb / elapsed:.1f} MB/s of JPEG; "
            f"{cpus} CPUs here; {client_note}",
            at_least(rate, TARGET_RATE),
        ),
        Row(
            "upload batch latency p50",
            median(latencies),
            "ms",
            "",
            f"p90 {p[8]:.0f} ms, max {latencies[-1]:.0f} ms, min {latencies[0]:.0f} ms "
            f"over {len(latencies)} batches "
            f"(request sent → reply read)",
        ),
        Row(
            "upload errors",
            error_count,
            "",
            "0",
            f"{ok:,}/{total:,} images answered OK (HTTP 200, isBatchSuccessful true)"
            + (f"; e.g. {'; '.join(first_errors)}" if first_errors else ""),
            error_count == 0,
        ),
        Row(
            "server peak RSS during uploads",
            peak / mb,
            "MB",
            "",
            f"process + children, sampled every {SAMPLE_EVERY_S} s ({len(sampler.samples)} samples); "
            f"{rss_start / mb:.0f} MB idle before uploading",
        ),
        Row(
            f"server RSS after {rss_early_at:,} images",
            early_mb,
            "MB",
            "",
            "read right after that batch's reply",
        ),
        Row(
            f"server RSS after {total:,} images",
            end_mb,
            "MB",
            f"flat: < +{FLAT_GROWTH:.0%} vs {rss_early_at:,} images",
            f"growth {end_mb - early_mb:+.1f} MB ({growth:+.1%}): {'flat' if flat else 'NOT flat'}; "
            f"{rss_after_listing / mb:.0f} MB after the listing calls",
            flat,
        ),
        Row(
            f"GET /images?take=256 {at}",
            median(list_ms),
            "ms",
            "",
            f"median of {LISTING_REPEATS} (min {min(list_ms):.0f}, max {max(list_ms):.0f}); "
            f"{listed_n} images, "
            f"{len(listed.content) / 1024:.0f} KB of JSON",
        ),
        Row(
            f"GET /images/count {at}",
            median(count_ms),
            "ms",
            "",
            f"median of {LISTING_REPEATS} (min {min(count_ms):.1f}, max {max(count_ms):.1f}); answered {counted_n:,}",
        ),
        Row(
            f"GET /tags (with imageCount) {at}",
            median(tags_ms),
            "ms",
            "",
            f"median of {LISTING_REPEATS} (min {min(tags_ms):.1f}, max {max(tags_ms):.1f}); "
            + ", ".join(f"{name}: {n:,}" for name, n in tag_counts.items()),
        ),
        Row(
            f"data dir on disk {at}",
            store_bytes / mb,
            "MB",
            "",
            f"{(store_bytes - ok * statistics.fmean(sizes)) / max(ok, 1) / 1024:.1f} KB per image "
            f"over the JPEG bytes "
            f"(SQLite metadata, WAL, files)",
        ),
    ]
    return rows
