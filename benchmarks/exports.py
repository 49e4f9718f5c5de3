"""Export time per platform, through the API, for the trained quickstart classifier and detector.

Against a real ``cvstudio serve`` on a fresh data dir: trains and publishes the classification quickstart
(Hemlock / Japanese Cherry, General (compact)) and the detection quickstart (fork / scissors, General
(compact) object detection), then exports each to every (platform, flavor) a compact domain offers
(``shared.domain.catalogue.BUILT_EXPORTS``), one at a time: the seconds from ``export_iteration`` to the
export leaving ``Exporting``, as a client sees it. That includes starting ``cvstudio export-iteration``
(the worker's child process: Python, the product and the converter imported) and writing the zip; the
package's size is in the notes. A platform whose export ends ``Failed`` gets a failed row.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import httpx

from benchmarks import Row, progress
from benchmarks._support import POLL_S, attempt, serving, training_client
from benchmarks.prediction import Published, _train_classifier, _train_detector
from shared.domain.catalogue import BUILT_EXPORTS

EXPORT_TIMEOUT_S = 600.0


def _export(client: Any, model: Published, platform: str, flavor: str | None) -> Row:
    name = f"export {model.task}: {platform}" + (f" ({flavor})" if flavor else "")
    started = time.perf_counter()
    client.export_iteration(model.project_id, model.iteration_id, platform, flavor=flavor)
    while True:
        (export,) = [
            e
            for e in client.get_exports(model.project_id, model.iteration_id)
            if (e.platform, e.flavor) == (platform, flavor)
        ]
        seconds = time.perf_counter() - started
        if export.status != "Exporting" or seconds > EXPORT_TIMEOUT_S:
            break
        time.sleep(POLL_S)
    if export.status != "Done":
        return Row(name, seconds, "s", note=f"ended {export.status}", met=False)
    size = len(httpx.get(export.download_uri).content)
    return Row(name, seconds, "s", note=f"export_iteration → Done; zip {size / 1e6:.1f} MB")


def run(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    with serving("exports") as server:
        client = training_client(server.endpoint)
        try:
            models: dict[str, Published] = {}

            def setup(task: str, trainer: Callable[[Any], Published]) -> list[Row]:
                progress(f"exports: training the {task} model")
                models[task] = trainer(client)
                return []

            for task, trainer in (("classify", _train_classifier), ("detect", _train_detector)):
                attempt(f"exports: training the {task} model", rows, lambda t=task, f=trainer: setup(t, f))
                if task not in models:
                    continue
                for platform, flavors in BUILT_EXPORTS.items():
                    for flavor in flavors:
                        attempt(
                            f"exports: {task} {platform} {flavor}",
                            rows,
                            lambda m=models[task], p=platform, f=flavor: [_export(client, m, p, f)],
                        )
        finally:
            client.close()
    return rows
