"""`cvstudio migrate` between two local servers: images per second, end to end.

Two real ``cvstudio serve`` processes on fresh data dirs. The source gets a classification project of
``--migration-images`` unique ~200 KB photos (1024x768 JPEGs made from the quickstart's samples, as
``benchmarks.upload`` makes them), half of them with metadata, in two tags. Then ``cvstudio migrate`` runs as a
user runs it (a subprocess, default threads and batch size), and the row is the images copied per second over
the command's whole wall time (start-up, listing, downloads, uploads, the state file). A second run, which finds
everything already there, is timed too (what a resumed or repeated migration costs per image).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks import Row, at_least, progress
from benchmarks._support import serving
from benchmarks.upload import base_photos, unique_b64

__all__ = ["add_arguments", "run"]

REPO = Path(__file__).resolve().parents[1]
TRAINING = "/customvision/v3.4-preview/training"
DEFAULT_IMAGES = 200
QUICK_IMAGES = 100
BATCH = 64
TARGET_RATE = 20.0  # images/s on 2 cores: 1,000 images in under a minute


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("migration")
    group.add_argument(
        "--migration-images",
        type=int,
        default=None,
        help=f"images in the migrated project (default {DEFAULT_IMAGES}; --quick: {QUICK_IMAGES})",
    )


def _fill(endpoint: str, key: str, count: int) -> None:
    photos = base_photos()
    with httpx.Client(base_url=endpoint + TRAINING, headers={"Training-Key": key}, timeout=300) as client:
        project = client.post("/projects", params={"name": "migration benchmark"}).raise_for_status().json()
        tags = {
            tag: client.post(f"/projects/{project['id']}/tags", params={"name": tag}).raise_for_status().json()["id"]
            for tag in sorted({p.tag for p in photos})
        }
        for first in range(0, count, BATCH):
            numbers = range(first, min(count, first + BATCH))
            images = [
                {
                    "name": f"m{n}.jpg",
                    "contents": unique_b64(photos[n % len(photos)], n).decode(),
                    "tagIds": [tags[photos[n % len(photos)].tag]],
                }
                for n in numbers
            ]
            body = {"images": images, **({"metadata": {"half": "first"}} if first < count // 2 else {})}
            answer = client.post(f"/projects/{project['id']}/images/files", json=body).raise_for_status().json()
            if not answer["isBatchSuccessful"]:
                raise RuntimeError(f"seeding the source failed: {[i['status'] for i in answer['images']][:5]}")


def _migrate(source: str, target: str, key: str, state: Path) -> tuple[float, str]:
    command = [
        sys.executable, "-m", "shared.cli", "migrate", "--from", source, "--from-key", key,
        "--to", target, "--to-key", key, "--all", "--state", str(state),
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1800)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"cvstudio migrate exited {done.returncode}: {done.stderr[-500:]}")
    return elapsed, done.stdout


def run(args: argparse.Namespace) -> list[Row]:
    from tests.servers import TRAINING_KEY

    count = args.migration_images or (QUICK_IMAGES if args.quick else DEFAULT_IMAGES)
    with serving("migration-source") as source, serving("migration-target") as target:
        t0 = time.monotonic()
        _fill(source.endpoint, TRAINING_KEY, count)
        progress(f"migration: {count} images on the source in {time.monotonic() - t0:.1f} s")
        with tempfile.TemporaryDirectory(prefix="cvstudio-bench-migrate-") as state:
            first, summary = _migrate(source.endpoint, target.endpoint, TRAINING_KEY, Path(state))
            if f"{count} copied" not in summary:
                raise RuntimeError(f"the migration did not copy {count} images: {summary}")
            again, summary_again = _migrate(source.endpoint, target.endpoint, TRAINING_KEY, Path(state))
            if f"{count} already there" not in summary_again:
                raise RuntimeError(f"the second run was not a no-op: {summary_again}")
        with httpx.Client(headers={"Training-Key": TRAINING_KEY}, timeout=60) as client:
            projects = client.get(f"{target.endpoint}{TRAINING}/projects").raise_for_status().json()
            arrived = sum(
                client.get(f"{target.endpoint}{TRAINING}/projects/{p['id']}/images/count").json() for p in projects
            )
    rate = count / first
    note = (
        f"{count} unique ~200 KB JPEGs (1024x768) in 2 tags, half with metadata; `cvstudio migrate --all` as a "
        f"subprocess, defaults (8 download threads, 64-image batches): {first:.1f} s wall; {arrived} on the target"
    )
    return [
        Row("migration: images/s between two local servers", rate, "images/s", f"≥ {TARGET_RATE:.0f} images/s",
            note, at_least(rate, TARGET_RATE)),
        Row("migration: a second run (nothing to copy)", again, "s", "", f"{count} images listed, none uploaded"),
    ]  # fmt: skip
