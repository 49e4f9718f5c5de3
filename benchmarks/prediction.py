"""Prediction latency and throughput through HTTP, beside the bare model's own time.

Against a real ``cvstudio serve`` (default role: both APIs) on a fresh data dir:

1. trains and publishes two iterations through the SDK: a classifier (Hemlock / Japanese Cherry,
   General (compact)) and a detector (fork / scissors, General (compact) object detection);
2. for each, sends a 640x480 JPEG (a quickstart photo, resized) to
   ``POST .../{classify|detect}/iterations/{name}/image/nostore`` with raw httpx, as the SDK
   does (one multipart ``imageData`` part, ``Prediction-Key``; the body is built once): 1 client
   (sequential requests after a warm-up; p50, p99) and 8 concurrent clients (threads, each with
   its own ``httpx.Client``; throughput, p50, p99, and the CPU the server and this client
   process used meanwhile); the errors among every request sent, warm-ups included, and how
   many were sent, per model and over both models;
3. times, in this process, the bare onnxruntime session on the same preprocessed input (the
   model taken from the ONNX export zip, loaded with :class:`shared.vision.inference.OnnxModel`
   with the server's thread settings) and the decode + preprocess step
   (``model_image`` + ``preprocess``);
4. reads the server's RSS (with children) after the runs;
5. times each step of a request's server-side work in this process against the same data dir
   (publish-name lookup, multipart parse, tag lookup, the whole ``PredictionService.predict``,
   the response model), and an empty HTTP round trip (``GET /healthz``), so a missed target
   shows where the time goes.

Targets on 2 cores: classification p50 ≤ 1.5 × (bare model + decode/preprocess); ≥ 100
classifications/s with 8 clients; zero errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from PIL import Image, ImageOps

from benchmarks import Row, at_least, at_most, median, progress
from benchmarks._support import (
    GENERAL_COMPACT_CLASSIFICATION,
    GENERAL_COMPACT_DETECTION,
    PREDICTION_PATH,
    attempt,
    cutlery_images,
    cutlery_regions,
    export_onnx,
    host_load,
    model_pixels,
    multipart_body,
    percentile,
    publish,
    server_exited,
    serving,
    train,
    training_client,
    tree_images,
    unique,
    upload,
)

__all__ = ["add_arguments", "run"]

SIZE = (640, 480)
QUALITY = 90
WARMUP = 20
SEQUENTIAL = 300
QUICK_SEQUENTIAL = 100
CLIENTS = 8
PER_CLIENT = 150
QUICK_PER_CLIENT = 50
IN_PROCESS_REPEATS = 200
QUICK_IN_PROCESS_REPEATS = 60
TRAINING_TIMEOUT_S = 2400.0

P50_FACTOR = 1.5  # classification p50 ≤ this × (bare model + decode/preprocess)
TARGET_RATE = 100.0  # classifications/s with 8 clients, on 2 cores


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("prediction")
    group.add_argument(
        "--sequential",
        type=int,
        default=None,
        help=f"sequential requests per model, 1 client (default {SEQUENTIAL}; --quick: {QUICK_SEQUENTIAL})",
    )
    group.add_argument(
        "--per-client",
        type=int,
        default=None,
        help=f"requests per client with {CLIENTS} clients (default {PER_CLIENT}; --quick: {QUICK_PER_CLIENT})",
    )
    group.add_argument("--keep-prediction-data", action="store_true", help="keep the server's temporary data dir")


# -- the image and the models -----------------------------------------------------------------------


def photo(path: Path) -> bytes:
    """``path`` as a 640x480 JPEG at quality 90."""
    with Image.open(path) as img:
        rgb = ImageOps.fit(ImageOps.exif_transpose(img).convert("RGB"), SIZE, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=QUALITY)
    return out.getvalue()


@dataclass
class Published:
    task: str  # "classify" | "detect"
    project_id: str
    iteration_id: str
    publish_name: str
    train_s: float


def _train_classifier(client: Any) -> Published:
    from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateEntry

    project = client.create_project(unique("bench predict trees"), domain_id=GENERAL_COMPACT_CLASSIFICATION)
    entries = []
    for tag, paths in tree_images().items():
        tag_id = client.create_tag(project.id, tag.replace("_", " ")).id
        entries += [ImageFileCreateEntry(name=p.name, contents=p.read_bytes(), tag_ids=[tag_id]) for p in paths]
    upload(client, project.id, entries)
    trained = train(client, project.id, timeout_s=TRAINING_TIMEOUT_S, label="prediction: classifier")
    if not trained.ok:
        raise RuntimeError(f"training the classifier failed: {trained.failure}")
    publish(client, trained, "classifyBench")
    return Published("classify", project.id, trained.iteration.id, "classifyBench", trained.seconds)


def _train_detector(client: Any) -> Published:
    from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateEntry, Region

    regions = cutlery_regions()
    project = client.create_project(unique("bench predict cutlery"), domain_id=GENERAL_COMPACT_DETECTION)
    entries = []
    for tag, paths in cutlery_images().items():
        tag_id = client.create_tag(project.id, tag).id
        for path in paths:
            box = regions[f"{tag}/{path.name}"]
            region = Region(tag_id=tag_id, left=box["left"], top=box["top"], width=box["width"], height=box["height"])
            entries.append(ImageFileCreateEntry(name=path.name, contents=path.read_bytes(), regions=[region]))
    upload(client, project.id, entries)
    trained = train(client, project.id, timeout_s=TRAINING_TIMEOUT_S, label="prediction: detector")
    if not trained.ok:
        raise RuntimeError(f"training the detector failed: {trained.failure}")
    publish(client, trained, "detectBench")
    return Published("detect", project.id, trained.iteration.id, "detectBench", trained.seconds)


# -- HTTP load ----------------------------------------------------------------------------------------


@dataclass
class Load:
    latencies_ms: list[float]  # the timed requests answered 200 with predictions
    errors: list[str]  # the timed requests that were not
    wall_s: float
    server_cpu_s: float
    client_cpu_s: float
    timed: int  # timed requests sent
    warmups: int  # untimed warm-up requests sent before them
    warmup_errors: list[str]

    @property
    def sent(self) -> int:
        return self.timed + self.warmups

    @property
    def all_errors(self) -> list[str]:
        return self.errors + self.warmup_errors

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q) if self.latencies_ms else float("nan")


@dataclass
class Tally:
    """Every prediction request this benchmark sent over HTTP (timed and warm-up), and the errors
    among them, by model: the last row reports them."""

    sent: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def row(self) -> Row:
        sent, errors = sum(self.sent.values()), sum(self.errors.values())
        per_model = "; ".join(f"{task}: {self.errors[task]} of {n:,}" for task, n in self.sent.items())
        return Row(
            f"prediction errors over all {sent:,} requests sent",
            errors,
            "",
            "0",
            f"{per_model} (each model: 1 client and {CLIENTS} clients, timed and warm-up requests; an error is "
            "anything but HTTP 200 with predictions)",
            errors == 0,
        )


def _cpu_seconds(process: psutil.Process) -> float:
    total = 0.0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def _send(client: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> tuple[float, str | None]:
    t0 = time.perf_counter()
    try:
        response = client.post(url, content=body, headers=headers)
        response.read()
    except httpx.HTTPError as exc:
        return (time.perf_counter() - t0) * 1000, f"{type(exc).__name__}: {exc}"
    elapsed = (time.perf_counter() - t0) * 1000
    if response.status_code != 200:
        return elapsed, f"HTTP {response.status_code}: {response.text[:120]}"
    if not response.json().get("predictions"):
        return elapsed, "no predictions in the answer"
    return elapsed, None


def _load(
    server: psutil.Process, url: str, body: bytes, headers: dict[str, str], clients: int, per_client: int
) -> Load:
    """``clients`` threads, each with its own ``httpx.Client``, each sending ``per_client`` requests
    after ``WARMUP // clients`` (at least 1) untimed ones; started together."""
    barrier = threading.Barrier(clients + 1)
    results: list[list[tuple[float, str | None]]] = [[] for _ in range(clients)]
    warmups = max(1, WARMUP // clients)
    warmup_errors: list[list[str]] = [[] for _ in range(clients)]

    def worker(n: int) -> None:
        with httpx.Client(timeout=httpx.Timeout(60.0)) as client:
            for _ in range(warmups):
                _, error = _send(client, url, body, headers)
                if error:
                    warmup_errors[n].append(error)
            barrier.wait()
            results[n] = [_send(client, url, body, headers) for _ in range(per_client)]

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    me = psutil.Process()
    server_cpu, client_cpu = _cpu_seconds(server), _cpu_seconds(me)
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    server_cpu, client_cpu = _cpu_seconds(server) - server_cpu, _cpu_seconds(me) - client_cpu
    flat = [r for rs in results for r in rs]
    return Load(
        [ms for ms, err in flat if err is None],
        [err for _, err in flat if err],
        wall,
        server_cpu,
        client_cpu,
        timed=clients * per_client,
        warmups=clients * warmups,
        warmup_errors=[e for es in warmup_errors for e in es],
    )


# -- in-process timings ---------------------------------------------------------------------------------


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return median(times)


@dataclass
class Bare:
    model_ms: float  # session.run on the preprocessed [1, 3, S, S] input
    decode_ms: float  # model_image + preprocess
    size: int
    threads: str
    onnx: bytes
    batch: Any  # the preprocessed input, np.ndarray [1, 3, S, S]


def _model_rate(onnx: bytes, batch: Any, *, threads: int | None, spinning: bool, callers: int, seconds: float) -> float:
    """Runs per second of one onnxruntime session called from ``callers`` threads at once (as the
    server's threadpool calls it under concurrent requests), with these session settings."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(onnx, sess_options=options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for _ in range(3):
        session.run(None, {name: batch})
    counts = [0] * callers
    stop = time.perf_counter() + seconds

    def call(n: int) -> None:
        while time.perf_counter() < stop:
            session.run(None, {name: batch})
            counts[n] += 1

    t0 = time.perf_counter()
    workers = [threading.Thread(target=call, args=(n,)) for n in range(callers)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - t0)


def _bare(client: Any, published: Published, data: bytes, repeats: int) -> Bare:
    from shared.vision.inference import ModelCache, OnnxModel
    from shared.vision.preprocess import preprocess

    onnx = export_onnx(client, published.project_id, published.iteration_id)
    threads = ModelCache()._threads  # the server's ModelCache() is built with its defaults
    model = OnnxModel(onnx, threads=threads)
    side = getattr(model, "decode_side", model.size)  # what PredictionService.predict decodes to
    image = model_pixels(data, side)
    batch = preprocess(image, model.size)[None]
    model_ms = _median_ms(lambda: model.run(batch), repeats)
    decode_ms = _median_ms(
        lambda: preprocess(model_pixels(data, side), model.size),
        repeats,
    )
    label = "onnxruntime default" if threads is None else str(threads)
    return Bare(model_ms, decode_ms, model.size, label, onnx, batch)


def _server_steps(
    data_dir: Path, published: Published, body: bytes, content_type: str, repeats: int
) -> dict[str, float]:
    """Each server-side step of one ``image/nostore`` request, timed here (median ms) against the
    server's own data dir with the product's own services."""
    from shared.api.multipart import read_image_parts
    from shared.api.wire.predictions import image_prediction_out
    from shared.bootstrap import build_services
    from shared.domain.enums import Task
    from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION
    from shared.settings import Settings
    from tests.servers import PREDICTION_KEY, TRAINING_KEY

    services = build_services(Settings(data_dir=data_dir, training_key=TRAINING_KEY, prediction_key=PREDICTION_KEY))
    predictions = services.predictions
    pid, name = published.project_id, published.publish_name
    iteration = services.publishing.published_iteration(pid, name)
    task = Task.CLASSIFICATION if published.task == "classify" else Task.DETECTION

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 65_536):  # uvicorn hands the body over in chunks of this order
            yield body[start : start + 65_536]

    loop = asyncio.new_event_loop()  # one loop, as in the server: asyncio.run would time loop set-up too

    def parse() -> bytes:
        parts = loop.run_until_complete(
            read_image_parts(content_type, chunks(), max_parts=1, max_part_bytes=MAX_IMAGE_BYTES_PREDICTION)
        )
        return parts[0].data

    data = parse()
    model = predictions.model(iteration)
    side = getattr(model, "decode_side", model.size)
    result = predictions.predict(iteration, data, task=task)
    steps = {
        "publish-name lookup (published_iteration)": _median_ms(
            lambda: services.publishing.published_iteration(pid, name), repeats
        ),
        "multipart parse (read_image_parts)": _median_ms(parse, repeats),
        "tag lookup (tag_names)": _median_ms(lambda: predictions.tag_names(iteration), repeats),
        "decode (model_image)": _median_ms(lambda: model_pixels(data, side), repeats),
        "model (OnnxModel.classify/detect incl. resize)": _median_ms(
            (lambda: model.classify(model_pixels(data, side)))
            if published.task == "classify"
            else (lambda: model.detect(model_pixels(data, side))),
            repeats,
        ),
        "PredictionService.predict (all of the above but the name lookup and parse)": _median_ms(
            lambda: predictions.predict(iteration, data, task=task), repeats
        ),
        "response model (image_prediction_out + JSON)": _median_ms(
            lambda: image_prediction_out(result).model_dump_json(by_alias=True), repeats
        ),
    }
    steps["model (OnnxModel.classify/detect incl. resize)"] -= steps["decode (model_image)"]
    loop.close()
    with contextlib.suppress(Exception):
        services.meta.close()  # type: ignore[attr-defined]
    return steps


def _healthz_ms(endpoint: str, repeats: int) -> float:
    with httpx.Client() as client:
        return _median_ms(lambda: client.get(f"{endpoint}/healthz").raise_for_status(), repeats)


# -- the run ----------------------------------------------------------------------------------------


def _rss(process: psutil.Process) -> int:
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


def _measure(
    client: Any,
    server: Any,
    published: Published,
    data: bytes,
    sequential: int,
    per_client: int,
    repeats: int,
    tally: Tally,
) -> list[Row]:
    from tests.servers import PREDICTION_KEY

    task = published.task
    what = "classify" if task == "classify" else "detect"
    url = (
        f"{server.endpoint}{PREDICTION_PATH}/{published.project_id}/{task}/iterations/{published.publish_name}"
        "/image/nostore"
    )
    body, content_type = multipart_body(data)
    headers = {"Prediction-Key": PREDICTION_KEY, "Content-Type": content_type}
    process = psutil.Process(server.process.pid)

    progress(f"prediction: {what}: bare model and decode timings")
    bare = _bare(client, published, data, repeats)
    seconds = 3.0 if repeats < IN_PROCESS_REPEATS else 6.0
    rate_server = _model_rate(bare.onnx, bare.batch, threads=None, spinning=False, callers=CLIENTS, seconds=seconds)
    rate_single = _model_rate(bare.onnx, bare.batch, threads=1, spinning=False, callers=CLIENTS, seconds=seconds)
    progress(f"prediction: {what}: 1 client × {sequential}")
    one = _load(process, url, body, headers, 1, sequential)
    progress(f"prediction: {what}: {CLIENTS} clients × {per_client}")
    many = _load(process, url, body, headers, CLIENTS, per_client)
    load = host_load()
    progress(
        f"prediction: {what}: p50 {one.p(50):.1f} ms, {many.rate:.0f}/s with {CLIENTS} clients, "
        f"{len(one.all_errors) + len(many.all_errors)} errors in {one.sent + many.sent:,} requests"
    )

    floor = bare.model_ms + bare.decode_ms
    answered = max(1, len(many.latencies_ms))
    cpu_ms = many.server_cpu_s * 1000 / answered
    cores = os.cpu_count() or 1
    ceiling = cores * 1000 / cpu_ms if cpu_ms else float("nan")
    image_note = f"{SIZE[0]}x{SIZE[1]} JPEG q{QUALITY}, {len(data) / 1024:.0f} KB; model input {bare.size}²"
    errors = one.all_errors + many.all_errors
    sent = one.sent + many.sent
    tally.sent[task], tally.errors[task] = sent, len(errors)
    classify = task == "classify"
    rows = [
        Row(
            f"{what} p50, 1 client (HTTP, image/nostore)",
            one.p(50),
            "ms",
            f"≤ {P50_FACTOR:g} × (model + decode) = {P50_FACTOR * floor:.1f} ms" if classify else "",
            f"p99 {one.p(99):.1f} ms, min {min(one.latencies_ms, default=float('nan')):.1f} ms over "
            f"{len(one.latencies_ms)} sequential requests after {WARMUP} warm-up; {one.rate:.0f} requests/s; "
            f"{image_note}; {load}; server CPU {one.server_cpu_s / one.wall_s:.0%} of a core, client "
            f"{one.client_cpu_s / one.wall_s:.0%}",
            at_most(one.p(50), P50_FACTOR * floor) if classify else None,
        ),
        Row(f"{what} p99, 1 client", one.p(99), "ms", "", ""),
        Row(
            f"{what} server CPU per request ({CLIENTS} clients)",
            cpu_ms,
            "ms",
            "",
            f"server process + children CPU-s / requests answered: a cost that other work on the host "
            f"skews less than wall time; {cores} cores' worth of it is at most {ceiling:.0f} requests/s "
            f"with the clients elsewhere",
        ),
        Row(
            f"{what} throughput, {CLIENTS} clients",
            many.rate,
            "requests/s",
            f"≥ {TARGET_RATE:.0f}/s on 2 cores" if classify else "",
            f"{CLIENTS} threads × {per_client} requests, each its own httpx.Client; p50 {many.p(50):.1f} ms, "
            f"p99 {many.p(99):.1f} ms; in {many.wall_s:.1f} s the server used {many.server_cpu_s:.1f} CPU-s "
            f"({many.server_cpu_s / many.wall_s:.0%} of a core; {os.cpu_count()} cores here) and this client "
            f"process {many.client_cpu_s:.1f} CPU-s ({many.client_cpu_s / many.wall_s:.0%}; "
            f"{many.client_cpu_s * 1000 / answered:.1f} ms per request, on the same cores); {load}",
            at_least(many.rate, TARGET_RATE) if classify else None,
        ),
        Row(
            f"{what} errors over {sent:,} requests",
            len(errors),
            "",
            "0",
            f"sent: 1 client × ({one.warmups} warm-up + {one.timed} timed), {CLIENTS} clients × "
            f"({many.warmups // CLIENTS} warm-up + {per_client} timed); "
            f"{len(one.latencies_ms) + len(many.latencies_ms):,} of the {one.timed + many.timed:,} timed ones "
            "answered 200 with predictions" + (f"; e.g. {'; '.join(sorted(set(errors))[:2])}" if errors else ""),
            not errors,
        ),
        Row(
            f"{what} bare onnxruntime session.run",
            bare.model_ms,
            "ms",
            "",
            f"median of {repeats}, [1, 3, {bare.size}, {bare.size}] from the ONNX export zip, OnnxModel with "
            f"the server's threads ({bare.threads}), in this process",
        ),
        Row(
            f"{what} model-only throughput, {CLIENTS} threads, the server's session settings",
            rate_server,
            "runs/s",
            "",
            f"one session (intra-op threads: onnxruntime default, spinning off, as OnnxModel sets it) called from "
            f"{CLIENTS} threads for {seconds:g} s in this process: the model's own ceiling as the server runs it",
        ),
        Row(
            f"{what} model-only throughput, {CLIENTS} threads, intra_op_num_threads=1, no spinning",
            rate_single,
            "runs/s",
            "",
            "the same with intra_op_num_threads=1 and session.intra_op.allow_spinning=0: concurrent requests "
            "then run side by side instead of sharing (and spin-waiting in) one intra-op pool",
        ),
        Row(
            f"{what} decode + preprocess ({SIZE[0]}x{SIZE[1]} JPEG)",
            bare.decode_ms,
            "ms",
            "",
            f"median of {repeats}: model_image (JPEG draft to ≥ {bare.size} px) + preprocess",
        ),
    ]
    return rows


def _breakdown(server: Any, published: Published, data: bytes, repeats: int) -> list[Row]:
    body, content_type = multipart_body(data)
    steps = _server_steps(server.data_dir, published, body, content_type, repeats)
    rows = [
        Row(f"{published.task} step: {step}", ms, "ms", "", f"in-process median of {repeats}")
        for step, ms in steps.items()
    ]
    return rows


def _server_rows(server: Any, loaded: list[str], repeats: int) -> list[Row]:
    rss = _rss(psutil.Process(server.process.pid))
    return [
        Row(
            "prediction server RSS after the runs",
            rss / (1024 * 1024),
            "MB",
            "",
            f"cvstudio serve process + children (psutil), models loaded: {', '.join(loaded) or 'none'}",
        ),
        Row(
            "empty HTTP round trip (GET /healthz, 1 client)",
            _healthz_ms(server.endpoint, repeats),
            "ms",
            "",
            f"median of {repeats}: the uvicorn + FastAPI + httpx floor",
        ),
    ]


def run(args: argparse.Namespace) -> list[Row]:
    sequential = args.sequential or (QUICK_SEQUENTIAL if args.quick else SEQUENTIAL)
    per_client = args.per_client or (QUICK_PER_CLIENT if args.quick else PER_CLIENT)
    repeats = QUICK_IN_PROCESS_REPEATS if args.quick else IN_PROCESS_REPEATS
    trees = tree_images()
    images = {"classify": photo(trees["Hemlock"][0]), "detect": photo(cutlery_images()["fork"][0])}
    rows: list[Row] = []
    with serving("prediction", keep=args.keep_prediction_data) as server:
        client = training_client(server.endpoint)
        try:
            published: dict[str, Published] = {}
            tally = Tally()

            def setup(task: str, fn: Callable[[Any], Published]) -> list[Row]:
                progress(f"prediction: training the {task} model")
                published[task] = fn(client)
                return [
                    Row(
                        f"{task} model trained and published",
                        published[task].train_s,
                        "s",
                        "",
                        "train_project → Completed",
                    )
                ]

            # Each model is measured as soon as it is trained (the detector takes minutes to train).
            for task, trainer in (("classify", _train_classifier), ("detect", _train_detector)):
                attempt(f"prediction: training the {task} model", rows, lambda t=task, f=trainer: setup(t, f))
                if task in published:
                    attempt(
                        f"prediction: {task}",
                        rows,
                        lambda t=task: _measure(
                            client, server, published[t], images[t], sequential, per_client, repeats, tally
                        ),
                    )
            if tally.sent:
                rows.append(tally.row())
            if server.process.poll() is not None:
                rows.append(server_exited(server, "prediction server"))
                return rows
            attempt("prediction: server", rows, lambda: _server_rows(server, sorted(published), repeats))
            for task, model in published.items():
                attempt(
                    f"prediction: {task} breakdown",
                    rows,
                    lambda model=model, task=task: _breakdown(server, model, images[task], repeats),
                )
        finally:
            client.close()
    return rows
