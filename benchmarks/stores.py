"""The same server on the embedded default and in Azure mode, measured in the same run.

For each store (the embedded SQLite + files, then Azurite + the Cosmos DB server on loopback, the
local Azure stack the tests use: ``tests.azure_stack``), against a real ``cvstudio serve``:

1. classify latency: trains and publishes the quickstart classifier (Hemlock / Japanese Cherry,
   General (compact)), then sends ``--store-requests`` sequential ``classify/.../image/nostore``
   requests with one 640x480 JPEG, after a warm-up (p50, p99);
2. upload throughput: ``--store-images`` unique ~200 KB JPEGs in 64-image ``CreateImagesFromFiles``
   batches, one client (the upload benchmark's bodies: :mod:`benchmarks.upload`).

No targets: the rows say what the stores cost. The local servers are not the real services:
Azurite and the Cosmos DB server answer from memory on this machine in about a millisecond, while
Blob Storage and Cosmos DB answer over the network in a region (a few ms per call), and run on
these 2 cores beside the server, so the Azure-mode figures here include their CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks import Row, median, progress
from benchmarks._support import (
    PREDICTION_PATH,
    attempt,
    multipart_body,
    percentile,
    serving,
    tree_images,
    tree_project,
)
from benchmarks.prediction import _send, _train_classifier, photo
from benchmarks.upload import BATCH, TRAINING, _upload_batch, base_photos

__all__ = ["add_arguments", "run"]

STORES = ("embedded", "azure")
IMAGES = 1_280
QUICK_IMAGES = 320
REQUESTS = 200
QUICK_REQUESTS = 60
WARMUP = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("stores")
    group.add_argument(
        "--store-images",
        type=int,
        default=None,
        help=f"images uploaded per store, in {BATCH}-image batches (default {IMAGES:,}; --quick: {QUICK_IMAGES})",
    )
    group.add_argument(
        "--store-requests",
        type=int,
        default=None,
        help=f"sequential classify requests per store (default {REQUESTS}; --quick: {QUICK_REQUESTS})",
    )


@contextmanager
def _stack() -> Iterator[Any]:
    """The local Azure stack (Azurite, the Cosmos DB server) on free loopback ports."""
    import tempfile

    from tests.azure_stack import start_azure_stack

    stack = start_azure_stack(Path(tempfile.mkdtemp(prefix="cvstudio-bench-azure-")))
    try:
        yield stack
    finally:
        stack.stop()


def _uploads(endpoint: str, images: int) -> tuple[float, int]:
    """Images per second over ``images`` unique photos, and the errors seen."""
    from tests.servers import TRAINING_KEY

    photos = base_photos()
    base = f"{endpoint}{TRAINING}"
    with httpx.Client(headers={"Training-Key": TRAINING_KEY}, timeout=httpx.Timeout(300.0)) as client:
        project_id, tag_ids = tree_project(client, base, "stores benchmark")
        url = f"{base}/projects/{project_id}/images/files"
        started = time.perf_counter()
        results = [_upload_batch(client, url, photos, tag_ids, first, BATCH) for first in range(0, images, BATCH)]
        elapsed = time.perf_counter() - started
    return images / elapsed, sum(len(r.errors) for r in results)


def _classify_ms(server: Any, requests: int) -> tuple[list[float], int, float]:
    """Sequential classify latencies (ms), the errors among them, and the training's seconds."""
    from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
    from msrest.authentication import ApiKeyCredentials

    from tests.servers import PREDICTION_KEY, TRAINING_KEY

    client = CustomVisionTrainingClient(server.endpoint, ApiKeyCredentials(in_headers={"Training-key": TRAINING_KEY}))
    published = _train_classifier(client)
    data = photo(next(iter(tree_images().values()))[0])
    body, content_type = multipart_body(data)
    headers = {"Prediction-Key": PREDICTION_KEY, "Content-Type": content_type}
    url = (
        f"{server.endpoint}{PREDICTION_PATH}/{published.project_id}/classify/iterations/"
        f"{published.publish_name}/image/nostore"
    )
    with httpx.Client(timeout=httpx.Timeout(60.0)) as http:
        for _ in range(WARMUP):
            _send(http, url, body, headers)
        sent = [_send(http, url, body, headers) for _ in range(requests)]
    return [ms for ms, error in sent if error is None], sum(1 for _, error in sent if error), published.train_s


def _cpu_s(processes: list[psutil.Process]) -> float:
    """The CPU seconds the processes themselves have used (not their children: a trainer that
    ends between two readings would take its seconds with it)."""
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _measure(store: str, env: dict[str, str], images: int, requests: int, stack: list[int]) -> dict[str, Any]:
    with serving(f"stores-{store}", extra_env=env) as server:
        # Classify first: the local Cosmos DB server scans every document of a container for each
        # query (Cosmos DB uses its indexes), so the uploads' documents would weigh on it.
        progress(f"stores: {store}: training and publishing the classifier")
        latencies, classify_errors, train_s = _classify_ms(server, requests)
        progress(f"stores: {store}: classify p50 {median(latencies) if latencies else None} ms")
        progress(f"stores: {store}: uploading {images:,} images")
        ours, theirs = [psutil.Process(server.process.pid)], [psutil.Process(pid) for pid in stack]
        cpu_server, cpu_stack = _cpu_s(ours), _cpu_s(theirs)
        rate, upload_errors = _uploads(server.endpoint, images)
        cpu_server, cpu_stack = _cpu_s(ours) - cpu_server, _cpu_s(theirs) - cpu_stack
        progress(f"stores: {store}: {rate:.0f} images/s")
    return {
        "rate": rate,
        "upload_errors": upload_errors,
        "latencies": latencies,
        "classify_errors": classify_errors,
        "train_s": train_s,
        "cpu_server_ms": cpu_server * 1000 / images,
        "cpu_stack_ms": cpu_stack * 1000 / images,
    }


def run(args: argparse.Namespace) -> list[Row]:
    images = math.ceil((args.store_images or (QUICK_IMAGES if args.quick else IMAGES)) / BATCH) * BATCH
    requests = args.store_requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    measured: dict[str, dict[str, Any]] = {}
    rows: list[Row] = []

    def embedded() -> list[Row]:
        measured["embedded"] = _measure("embedded", {}, images, requests, [])
        return []

    def azure() -> list[Row]:
        with _stack() as stack:
            env = stack.settings_env(f"bench{uuid.uuid4().hex[:8]}")
            measured["azure"] = _measure("azure", env, images, requests, [p.pid for p in stack.processes])
        return []

    attempt("stores: embedded", rows, embedded)
    attempt("stores: azure", rows, azure)
    for store in STORES:
        if store not in measured:
            continue
        m = measured[store]
        where = "embedded (SQLite + files)" if store == "embedded" else "Azure mode (Azurite + Cosmos DB server)"
        lat = sorted(m["latencies"])
        rows.append(
            Row(
                f"upload throughput, {where}",
                m["rate"],
                "images/s",
                "",
                f"{images:,} unique ~200 KB JPEGs in {BATCH}-image batches, one client; CPU per image: "
                f"{m['cpu_server_ms']:.1f} ms in cvstudio"
                + (f", {m['cpu_stack_ms']:.1f} ms in Azurite + the Cosmos DB server" if store == "azure" else "")
                + f"; {m['upload_errors']} errors",
            )
        )
        rows.append(
            Row(
                f"classify latency p50, {where}",
                median(lat) if lat else None,
                "ms",
                "",
                (
                    f"p99 {percentile(lat, 99):.1f} ms over {len(lat)} sequential requests "
                    f"(640x480 JPEG, published quickstart classifier trained in {m['train_s']:.0f} s); "
                    f"{m['classify_errors']} errors"
                )
                if lat
                else f"{m['classify_errors']} errors",
            )
        )
    if len(measured) == len(STORES):
        ratio = measured["azure"]["rate"] / measured["embedded"]["rate"]
        lat_ratio = statistics.median(measured["azure"]["latencies"]) / statistics.median(
            measured["embedded"]["latencies"]
        )
        rows.append(
            Row(
                "Azure mode ÷ embedded, same run",
                f"{ratio:.2f}× upload rate, {lat_ratio:.2f}× classify p50",
                "",
                "",
                "the local Azure stack shares these CPUs with the server; real services add network round trips",
            )
        )
    return rows
