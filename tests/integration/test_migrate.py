"""`cvstudio migrate` between real `cvstudio serve` processes, run as a user runs it (a subprocess).

The source is filled through the official SDK: a classification project (a tag with a description, a Negative
tag, untagged images, metadata on some) and a detection project (boxes, metadata per batch). What arrived is
compared with what was there, through the API: each image by the sha256 of its original bytes with its tag
names, boxes and metadata; tags by name, description and type; project settings. Then: a second run copies
nothing and duplicates nothing; a run killed mid-way (SIGKILL) and run again completes without duplicates; a
source with per-key rate limits on (429 + Retry-After) still completes, and says it was throttled; a wrong key,
an unreachable endpoint and an unknown project exit 2 with a sentence, not a traceback.

`--train` is followed up to the target's answer to `train_project` (a refusal: too few images a tag); a
training that runs takes over a minute on 2 cores, so none runs here. The embedded store only: migrate speaks
HTTP to whatever server answers, and the stores behind it are tested elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch,
    ImageFileCreateEntry,
    Region,
)

from shared.cli import main
from shared.client.http import ApiClient
from tests.conftest import SAMPLES
from tests.sdk.helpers import GENERAL_CLASSIFICATION, GENERAL_DETECTION, png_bytes, training_client
from tests.servers import TRAINING_KEY, RunningServer, free_port, start_server

ROOT = Path(__file__).resolve().parents[2]
# The middle server is a throttled target for the first copy and a throttled source for the second.
LIMITS = {"CVSTUDIO_TRAINING_RATE_LIMIT": "5", "CVSTUDIO_TRAINING_RATE_BURST": "5"}


def seed(endpoint: str) -> None:
    client = training_client(endpoint)
    images = SAMPLES / "ImageClassification" / "Images"
    trees = client.create_project(
        "trees", description="hemlock or cherry", domain_id=GENERAL_CLASSIFICATION, classification_type="Multilabel"
    )
    hemlock = client.create_tag(trees.id, "Hemlock", description="a conifer")
    cherry = client.create_tag(trees.id, "Japanese Cherry")
    negative = client.create_tag(trees.id, "no tree", type="Negative")

    def upload(project_id: str, entries: list[ImageFileCreateEntry], metadata: dict[str, str] | None = None) -> None:
        result = client.create_images_from_files(project_id, ImageFileCreateBatch(images=entries, metadata=metadata))
        assert result.is_batch_successful, [i.status for i in result.images]

    def files(folder: Path, **labels: Any) -> list[ImageFileCreateEntry]:
        return [ImageFileCreateEntry(name=f.name, contents=f.read_bytes(), **labels) for f in sorted(folder.glob("*"))]

    upload(trees.id, files(images / "Hemlock", tag_ids=[hemlock.id])[:8])
    upload(trees.id, files(images / "Japanese_Cherry", tag_ids=[cherry.id])[:8], {"site": "park", "camera": "2"})
    both = [ImageFileCreateEntry(name="both.png", contents=png_bytes(color=(1, 2, 3)), tag_ids=[hemlock.id, cherry.id])]
    upload(trees.id, both, {"site": "garden"})
    upload(
        trees.id,
        [
            ImageFileCreateEntry(name=f"n{i}.png", contents=png_bytes(color=(9, i, 9)), tag_ids=[negative.id])
            for i in range(3)
        ],
    )
    upload(trees.id, [ImageFileCreateEntry(name=f"u{i}.png", contents=png_bytes(color=(i, 9, 9))) for i in range(3)])

    cutlery = client.create_project("cutlery", domain_id=GENERAL_DETECTION)
    tags = {name: client.create_tag(cutlery.id, name).id for name in ("fork", "scissors")}
    boxes = json.loads((SAMPLES / "ObjectDetection" / "regions.json").read_text())
    chosen = sorted(boxes.items())[:12] + sorted(boxes.items())[20:32]
    entries = [
        ImageFileCreateEntry(
            name=name,
            contents=(SAMPLES / "ObjectDetection" / "Images" / name).read_bytes(),
            regions=[Region(tag_id=tags[box["tag"]], **{k: box[k] for k in ("left", "top", "width", "height")})],
        )
        for name, box in chosen
    ]
    upload(cutlery.id, entries[:12], {"batch": "first"})
    upload(cutlery.id, entries[12:])
    # A second box on one image, added afterwards (create_image_regions).
    first = client.get_tagged_images(cutlery.id, take=1)[0]
    client.create_image_regions(
        cutlery.id,
        regions=[
            {"image_id": first.id, "tag_id": tags["scissors"], "left": 0.05, "top": 0.05, "width": 0.2, "height": 0.1}
        ],
    )


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, RunningServer]]:
    base = tmp_path_factory.mktemp("migrate")
    limits = {"source": {}, "middle": LIMITS, "last": {}}
    with ThreadPoolExecutor(3) as pool:  # their start-ups overlap
        starts = {name: pool.submit(start_server, base / name / "data", extra_env=env) for name, env in limits.items()}
    try:
        running = {name: start.result() for name, start in starts.items()}
        seed(running["source"].endpoint)
        yield running
    finally:
        for start in starts.values():
            if start.exception() is None:
                start.result().stop()


def command(source: str, target: str, *extra: str, source_key: str = TRAINING_KEY) -> list[str]:
    return [
        sys.executable, "-m", "shared.cli", "migrate",
        "--from", source, "--from-key", source_key, "--to", target, "--to-key", TRAINING_KEY, *extra,
    ]  # fmt: skip


def migrate(source: str, target: str, *extra: str, source_key: str = TRAINING_KEY) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(source, target, *extra, source_key=source_key),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def contents(endpoint: str) -> dict[str, Any]:
    """Everything migrate promises to carry, per project name, comparable across servers."""
    with ApiClient(endpoint, TRAINING_KEY) as client:
        domains = {d["id"]: d["name"] for d in client.json("GET", "domains")}
        found: dict[str, Any] = {}
        for project in client.json("GET", "projects"):
            pid = project["id"]
            tags = client.json("GET", f"projects/{pid}/tags")
            names = {t["id"]: t["name"] for t in tags}
            images: Counter[str] = Counter()
            for listing in ("tagged", "untagged"):
                skip = 0
                while page := client.json(
                    "GET", f"projects/{pid}/images/{listing}", params={"take": 256, "skip": skip}
                ):
                    skip += len(page)
                    for image in page:
                        digest = hashlib.sha256(client.download(image["originalImageUri"])).hexdigest()
                        regions = sorted(
                            (names[r["tagId"]], *(round(r[k], 6) for k in ("left", "top", "width", "height")))
                            for r in image.get("regions") or ()
                        )
                        label = {
                            "sha256": digest,
                            "tags": sorted(names[t["tagId"]] for t in image.get("tags") or ()),
                            "regions": regions,
                            "metadata": image.get("metadata") or {},
                        }
                        images[json.dumps(label, sort_keys=True)] += 1
            found[project["name"]] = {
                "description": project["description"],
                "domain": domains[project["settings"]["domainId"]],
                "classificationType": project["settings"]["classificationType"],
                "tags": sorted((t["name"], t["description"], t["type"]) for t in tags),
                "images": images,
            }
        return found


def image_total(found: dict[str, Any]) -> int:
    return sum(sum(p["images"].values()) for p in found.values())


@pytest.fixture(scope="module")
def first_copy(servers: dict[str, RunningServer], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    state = tmp_path_factory.mktemp("state-1")
    run = migrate(servers["source"].endpoint, servers["middle"].endpoint, "--all", "--state", str(state))
    assert run.returncode == 0, run.stderr + run.stdout
    return {"state": state, "run": run, "source": contents(servers["source"].endpoint)}


def test_everything_arrives(servers: dict[str, RunningServer], first_copy: dict[str, Any]) -> None:
    source = first_copy["source"]
    assert image_total(source) == 8 + 8 + 1 + 3 + 3 + 24
    assert contents(servers["middle"].endpoint) == source
    run = first_copy["run"]
    assert "2 created" in run.stdout and f"{image_total(source)} copied, 0 already there, 0 failed" in run.stdout
    assert "images/s" in run.stderr, "a progress line on stderr"


def test_a_second_run_copies_nothing_and_duplicates_nothing(
    servers: dict[str, RunningServer], first_copy: dict[str, Any]
) -> None:
    run = migrate(servers["source"].endpoint, servers["middle"].endpoint, "--all", "--state", str(first_copy["state"]))
    assert run.returncode == 0, run.stderr
    total = image_total(first_copy["source"])
    assert "0 created, 2 resumed" in run.stdout
    assert f"0 copied, {total} already there, 0 failed" in run.stdout
    assert contents(servers["middle"].endpoint) == first_copy["source"]


def recorded_images(state_dir: Path) -> int:
    """Images the state file lists (it is replaced whole, so a read sees one version or the other)."""
    files = list(state_dir.glob("*.json"))
    if not files:
        return 0
    return sum(len(p["images"]) for p in json.loads(files[0].read_text())["projects"].values())


def empty_the_bucket(endpoint: str) -> None:
    """Spend the key's burst at the (rate-limited) server, so that its next request is answered 429."""
    with httpx.Client(base_url=endpoint, headers={"Training-Key": TRAINING_KEY}) as client:
        for _ in range(4 * int(LIMITS["CVSTUDIO_TRAINING_RATE_BURST"])):
            if client.get("/customvision/v3.4-preview/training/domains").status_code == 429:
                return
    raise AssertionError("the server's rate limit never answered 429")


def test_an_interrupted_run_resumes_without_duplicates_from_a_throttled_source(
    servers: dict[str, RunningServer],
    first_copy: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    middle, last = servers["middle"].endpoint, servers["last"].endpoint
    args = ("--project", "cutlery", "--project", "trees", "--state", str(tmp_path))
    slowly = ("--batch-size", "1", "--threads", "1")
    process = subprocess.Popen(
        command(middle, last, *args, *slowly), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    try:
        while recorded_images(tmp_path) == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be interrupted"
    assert 0 < recorded_images(tmp_path) < image_total(first_copy["source"]), "interrupted mid-way"

    # Run again (in-process, so that its first request follows at once) with the source's bucket empty: another
    # client of the same key has spent it, and the source answers 429 until it refills.
    empty_the_bucket(middle)
    argv = command(middle, last, *args)
    code = main(argv[argv.index("migrate") :])
    out, err = capsys.readouterr()
    assert code == 0, err + out
    assert " 0 failed" in out and "requests answered 429/503" in out, out
    assert contents(last) == first_copy["source"]


def test_a_wrong_key_or_endpoint_exits_2_with_a_sentence(
    servers: dict[str, RunningServer], capsys: pytest.CaptureFixture[str]
) -> None:
    """In-process (`cvstudio`'s own `main`), to spare four interpreter start-ups: the same exit and words."""
    source, target = servers["source"].endpoint, servers["last"].endpoint
    cases = {
        "refused the key (401": command(source, target, "--all", source_key="not-the-key"),
        "cannot be reached": command(f"http://127.0.0.1:{free_port()}", target, "--all"),
        "does not answer as a Custom Vision training endpoint (404": command(f"{source}/nothing", target, "--all"),
        "the source has no project named 'nope'": command(source, target, "--project", "nope"),
    }
    for said, argv in cases.items():
        assert main(argv[argv.index("migrate") :]) == 2, said
        out, err = capsys.readouterr()
        assert said in err, err
        assert TRAINING_KEY not in out + err


def test_train_asks_the_target_to_train_and_reports_its_refusal(
    servers: dict[str, RunningServer], first_copy: dict[str, Any], tmp_path: Path
) -> None:
    """`--train` on a detection project with fewer than 15 images a tag: the target refuses, migrate says so
    and exits 1 (a training that runs costs a minute here; the refusal takes the same path to the target)."""
    source, middle = servers["source"].endpoint, servers["middle"].endpoint
    run = migrate(source, middle, "--project", "cutlery", "--train", "--state", str(tmp_path))
    assert run.returncode == 1, run.stderr + run.stdout
    assert "project 'cutlery': training refused: 400 " in run.stdout, run.stdout
