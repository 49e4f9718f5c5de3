"""Crashes and races against a real ``cvstudio serve``: ``kill -9`` during 64-image batches, during a
project delete and during a tag delete, then a restart; and deletes racing uploads. After each,
what the server acknowledged is intact and nothing is half-done (``tests.leftovers.half_done``,
read through the ports, so the same check runs on the embedded stores and on Azure's).

The moment of each kill is drawn from a seeded generator (a failure names its seed); every moment
must leave a consistent state, so the test holds wherever the kill lands. The exact interleavings
(a crash between two given steps) are pinned down in ``tests/unit/services/test_deletions.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.services.tombstones import Tombstones
from tests.azure_stack import AzureStack
from tests.integration.test_raw_http import API, KEY, form_type, multipart, png
from tests.leftovers import half_done, stores_of
from tests.servers import RunningServer, start_server

BATCH = 64
IMAGE = ['Content-Disposition: form-data; name="imageData"; filename="i.png"', "Content-Type: image/png"]


class Stores:
    """Where a test's servers keep their data: a data dir, plus Azure's settings on ``azure``."""

    def __init__(self, data_dir: Path, azure_env: dict[str, str] | None) -> None:
        self.data_dir = data_dir
        self.azure_env = azure_env

    def start(self, **env: str) -> RunningServer:
        return start_server(self.data_dir, extra_env={**(self.azure_env or {}), **env})

    def half_done(self, **deleted: Any) -> list[str]:
        with stores_of(self.data_dir, self.azure_env) as services:
            return half_done(services, **deleted)


@pytest.fixture(params=["embedded", "azure"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    if request.param == "embedded":
        return Stores(tmp_path / "data", None)
    stack: AzureStack = request.getfixturevalue("azure_stack")
    return Stores(tmp_path / "data", stack.settings_env(f"cvstudio-{uuid.uuid4().hex[:12]}"))


@pytest.fixture
def embedded(tmp_path: Path) -> Stores:
    return Stores(tmp_path / "data", None)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(headers=KEY, timeout=120) as client:
        yield client


def pngs(start: int, count: int) -> list[bytes]:
    """Distinct small PNGs: ``start`` keeps one batch's bytes apart from another's."""
    return [png((24, 24), (n % 251, (n // 251) % 251, 7 + (n * 3) % 200)) for n in range(start, start + count)]


def upload(
    http: httpx.Client, server: RunningServer, project_id: str, images: list[bytes], *tag_ids: str
) -> httpx.Response:
    body = multipart([(IMAGE, data) for data in images])
    params = {"tagIds": ",".join(tag_ids)} if tag_ids else {}
    return http.post(
        f"{server.endpoint}{API}/projects/{project_id}/images", content=body, headers=form_type(), params=params
    )


def fill(http: httpx.Client, server: RunningServer, project_id: str, batches: int, *tag_ids: str) -> int:
    for n in range(batches):
        reply = upload(http, server, project_id, pngs(n * BATCH, BATCH), *tag_ids)
        assert reply.status_code == 200, reply.text
    return batches * BATCH


def kill_after(server: RunningServer, delay: float) -> None:
    time.sleep(delay)
    server.stop(hard=True)


def base(server: RunningServer, path: str) -> str:
    return f"{server.endpoint}{API}{path}"


def create(http: httpx.Client, server: RunningServer, path: str, name: str) -> dict[str, Any]:
    reply = http.post(base(server, path), params={"name": name})
    assert reply.status_code == 200, reply.text
    made: dict[str, Any] = reply.json()
    return made


# --- kill -9 during uploads ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [13])
def test_a_kill_during_64_image_batches_keeps_what_was_acknowledged_and_nothing_half_done(
    stores: Stores, http: httpx.Client, seed: int
) -> None:
    """The restart keeps every image an answer acknowledged, with its bytes and tag; an image stored
    without an answer is whole or absent (its bytes without a record are dropped: at start on the
    embedded stores, by the first sweep on Azure's, once older than the grace, here 1 s)."""
    rng = random.Random(seed)
    server = stores.start()
    project = create(http, server, "/projects", "batches")
    tag = create(http, server, f"/projects/{project['id']}/tags", "kept")
    sent: dict[str, bytes] = {}  # sha256 -> bytes, of everything sent
    acknowledged: dict[str, str] = {}  # image id -> sha256
    lock = threading.Lock()
    first_answer = threading.Event()

    batches = 2 if stores.azure_env is None else 1  # Azure's emulators are slower on 2 cores

    def client(n: int) -> None:
        with httpx.Client(headers=KEY, timeout=60) as mine:
            for batch in range(batches):
                images = pngs((n * 2 + batch) * BATCH, BATCH)
                with lock:
                    sent.update({hashlib.sha256(d).hexdigest(): d for d in images})
                try:
                    reply = upload(mine, server, project["id"], images, tag["id"])
                except httpx.HTTPError:
                    return  # the server died mid-request: nothing was acknowledged
                answered = {
                    r["image"]["id"]: r["image"] for r in reply.json()["images"] if r["status"] in ("OK", "OKDuplicate")
                }
                with lock:
                    for image_id, image in answered.items():
                        assert [t["tagId"] for t in image["tags"]] == [tag["id"]]
                        acknowledged[image_id] = image["id"]
                first_answer.set()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    assert first_answer.wait(60), server.log()
    kill_after(server, rng.uniform(0.0, 0.3))
    for thread in threads:
        thread.join(60)
    assert acknowledged, "the kill came before any batch was answered"

    again = stores.start(CVSTUDIO_UNRECORDED_BYTES_GRACE_SECONDS="1")
    try:
        ids = sorted(acknowledged)
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 256):
            reply = http.get(
                base(again, f"/projects/{project['id']}/images/id"),
                params={"imageIds": ",".join(ids[start : start + 256])},
            )
            assert reply.status_code == 200, reply.text
            found.update({i["id"]: i for i in reply.json()})
        assert sorted(found) == ids, "an acknowledged image is missing after the restart"
        assert all([t["tagId"] for t in i["tags"]] == [tag["id"]] for i in found.values())
        _swept(stores)  # nothing half-done
    finally:
        again.stop()
    with stores_of(stores.data_dir, stores.azure_env) as services:
        for image_id in ids:  # the bytes are the bytes that were sent
            image = services.images.get_image(project["id"], image_id)
            assert services.blobs.get(image.blob_key) == sent[image.content_hash]


# --- kill -9 during a project delete -----------------------------------------------------------------


@pytest.mark.parametrize("seed", [7])
def test_a_kill_during_a_project_delete_is_finished_by_the_restart(
    stores: Stores, http: httpx.Client, seed: int
) -> None:
    rng = random.Random(seed)
    server = stores.start()
    batches = 2 if stores.azure_env is None else 1
    name = f"doomed-{uuid.uuid4().hex[:8]}"
    project = create(http, server, "/projects", name)
    tag = create(http, server, f"/projects/{project['id']}/tags", "t")
    fill(http, server, project["id"], batches, tag["id"])
    deleting = threading.Thread(
        target=lambda: _quietly(lambda: http.delete(base(server, f"/projects/{project['id']}")))
    )
    deleting.start()
    # poll until the delete is under way (the project has disappeared), then kill at a seeded moment
    while deleting.is_alive() and http.get(base(server, f"/projects/{project['id']}")).status_code == 200:
        pass
    kill_after(server, rng.uniform(0.0, 0.005))
    deleting.join(30)
    # the kill left the delete's first pass to finish (its tombstone), or nothing of it at all
    assert _interrupted(stores) or stores.half_done(deleted_projects=[project["id"]]) == []

    again = stores.start()
    try:
        _settled(stores)
        reply = http.get(base(again, f"/projects/{project['id']}"))
        if reply.status_code == 200:  # killed before the delete began: it is whole, and can be deleted
            assert http.get(base(again, f"/projects/{project['id']}/images/count")).json() == batches * BATCH
            assert http.delete(base(again, f"/projects/{project['id']}")).status_code == 204
        assert http.get(base(again, f"/projects/{project['id']}")).status_code == 404
        # the name is free at once
        reborn = http.post(base(again, "/projects"), params={"name": name})
        assert reborn.status_code == 200, reborn.text
        assert http.get(base(again, f"/projects/{reborn.json()['id']}/images/count")).json() == 0
    finally:
        again.stop()
    assert stores.half_done(deleted_projects=[project["id"]]) == []


# --- kill -9 during a tag delete ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [11])
def test_a_kill_during_a_tag_delete_is_finished_by_the_restart(stores: Stores, http: httpx.Client, seed: int) -> None:
    rng = random.Random(seed)
    server = stores.start()
    batches = 2 if stores.azure_env is None else 1
    project = create(http, server, "/projects", f"tags-{uuid.uuid4().hex[:8]}")
    doomed = create(http, server, f"/projects/{project['id']}/tags", "doomed")
    fill(http, server, project["id"], batches, doomed["id"])
    deleting = threading.Thread(
        target=lambda: _quietly(lambda: http.delete(base(server, f"/projects/{project['id']}/tags/{doomed['id']}")))
    )
    deleting.start()
    tag_url = base(server, f"/projects/{project['id']}/tags/{doomed['id']}")
    while deleting.is_alive() and http.get(tag_url).status_code == 200:
        pass
    kill_after(server, rng.uniform(0.0, 0.05))
    deleting.join(30)
    # the kill left the delete's first pass to finish (its tombstone), or nothing of it at all
    assert _interrupted(stores) or stores.half_done(deleted_tags=[(project["id"], doomed["id"])]) == []

    again = stores.start()
    try:
        _settled(stores)
        tag_url = base(again, f"/projects/{project['id']}/tags/{doomed['id']}")
        if http.get(tag_url).status_code == 200:  # killed before the delete began
            assert http.delete(tag_url).status_code == 204
        assert http.get(tag_url).status_code == 404
        assert http.get(base(again, f"/projects/{project['id']}/tags")).json() == []
        counts = {
            status: http.get(
                base(again, f"/projects/{project['id']}/images/count"), params={"taggingStatus": status}
            ).json()
            for status in ("Tagged", "Untagged")
        }
        assert counts == {"Tagged": 0, "Untagged": batches * BATCH}
        assert http.post(base(again, f"/projects/{project['id']}/tags"), params={"name": "doomed"}).status_code == 200
    finally:
        again.stop()
    assert stores.half_done(deleted_tags=[(project["id"], doomed["id"])]) == []


# --- deletes racing uploads (no kill) ----------------------------------------------------------------


def test_uploads_racing_a_project_delete_leave_nothing_under_it(stores: Stores, http: httpx.Client) -> None:
    server = stores.start()
    try:
        project = create(http, server, "/projects", f"racing-{uuid.uuid4().hex[:8]}")
        answers: list[int] = []

        def keep_uploading(n: int) -> None:
            with httpx.Client(headers=KEY, timeout=60) as mine:
                for batch in range(4):
                    status = upload(mine, server, project["id"], pngs((n * 4 + batch) * 16, 16)).status_code
                    answers.append(status)
                    if status == 404:
                        return

        threads = [threading.Thread(target=keep_uploading, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        while not answers:
            time.sleep(0.01)
        assert http.delete(base(server, f"/projects/{project['id']}")).status_code == 204
        for thread in threads:
            thread.join(60)
        assert set(answers) <= {200, 404}, answers
        assert http.get(base(server, f"/projects/{project['id']}/images/count")).status_code == 404
    finally:
        server.stop()
    assert stores.half_done(deleted_projects=[project["id"]]) == []


def test_uploads_tagging_with_a_tag_being_deleted_leave_no_reference_to_it(stores: Stores, http: httpx.Client) -> None:
    server = stores.start()
    try:
        project = create(http, server, "/projects", f"racing-{uuid.uuid4().hex[:8]}")
        doomed = create(http, server, f"/projects/{project['id']}/tags", "doomed")
        answers: list[int] = []

        def keep_uploading(n: int) -> None:
            with httpx.Client(headers=KEY, timeout=60) as mine:
                for batch in range(6):
                    answers.append(
                        upload(mine, server, project["id"], pngs((n * 6 + batch) * 16, 16), doomed["id"]).status_code
                    )

        threads = [threading.Thread(target=keep_uploading, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        while not answers:
            time.sleep(0.01)
        assert http.delete(base(server, f"/projects/{project['id']}/tags/{doomed['id']}")).status_code == 204
        for thread in threads:
            thread.join(60)
        # before the delete: stored and tagged (then untagged); after: refused, the tag is unknown
        assert set(answers) <= {200, 404}, answers
        total = http.get(base(server, f"/projects/{project['id']}/images/count")).json()
        untagged = http.get(
            base(server, f"/projects/{project['id']}/images/count"), params={"taggingStatus": "Untagged"}
        ).json()
        assert total == untagged > 0
    finally:
        server.stop()
    assert stores.half_done(deleted_tags=[(project["id"], doomed["id"])]) == []


def test_an_image_uploaded_while_it_is_deleted_is_answered_clearly_and_stored_whole(
    stores: Stores, http: httpx.Client
) -> None:
    server = stores.start()
    try:
        project = create(http, server, "/projects", f"racing-{uuid.uuid4().hex[:8]}")
        data = pngs(9000, 1)
        first = upload(http, server, project["id"], data)
        assert first.status_code == 200, first.text
        image_id = first.json()["images"][0]["image"]["id"]
        answers: list[int] = []

        def churn(delete: bool) -> None:
            with httpx.Client(headers=KEY, timeout=60) as mine:
                for _ in range(15):
                    if delete:
                        reply = mine.delete(
                            base(server, f"/projects/{project['id']}/images"), params={"imageIds": image_id}
                        )
                    else:
                        reply = upload(mine, server, project["id"], data)
                    answers.append(reply.status_code)

        threads = [threading.Thread(target=churn, args=(d,)) for d in (True, False, False)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert all(a < 500 for a in answers), sorted(set(answers))
    finally:
        server.stop()
    assert stores.half_done() == []


def _quietly(call: Any) -> None:
    """A request whose server is killed under it: its failure is the point."""
    with contextlib.suppress(httpx.HTTPError):
        call()


def _interrupted(stores: Stores) -> bool:
    """Whether the kill left a delete's first pass unfinished (what the restart must finish)."""
    with stores_of(stores.data_dir, stores.azure_env) as services:
        return any(t.purged_at is None for t in Tombstones(services.meta).all())


def _swept(stores: Stores) -> None:
    """Wait for the restarted server to leave nothing half-done: at once on the embedded stores (its
    start sweeps before it listens); on Azure's, by its worker's first sweep, just after."""
    deadline = time.monotonic() + 60
    while (left := stores.half_done()) != []:
        assert time.monotonic() < deadline, left
        time.sleep(0.5)


def _settled(stores: Stores) -> None:
    """Wait for the restarted server's first pass over interrupted deletes: done before it listens
    on the embedded stores; on Azure's (shared) by its worker's first sweep, just after."""
    deadline = time.monotonic() + 60
    while _interrupted(stores):
        assert time.monotonic() < deadline, "the restart never finished the interrupted delete"
        time.sleep(0.5)
