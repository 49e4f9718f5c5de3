"""What the training and prediction benchmarks share: a real server, the official SDK's training
client, training to completion, raw-HTTP prediction calls, and COCO AP50.

Not a benchmark itself (it is not listed in ``BENCHMARKS``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time
import traceback
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

from benchmarks import Row, progress

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "fixtures" / "custom-vision-samples"
TREES = SAMPLES / "ImageClassification" / "Images"
TREE_CLASSES = ("Hemlock", "Japanese_Cherry")
DETECTION = SAMPLES / "ObjectDetection"
CUTLERY = ("fork", "scissors")

PREDICTION_PATH = "/customvision/v3.0/prediction"
GENERAL_COMPACT_CLASSIFICATION = "0732100f-1a38-4e49-a514-c9b44c697ab5"
GENERAL_COMPACT_DETECTION = "a27d5ca5-bb19-49d8-a70a-fec086c47f5b"
UPLOAD_BATCH = 64
POLL_S = 0.25


# -- the server ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def serving(prefix: str, *, extra_env: dict[str, str] | None = None, keep: bool = False) -> Iterator[Any]:
    """A real ``cvstudio serve`` on a fresh temporary data dir, stopped (and the dir removed) after."""
    from tests.servers import start_server

    tmp = Path(tempfile.mkdtemp(prefix=f"cvstudio-bench-{prefix}-"))
    server = start_server(tmp / "data", extra_env=extra_env)
    try:
        yield server
    finally:
        server.stop()
        if keep:
            progress(f"{prefix}: data kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def server_exited(server: Any, name: str) -> Row:
    """A failed row saying that the server process is gone, with the end of its log."""
    tail = " / ".join(server.log().strip().splitlines()[-3:])
    return Row(
        name,
        None,
        note=f"cvstudio serve exited mid-run (exit status {server.process.returncode}; negative: killed by that "
        f"signal, e.g. by another process on the host); its log ends: {tail}",
        met=False,
    )


def training_client(endpoint: str) -> Any:
    """The official SDK's training client, built as the quickstarts build it."""
    from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
    from msrest.authentication import ApiKeyCredentials

    from tests.servers import TRAINING_KEY

    return CustomVisionTrainingClient(endpoint, ApiKeyCredentials(in_headers={"Training-key": TRAINING_KEY}))


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


def sdk_error(exc: BaseException) -> str:
    """A readable reason from an SDK exception (its Custom Vision code and message when present)."""
    error = getattr(exc, "error", None)
    code, message = getattr(error, "code", None), getattr(error, "message", None)
    if code or message:
        return f"{code}: {message}"
    return f"{type(exc).__name__}: {exc}"


# -- images -------------------------------------------------------------------------------------------


def tree_images() -> dict[str, list[Path]]:
    found = {tag: sorted((TREES / tag).glob("*.jpg")) for tag in TREE_CLASSES}
    if not all(found.values()):
        raise RuntimeError(f"no sample photos under {TREES}")
    return found


def cutlery_images() -> dict[str, list[Path]]:
    def number(path: Path) -> int:
        return int(path.stem.split("_")[1])

    return {tag: sorted((DETECTION / "Images" / tag).glob("*.jpg"), key=number) for tag in CUTLERY}


def cutlery_regions() -> dict[str, dict[str, Any]]:
    """``"fork/fork_1.jpg" -> {"tag", "left", "top", "width", "height"}`` (normalised)."""
    regions: dict[str, dict[str, Any]] = json.loads((DETECTION / "regions.json").read_text())
    return regions


def cutlery_split(seed: int = 0, held_out_per_tag: int = 5) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """(training, held-out) images per tag: ``held_out_per_tag`` of each tag drawn with ``seed``."""
    rng = random.Random(seed)
    train: dict[str, list[Path]] = {}
    test: dict[str, list[Path]] = {}
    for tag, paths in cutlery_images().items():
        chosen = set(rng.sample(range(len(paths)), held_out_per_tag))
        test[tag] = [p for n, p in enumerate(paths) if n in chosen]
        train[tag] = [p for n, p in enumerate(paths) if n not in chosen]
    return train, test


def upload(client: Any, project_id: str, entries: Sequence[Any]) -> list[str]:
    """``ImageFileCreateEntry`` items, in SDK batches of 64; raises if any image is refused."""
    from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch

    ids: list[str] = []
    for first in range(0, len(entries), UPLOAD_BATCH):
        batch = list(entries[first : first + UPLOAD_BATCH])
        result = client.create_images_from_files(project_id, ImageFileCreateBatch(images=batch))
        bad = [r.status for r in result.images if r.status not in ("OK", "OKDuplicate")]
        if not result.is_batch_successful or bad:
            raise RuntimeError(f"upload refused: {sorted(set(bad))[:3]}")
        ids += [r.image.id for r in result.images]
    return ids


# -- training -----------------------------------------------------------------------------------------


@dataclass
class Trained:
    """One training run through the API: the iteration, the wall time, and why it failed (if it did)."""

    project_id: str
    iteration: Any  # the SDK's Iteration, or None when train_project was refused
    seconds: float
    failure: str | None = None
    publish_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def train(client: Any, project_id: str, *, timeout_s: float, label: str = "", **train_kwargs: Any) -> Trained:
    """``train_project`` and wait: seconds from the call to the iteration leaving ``Training``."""
    started = time.perf_counter()
    try:
        iteration = client.train_project(project_id, **train_kwargs)
    except Exception as exc:  # the API refused to start (too few images, ...)
        return Trained(project_id, None, 0.0, f"train_project refused: {sdk_error(exc)}")
    deadline = started + timeout_s
    last_report = started
    while iteration.status == "Training":
        now = time.perf_counter()
        if now > deadline:
            return Trained(project_id, iteration, now - started, f"still Training after {timeout_s:.0f} s")
        if label and now - last_report >= 30:
            progress(f"{label}: training, {now - started:.0f} s")
            last_report = now
        time.sleep(POLL_S)
        iteration = client.get_iteration(project_id, iteration.id)
    seconds = time.perf_counter() - started
    if iteration.status != "Completed":
        details = iteration.training_error_details or "(no trainingErrorDetails)"
        return Trained(project_id, iteration, seconds, f"{iteration.status}: {details}")
    return Trained(project_id, iteration, seconds)


def publish(client: Any, trained: Trained, name: str) -> None:
    client.publish_iteration(
        trained.project_id, trained.iteration.id, name, "/subscriptions/bench/resourceGroups/bench"
    )
    trained.publish_name = name


def export_onnx(client: Any, project_id: str, iteration_id: str, timeout_s: float = 120.0) -> bytes:
    """The iteration's ``model.onnx``, the way a customer gets it: ONNX export, zip download."""
    client.export_iteration(project_id, iteration_id, "ONNX")
    deadline = time.monotonic() + timeout_s
    while True:
        exports = [e for e in client.get_exports(project_id, iteration_id) if e.platform == "ONNX"]
        if exports and exports[0].status != "Exporting":
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"ONNX export still running after {timeout_s:.0f} s")
        time.sleep(POLL_S)
    if exports[0].status != "Done":
        raise RuntimeError(f"ONNX export {exports[0].status}")
    package = zipfile.ZipFile(io.BytesIO(httpx.get(exports[0].download_uri, timeout=60).content))
    name = next(n for n in package.namelist() if n.endswith(".onnx"))
    return package.read(name)


# -- prediction over HTTP -----------------------------------------------------------------------------


def multipart_body(data: bytes, *, boundary: str = "cvstudio-bench-boundary-7d3f") -> tuple[bytes, str]:
    """One ``imageData`` part, as the SDK sends an image: (body, Content-Type)."""
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="imageData"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class Predictor:
    """Raw-HTTP calls of ``{classify|detect}/iterations/{name}/image/nostore``, one client per thread."""

    def __init__(self, endpoint: str, project_id: str, publish_name: str, task: str) -> None:
        from tests.servers import PREDICTION_KEY

        self.url = f"{endpoint}{PREDICTION_PATH}/{project_id}/{task}/iterations/{publish_name}/image/nostore"
        self.key = PREDICTION_KEY
        self._local = threading.local()
        self._clients: list[httpx.Client] = []
        self._lock = threading.Lock()

    def client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = httpx.Client(headers={"Prediction-Key": self.key}, timeout=httpx.Timeout(120.0))
            self._local.client = client
            with self._lock:
                self._clients.append(client)
        return client

    def predict(self, data: bytes) -> list[dict[str, Any]]:
        body, content_type = multipart_body(data)
        response = self.client().post(self.url, content=body, headers={"Content-Type": content_type})
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        predictions: list[dict[str, Any]] = response.json()["predictions"]
        return predictions

    def predict_all(self, images: Sequence[bytes], threads: int = 3) -> list[list[dict[str, Any]]]:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            return list(pool.map(self.predict, images))

    def close(self) -> None:
        for client in self._clients:
            client.close()


# -- AP50 ---------------------------------------------------------------------------------------------

# (class index, left, top, width, height) in pixels; detections add a score after the class.
GroundTruth = Sequence[tuple[int, float, float, float, float]]
Detections = Sequence[tuple[int, float, float, float, float, float]]


def coco_ap50(
    truth: Sequence[GroundTruth],
    detections: Sequence[Detections],
    sizes: Sequence[tuple[int, int]],
    classes: Sequence[str],
    max_dets: int = 200,
) -> tuple[float, float]:
    """(mAP at IoU 0.5, max recall) over all images and classes, with pycocotools' COCOeval
    (``iouThrs=[0.5]``, ``maxDets=[max_dets]``, area "all"), averaged over the classes present."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    images = [{"id": n + 1, "width": w, "height": h} for n, (w, h) in enumerate(sizes)]
    annotations = []
    for n, boxes in enumerate(truth):
        for label, x, y, w, h in boxes:
            annotations.append(
                {
                    "id": len(annotations) + 1, "image_id": n + 1, "category_id": label + 1,
                    "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0,
                }
            )  # fmt: skip
    results = [
        {"image_id": n + 1, "category_id": label + 1, "bbox": [x, y, w, h], "score": score}
        for n, found in enumerate(detections)
        for label, score, x, y, w, h in found
    ]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": annotations,
            "categories": [{"id": n + 1, "name": name} for n, name in enumerate(classes)],
        }
        gt.createIndex()
        if not results:
            return 0.0, 0.0
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, iouType="bbox")
        evaluator.params.iouThrs = np.array([0.5])
        evaluator.params.maxDets = [max_dets]
        evaluator.params.areaRng = [[0.0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][0, :, :, 0, 0]  # [recall points, classes]
    recall = evaluator.eval["recall"][0, :, 0, 0]  # [classes]
    present = recall > -1
    ap = [float(np.mean(precision[:, k][precision[:, k] > -1])) for k in np.flatnonzero(present)]
    return (float(np.mean(ap)) if ap else 0.0), (float(np.mean(recall[present])) if present.any() else 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS: indices kept, best first. ``boxes`` ``[N, 4]`` as (x1, y1, x2, y2)."""
    order = np.argsort(-scores, kind="stable")
    areas = np.maximum(0.0, boxes[:, 2] - boxes[:, 0]) * np.maximum(0.0, boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        ix1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        iy1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        ix2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        iy2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.maximum(0.0, ix2 - ix1) * np.maximum(0.0, iy2 - iy1)
        overlap = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


# -- small things -------------------------------------------------------------------------------------


def attempt(name: str, rows: list[Row], fn: Callable[[], list[Row]]) -> None:
    """Run one sub-benchmark, adding its rows; if it raises, add one failed row saying why instead."""
    try:
        rows.extend(fn())
    except Exception as exc:  # one broken sub-benchmark must not hide the others' rows
        traceback.print_exc()
        rows.append(Row(f"{name}: failed", None, note=f"{type(exc).__name__}: {exc}", met=False))


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def host_load() -> str:
    """The 1-minute load average, for timing rows' notes (other work on the host skews them)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return "load average unknown"
    return f"host load average {load:.1f} on {os.cpu_count()} CPUs"


def rss_bytes(process: psutil.Process) -> int:
    """Resident memory of ``process`` and all its children."""
    total: int = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):
            total += child.memory_info().rss
    return total


@dataclass
class RssSampler:
    """RSS (with children) of a process while the block runs, sampled every ``every_s``; with
    ``cap``, the process and its children are killed as soon as a sample passes it (this machine
    is shared: a server that would take all its memory is stopped first)."""

    process: psutil.Process
    every_s: float = 0.2
    cap: int | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)
    capped: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                rss = rss_bytes(self.process)
            except psutil.Error:
                return
            self.samples.append((time.monotonic(), rss))
            if self.cap is not None and rss > self.cap:
                self.capped = True
                with contextlib.suppress(psutil.Error):
                    for child in self.process.children(recursive=True):
                        child.send_signal(signal.SIGKILL)
                    self.process.send_signal(signal.SIGKILL)
                return
            self._stop.wait(self.every_s)


def tree_project(client: httpx.Client, base: str, name: str) -> tuple[str, dict[str, str]]:
    """A fresh project (``name`` + a unique suffix) with the two tree tags: its id, and the tag ids
    by class folder name (``Hemlock``, ``Japanese_Cherry``)."""
    made = client.post(f"{base}/projects", params={"name": f"{name} {uuid.uuid4().hex[:8]}"})
    made.raise_for_status()
    project_id: str = made.json()["id"]
    tag_ids = {}
    for tag in ("Hemlock", "Japanese_Cherry"):
        created = client.post(f"{base}/projects/{project_id}/tags", params={"name": tag.replace("_", " ")})
        created.raise_for_status()
        tag_ids[tag] = created.json()["id"]
    return project_id, tag_ids


def model_pixels(data: bytes, side: int) -> Any:
    """The Prediction API's decode (``model_image``) of ``data`` for a model of input ``side``: the
    image, kept past the decode budget (benchmarks time it, they don't serve requests)."""
    from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION
    from shared.vision.images import model_image

    with model_image(data, min_side=side, max_bytes=MAX_IMAGE_BYTES_PREDICTION) as decoded:
        return decoded.image
