"""Load: 8, 32 and 64 concurrent clients on prediction and on upload, on both stores, and the
server's peak memory under 64 parallel predictions of the costliest image it accepts.

For each store (the embedded SQLite + files, then Azure mode on Azurite + the Cosmos DB server on
loopback, as :mod:`benchmarks.stores` starts them), against a real ``cvstudio serve``:

1. trains and publishes the quickstart classifier (Hemlock / Japanese Cherry, Regular training,
   General (compact): the cheapest model the API trains), as :mod:`benchmarks.prediction` does;
2. for 8, 32 and 64 clients (threads, each with its own ``httpx.Client``, started together),
   each client sends one untimed warm-up request, then requests back to back for ``--load-seconds``:

   * classify: ``POST .../classify/iterations/{name}/image/nostore`` with one 640x480 JPEG (one
     multipart ``imageData`` part, ``Prediction-Key``);
   * upload: ``CreateImagesFromData`` (``POST .../images?tagIds=``) with one unique ~200 KB
     1024x768 JPEG per request (the upload benchmark's photos, unique by a JPEG COM segment),
     as the SDK's ``create_images_from_data`` sends it;

   and reports requests/s, p50 / p99 latency, the errors among every request sent (warm-ups
   included; an error is an exception or any answer but 200 with predictions / with
   ``isBatchSuccessful`` and the image ``OK``) and the server's peak RSS (process + children,
   sampled every 0.1 s during the step; RSS is seldom given back, so a step's peak includes what
   the steps before it left);
3. embedded only, on a restarted server (same data dir: a clean baseline): the costliest image
   the Prediction API accepts. Candidates at the most pixels the limits allow
   (``MAX_IMAGE_SIDE`` x ``MAX_IMAGE_PIXELS / MAX_IMAGE_SIDE``), all far under the byte limit
   (``MAX_IMAGE_BYTES_PREDICTION``) because they are one flat colour: PNG RGB, PNG RGBA, PNG
   16-bit grey, progressive JPEG 4:4:4. Each is decoded once in a fresh process with the
   product's prediction decode (``model_image``) + ``preprocess``
   (its peak RSS measured there); one the product refuses is tried again at half the pixels, and
   so on. The one costing most is then sent by 64 clients at once; the row is the server's peak
   RSS (sampled every 20 ms). A guard stops the server (SIGKILL) when it passes
   ``--load-memory-cap-mb``, so that a server that would take all of this shared machine's
   memory is stopped first; the row then says so.

Clients and server share this machine's CPUs (2 cores here): the clients' own CPU is in every
figure. Targets: 0 errors on every load row; peak RSS of the worst-case burst ≤ the prediction
app's instance memory in the Bicep deployment (``predictionInstanceMemoryMB``, 2,048 MB).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from PIL import Image

from benchmarks import Row, at_most, progress
from benchmarks._support import (
    PREDICTION_PATH,
    REPO,
    RssSampler,
    attempt,
    host_load,
    multipart_body,
    percentile,
    rss_bytes,
    serving,
    training_client,
    tree_images,
    tree_project,
)
from benchmarks.prediction import _send, _train_classifier, photo
from benchmarks.stores import _stack
from benchmarks.upload import TRAINING, BasePhoto, base_photos, unique_image

__all__ = ["add_arguments", "run"]

CLIENTS = (8, 32, 64)
STEP_S = 6.0
QUICK_STEP_S = 2.0
SAMPLE_EVERY_S = 0.1
BURST_CLIENTS = 64
BURST_SAMPLE_EVERY_S = 0.02
MEMORY_CAP_MB = 4_096  # the guard: this machine has ~23 GB and is shared
# The prediction app's instance memory in infra/bicep/main.bicep (predictionInstanceMemoryMB).
BURST_TARGET_MB = 2_048
TIMEOUT_S = 300.0
# A bounded decode may run the burst's 64 decodes a few at a time: the last answer can take minutes.
BURST_TIMEOUT_S = 900.0
MB = 1024 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("load")
    group.add_argument(
        "--load-seconds",
        type=float,
        default=None,
        help=f"seconds each load step runs, per client count (default {STEP_S:g}; --quick: {QUICK_STEP_S:g})",
    )
    group.add_argument(
        "--load-stores",
        default="embedded,azure",
        help="stores to load, comma-separated: embedded, azure (default both)",
    )
    group.add_argument(
        "--load-memory-cap-mb",
        type=int,
        default=MEMORY_CAP_MB,
        help=f"stop the server when its RSS passes this during the worst-case burst (default {MEMORY_CAP_MB:,})",
    )
    group.add_argument("--skip-burst", action="store_true", help="skip the worst-case image burst")
    group.add_argument(
        "--burst-image",
        default="",
        help="send this candidate in the burst instead of the costliest (a part of its name: RGBA, JPEG, ...)",
    )
    group.add_argument(
        "--burst-only", action="store_true", help="only the worst-case image burst (embedded: one training, no steps)"
    )


# -- memory ---------------------------------------------------------------------------------------------


# -- load steps -----------------------------------------------------------------------------------------

# One request: sent with the thread's client, answers None or the error.
Send = Callable[[httpx.Client], str | None]


@dataclass
class Step:
    kind: str  # "classify" | "upload"
    clients: int
    latencies_ms: list[float]  # the timed requests that succeeded
    errors: list[str]  # every request sent, warm-ups included
    timed: int
    warmups: int
    wall_s: float
    peak_rss: int
    samples: int

    @property
    def sent(self) -> int:
        return self.timed + self.warmups

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0


def _step(kind: str, clients: int, seconds: float, server: psutil.Process, headers: dict[str, str], send: Send) -> Step:
    """``clients`` threads, each a warm-up request then requests back to back for ``seconds``
    (the last one in flight at the deadline finishes and counts)."""
    started: list[float] = []
    barrier = threading.Barrier(clients + 1, action=lambda: started.append(time.perf_counter()))
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[list[str]] = [[] for _ in range(clients)]
    timed = [0] * clients

    def worker(n: int) -> None:
        with httpx.Client(headers=headers, timeout=httpx.Timeout(TIMEOUT_S)) as client:
            error = send(client)
            if error:
                errors[n].append(error)
            barrier.wait()
            deadline = started[0] + seconds
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                error = send(client)
                timed[n] += 1
                if error:
                    errors[n].append(error)
                else:
                    latencies[n].append((time.perf_counter() - t0) * 1000)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    with RssSampler(server, SAMPLE_EVERY_S) as peak:
        barrier.wait()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started[0]
    return Step(
        kind,
        clients,
        [ms for ms_list in latencies for ms in ms_list],
        [e for es in errors for e in es],
        sum(timed),
        clients,
        wall,
        peak.peak,
        len(peak.samples),
    )


def _classify_sender(url: str, data: bytes) -> tuple[dict[str, str], Send]:
    from tests.servers import PREDICTION_KEY

    body, content_type = multipart_body(data)
    headers = {"Prediction-Key": PREDICTION_KEY, "Content-Type": content_type}

    def send(client: httpx.Client) -> str | None:
        return _send(client, url, body, headers)[1]

    return {}, send


def _upload_sender(url: str, photos: list[BasePhoto], tag_ids: dict[str, str]) -> tuple[dict[str, str], Send]:
    from tests.servers import TRAINING_KEY

    counter = itertools.count(1)  # next() on it is atomic under the GIL: every image is unique

    def send(client: httpx.Client) -> str | None:
        n = next(counter)
        base = photos[n % len(photos)]
        body, content_type = multipart_body(unique_image(base, n))
        try:
            response = client.post(
                url, params={"tagIds": tag_ids[base.tag]}, content=body, headers={"Content-Type": content_type}
            )
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:120]}"
        summary = response.json()
        statuses = [image.get("status") for image in summary.get("images") or []]
        if summary.get("isBatchSuccessful") is not True or statuses != ["OK"]:
            return f"isBatchSuccessful={summary.get('isBatchSuccessful')!r}, statuses {statuses}"
        return None

    return {"Training-Key": TRAINING_KEY}, send


def _upload_target(endpoint: str) -> tuple[str, dict[str, str]]:
    """A fresh project with the two tags: (the CreateImagesFromData URL, tag ids by class)."""
    from tests.servers import TRAINING_KEY

    base = f"{endpoint}{TRAINING}"
    with httpx.Client(headers={"Training-Key": TRAINING_KEY}, timeout=httpx.Timeout(60.0)) as client:
        project_id, tag_ids = tree_project(client, base, "load benchmark")
    return f"{base}/projects/{project_id}/images", tag_ids


def _classify_url(endpoint: str, project_id: str, publish_name: str) -> str:
    return f"{endpoint}{PREDICTION_PATH}/{project_id}/classify/iterations/{publish_name}/image/nostore"


@dataclass
class Measured:
    steps: list[Step]
    train_s: float
    idle_rss: int  # after training and publishing, before the first step


def _load_store(store: str, server: Any, seconds: float, clients_list: tuple[int, ...]) -> tuple[Measured, Any]:
    """Train and publish, then every classify step, then every upload step; also returns the
    published classifier (the burst needs it)."""
    process = psutil.Process(server.process.pid)
    progress(f"load: {store}: training and publishing the classifier")
    published = _train_classifier(training_client(server.endpoint))
    _settle(process)
    idle = rss_bytes(process)
    steps: list[Step] = []
    url = _classify_url(server.endpoint, published.project_id, published.publish_name)
    headers, send = _classify_sender(url, photo(next(iter(tree_images().values()))[0]))
    for clients in clients_list:
        steps.append(_step("classify", clients, seconds, process, headers, send))
        progress(f"load: {store}: {_summary(steps[-1])}")
    if not clients_list:
        return Measured(steps, published.train_s, idle), published
    upload_url, tag_ids = _upload_target(server.endpoint)
    headers, send = _upload_sender(upload_url, base_photos(), tag_ids)
    for clients in clients_list:
        steps.append(_step("upload", clients, seconds, process, headers, send))
        progress(f"load: {store}: {_summary(steps[-1])}")
    return Measured(steps, published.train_s, idle), published


def _settle(process: psutil.Process, timeout_s: float = 30.0) -> None:
    """Wait for the trainer's child process to exit: the iteration reads Completed a moment before
    it does, and its memory would count in the first step's peak."""
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(psutil.Error):
        while process.children(recursive=True) and time.monotonic() < deadline:
            time.sleep(0.2)


def _summary(step: Step) -> str:
    lat = step.latencies_ms
    p50 = percentile(lat, 50) if lat else float("nan")
    p99 = percentile(lat, 99) if lat else float("nan")
    return (
        f"{step.kind}, {step.clients} clients: {step.rate:.1f}/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"{len(step.errors)} errors, peak {step.peak_rss / MB:.0f} MB"
    )


# -- the worst-case image -------------------------------------------------------------------------------


def _png(width: int, height: int, colour_type: int, bit_depth: int, pixel: bytes) -> bytes:
    """A flat-colour PNG, compressed row by row (the image is never held in memory)."""
    row = b"\x00" + pixel * width  # filter type 0, then the row's pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _progressive_jpeg(width: int, height: int) -> bytes:
    """Flat colour, progressive, no chroma subsampling: libjpeg keeps every coefficient of a
    progressive image until the end, whatever scale it decodes at."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (64, 128, 192)).save(
        out, format="JPEG", quality=1, progressive=True, subsampling=0
    )
    return out.getvalue()


CANDIDATES: dict[str, Callable[[int, int], bytes]] = {
    "PNG RGB 8-bit": lambda w, h: _png(w, h, 2, 8, b"\x40\x80\xc0"),
    "PNG RGBA 8-bit": lambda w, h: _png(w, h, 6, 8, b"\x40\x80\xc0\x80"),
    "PNG grey 16-bit": lambda w, h: _png(w, h, 0, 16, b"\x40\x80"),
    "progressive JPEG 4:4:4": _progressive_jpeg,
}

# Run in a fresh interpreter: the product's decode and resize of one image, and what they cost.
_PROBE = """
import json, sys
from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION
from shared.vision import images
from shared.vision.preprocess import INPUT_SIZE, preprocess


def high_water_kib():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


data = open(sys.argv[1], "rb").read()
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # resets VmHWM to the current RSS: the imports' own peak is forgotten
before = high_water_kib()
try:
    with images.model_image(data, min_side=INPUT_SIZE, max_bytes=MAX_IMAGE_BYTES_PREDICTION) as decoded:
        preprocess(decoded.image, INPUT_SIZE)
except Exception as exc:  # InvalidImage is the product refusing it; anything else, the probe broke
    key = "refused" if type(exc).__name__ == "InvalidImage" else "error"
    print(json.dumps({key: type(exc).__name__ + ": " + str(getattr(exc, "code", "") or exc)[:120]}))
else:
    print(json.dumps({"peak_kib": high_water_kib() - before}))
"""


@dataclass
class Candidate:
    name: str
    width: int
    height: int
    data: bytes
    peak: int | None  # bytes one decode + resize costs; None: refused, or the probe broke
    refused: str = ""
    probe_error: str = ""


def _probe(data: bytes, tmp: Path) -> dict[str, Any]:
    path = tmp / "candidate.bin"
    path.write_bytes(data)
    try:
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": "probe still decoding after 120 s"}
    if out.returncode != 0:  # the probe itself broke (not a refusal): say why
        return {"error": f"probe exited {out.returncode}: {' '.join(out.stderr.strip().splitlines()[-1:])}"}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _candidates(tmp: Path) -> list[Candidate]:
    """Each candidate at the most pixels the limits allow, halved until the product accepts it."""
    from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE

    found: list[Candidate] = []
    for name, make in CANDIDATES.items():
        width, height = MAX_IMAGE_SIDE, MAX_IMAGE_PIXELS // MAX_IMAGE_SIDE
        refused = ""
        for _ in range(6):
            data = make(width, height)
            if len(data) > MAX_IMAGE_BYTES_PREDICTION:
                refused = f"{len(data):,} bytes at {width}x{height}: over the byte limit"
                break
            result = _probe(data, tmp)
            if "error" in result:
                found.append(Candidate(name, width, height, data, None, refused, result["error"]))
                progress(f"load: {name}: {result['error']}")
                break
            if "refused" not in result:
                found.append(Candidate(name, width, height, data, int(result["peak_kib"]) * 1024, refused))
                progress(f"load: {name} {width}x{height} ({len(data):,} bytes): one decode costs "
                         f"{int(result['peak_kib']) / 1024:.0f} MB")  # fmt: skip
                break
            refused = f"{width}x{height} refused ({result['refused']})"
            progress(f"load: {name} {refused}")
            width, height = math.floor(width / math.sqrt(2)), math.floor(height / math.sqrt(2))
        else:
            found.append(Candidate(name, width, height, b"", None, refused))
    return found


@dataclass
class Burst:
    candidate: Candidate
    others: list[Candidate]
    idle_rss: int
    peak_rss: int
    after_rss: int | None  # 2 s after the last answer; None when the guard stopped the server
    samples: int
    capped: bool
    statuses: dict[str, int]
    wall_s: float
    costliest: bool  # False: chosen with --burst-image


def _burst(server: Any, published: Any, cap: int, tmp: Path, chosen: str = "") -> Burst:
    """The costliest accepted candidate (or the one whose name contains ``chosen``), sent by
    ``BURST_CLIENTS`` clients at once."""
    from tests.servers import PREDICTION_KEY

    candidates = _candidates(tmp)
    accepted = [c for c in candidates if c.peak is not None]
    unprobed = [c for c in candidates if c.probe_error]
    if accepted:
        worst = max(accepted, key=lambda c: c.peak or 0)
    elif unprobed:  # no measurement to choose by: the RGBA PNG, the costliest when this was written
        worst = next((c for c in unprobed if "RGBA" in c.name), unprobed[0])
    else:
        raise RuntimeError("every candidate was refused: " + "; ".join(f"{c.name}: {c.refused}" for c in candidates))
    if chosen:
        worst = next(c for c in candidates if chosen.lower() in c.name.lower() and c.data)
    url = _classify_url(server.endpoint, published.project_id, published.publish_name)
    headers = {"Prediction-Key": PREDICTION_KEY}
    with httpx.Client(headers=headers, timeout=httpx.Timeout(60.0)) as client:  # loads the model
        body, content_type = multipart_body(photo(next(iter(tree_images().values()))[0]))
        client.post(url, content=body, headers={"Content-Type": content_type}).raise_for_status()
    process = psutil.Process(server.process.pid)
    time.sleep(1.0)
    idle = rss_bytes(process)
    body, content_type = multipart_body(worst.data)
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(BURST_CLIENTS + 1)

    def worker() -> None:
        with httpx.Client(headers=headers, timeout=httpx.Timeout(BURST_TIMEOUT_S)) as client:
            barrier.wait()
            try:
                response = client.post(url, content=body, headers={"Content-Type": content_type})
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
        with lock:
            statuses[status] = statuses.get(status, 0) + 1

    progress(f"load: {BURST_CLIENTS} parallel classify calls of {worst.name} {worst.width}x{worst.height}")
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(BURST_CLIENTS)]
    for thread in threads:
        thread.start()
    with RssSampler(process, BURST_SAMPLE_EVERY_S, cap=cap) as peak:
        barrier.wait()
        t0 = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - t0
    after: int | None = None
    if not peak.capped:
        time.sleep(2.0)
        with contextlib.suppress(psutil.Error):
            after = rss_bytes(process)
    others = [c for c in candidates if c is not worst]
    costliest = not chosen
    return Burst(worst, others, idle, peak.peak, after, len(peak.samples), peak.capped, statuses, wall, costliest)


# -- rows -----------------------------------------------------------------------------------------------

WHERE = {"embedded": "embedded", "azure": "Azure mode"}
WHAT = {
    "classify": "classify (640x480 JPEG, image/nostore)",
    "upload": "upload (CreateImagesFromData, one ~200 KB JPEG)",
}


def _step_row(store: str, step: Step) -> Row:
    lat = step.latencies_ms
    timing = f"p50 {percentile(lat, 50):.0f} ms, p99 {percentile(lat, 99):.0f} ms" if lat else "no answers"
    first = sorted(set(step.errors))[:2]
    return Row(
        f"load: {WHAT[step.kind]}, {step.clients} clients, {WHERE[store]}",
        step.rate,
        "requests/s",
        "0 errors",
        f"{timing}; {len(step.errors)} errors of {step.sent:,} sent ({step.timed:,} timed over {step.wall_s:.1f} s "
        f"+ {step.warmups} warm-ups)"
        + (f", e.g. {'; '.join(first)}" if first else "")
        + f"; server peak RSS {step.peak_rss / MB:.0f} MB ({step.samples} samples, with children)",
        len(step.errors) == 0,
    )


def _burst_row(burst: Burst, cap_mb: int) -> Row:
    c = burst.candidate
    answered = ", ".join(f"{n} × {status}" for status, n in sorted(burst.statuses.items()))

    def cost(c: Candidate) -> str:
        if c.peak is not None:
            return f"{c.name} {c.width}x{c.height}: {c.peak / MB:.0f} MB"
        return f"{c.name}: {c.probe_error or c.refused}"

    others = "; ".join(cost(o) for o in burst.others)
    if burst.capped:
        value: float | str = f"> {cap_mb:,} MB"
        outcome = (
            f"the benchmark's guard killed the server when its RSS passed {cap_mb:,} MB "
            f"({burst.wall_s:.1f} s into the burst; answers before that: {answered or 'none'})"
        )
        met: bool | None = False
    else:
        value = burst.peak_rss / MB
        after = f"{burst.after_rss / MB:.0f} MB 2 s after the last answer" if burst.after_rss else ""
        outcome = f"answered {answered} in {burst.wall_s:.1f} s; {after}"
        met = at_most(value, BURST_TARGET_MB)
    return Row(
        f"server peak RSS, {BURST_CLIENTS} parallel classify calls of the "
        + ("costliest accepted image" if burst.costliest else f"image chosen with --burst-image ({c.name})"),
        value,
        "MB" if not burst.capped else "",
        f"≤ {BURST_TARGET_MB:,} MB (the prediction app's instance memory)",
        f"{c.name}, {c.width}x{c.height}, one flat colour, {len(c.data):,} bytes"
        + (f" (at full size: {c.refused})" if c.refused else "")
        + (
            f"; one decode + resize of it costs {c.peak / MB:.0f} MB in a fresh process"
            if c.peak is not None
            else f"; not measured alone ({c.probe_error})"
        )
        + f" (the others: {others}); "
        f"{burst.idle_rss / MB:.0f} MB idle before, with the model loaded; {outcome}; "
        f"embedded store, restarted server, {burst.samples} samples every {BURST_SAMPLE_EVERY_S * 1000:.0f} ms",
        met,
    )


def run(args: argparse.Namespace) -> list[Row]:
    seconds = args.load_seconds or (QUICK_STEP_S if args.quick else STEP_S)
    stores = [s.strip() for s in args.load_stores.split(",") if s.strip()]
    unknown = [s for s in stores if s not in WHERE]
    if unknown:
        raise ValueError(f"unknown store(s) {unknown}: choose from {', '.join(WHERE)}")
    if args.burst_only:
        stores = ["embedded"]
    clients_list = () if args.burst_only else CLIENTS
    cap = args.load_memory_cap_mb * MB
    measured: dict[str, Measured] = {}
    bursts: list[Burst] = []
    rows: list[Row] = []

    def embedded() -> list[Row]:
        with serving("load-embedded") as server:
            measured["embedded"], published = _load_store("embedded", server, seconds, clients_list)
            if args.skip_burst:
                return []
            # A fresh process on the same data dir: the burst's peak does not include the steps'.
            from tests.servers import start_server

            server.stop()
            restarted = start_server(server.data_dir)
            tmp = Path(tempfile.mkdtemp(prefix="cvstudio-bench-load-burst-"))
            try:
                bursts.append(_burst(restarted, published, cap, tmp, args.burst_image))
            finally:
                restarted.stop()
                shutil.rmtree(tmp, ignore_errors=True)
        return []

    def azure() -> list[Row]:
        with _stack() as stack:
            env = stack.settings_env(f"bench{uuid.uuid4().hex[:8]}")
            with serving("load-azure", extra_env=env) as server:
                measured["azure"], _ = _load_store("azure", server, seconds, clients_list)
        return []

    if "embedded" in stores:
        attempt("load: embedded", rows, embedded)
    if "azure" in stores:
        attempt("load: azure", rows, azure)
    for store, m in measured.items():
        rows += [_step_row(store, step) for step in m.steps]
    rows += [_burst_row(b, args.load_memory_cap_mb) for b in bursts]
    if any(m.steps for m in measured.values()):
        idle = ", ".join(f"{WHERE[s]} {m.idle_rss / MB:.0f} MB" for s, m in measured.items())
        rows.append(
            Row(
                "load: how it was measured",
                f"{seconds:g} s per step",
                "",
                "",
                f"clients are threads in this process, each with its own httpx.Client, sharing the server's "
                f"{os.cpu_count()} CPUs; each client's warm-up request, then requests back to back; "
                f"server RSS idle after training: {idle}; {host_load()}",
            )
        )
    return rows
