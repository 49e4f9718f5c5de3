"""The DockerFile export: a container that answers the Prediction API's calls for one model.

The zip holds a ``Dockerfile`` (a pinned multi-arch Python slim base: Linux = linux/amd64, ARM =
linux/arm64, no flavor = either, as ``docker buildx`` asks), ``requirements.txt`` (the versions of
onnxruntime, Pillow and numpy this cvstudio runs), ``README.txt`` and ``app/``: the server
(``docker_server/server.py``), the model as training stored it with its labels and tag ids, and
cvstudio's own prediction modules (decoding, preprocessing, inference), copied from this installation:
the container decodes and scores an image with the same code as the server, so it gives the same answers.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from shared.domain.enums import Task
from shared.exporting.source import ExportSource

__all__ = ["BASE_IMAGE", "PACKAGED_MODULES", "build_dockerfile"]

_SHARED = Path(__file__).resolve().parents[1]
_TEMPLATE = Path(__file__).resolve().parent / "docker_server"

BASE_IMAGE = "python:3.11.14-slim-bookworm"  # multi-arch: linux/amd64 and linux/arm64
_PLATFORMS = {None: None, "Linux": "linux/amd64", "ARM": "linux/arm64"}
# The prediction path, as packaged: each is stdlib + numpy + Pillow + onnxruntime, and imports only these.
PACKAGED_MODULES = (
    "domain/enums.py",
    "domain/errors.py",
    "domain/limits.py",
    "net/url_fetch.py",
    "stores/cache.py",
    "vision/decode_memory.py",
    "vision/images.py",
    "vision/inference.py",
    "vision/preprocess.py",
    "vision/tiling.py",
)
_RUNTIME = ("numpy", "onnxruntime", "pillow")


def build_dockerfile(source: ExportSource, workdir: Path) -> dict[str, bytes]:
    files = {
        "Dockerfile": _dockerfile(_PLATFORMS.get(source.flavor)).encode(),
        "requirements.txt": "".join(f"{name}=={metadata.version(name)}\n" for name in _RUNTIME).encode(),
        "README.txt": _readme(source).encode(),
        "app/server.py": (_TEMPLATE / "server.py").read_bytes(),
        "app/model.onnx": source.trained_onnx,
        "app/labels.txt": source.labels_txt,
        "app/model.json": json.dumps(_model_info(source), indent=2).encode(),
    }
    for package in {"", *(module.rpartition("/")[0] + "/" for module in PACKAGED_MODULES)}:
        files[f"app/shared/{package}__init__.py"] = b""
    for module in PACKAGED_MODULES:
        files[f"app/shared/{module}"] = (_SHARED / module).read_bytes()
    return files


def _model_info(source: ExportSource) -> dict[str, object]:
    negative = {"id": source.negative_tag[0], "name": source.negative_tag[1]} if source.negative_tag else None
    return {
        "task": source.task.value,
        "labels": list(source.labels),
        "tagIds": list(source.tag_ids),
        "negativeTag": negative,
        "iterationId": source.iteration_id,
        "domainId": source.domain_id,
    }


def _dockerfile(platform: str | None) -> str:
    pinned = f"--platform={platform} " if platform else ""
    return f"""\
# The exported model behind the Custom Vision Prediction API (cvstudio's DockerFile export).
# The base image is multi-arch: build for linux/amd64 (x86-64 servers) or linux/arm64 (ARM boards,
# Apple silicon, Graviton):
#   docker build -t cvmodel .
#   docker buildx build --platform linux/amd64,linux/arm64 -t cvmodel .
FROM {pinned}{BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt
COPY app/ /app/
EXPOSE 80
CMD ["python", "/app/server.py", "--port", "80"]
"""


def _readme(source: ExportSource) -> str:
    call = "detect" if source.task is Task.DETECTION else "classify"
    return f"""\
This container serves one model exported from cvstudio ({source.task.value}; labels: {", ".join(source.labels)}).

Build and run (Linux amd64 or arm64):
    docker build -t cvmodel .
    docker run -p 127.0.0.1:80:80 -d cvmodel

Call it as Custom Vision's exported containers are called:
    curl -X POST http://127.0.0.1/image -H "Content-Type: application/octet-stream" --data-binary @image.jpg
    curl -X POST http://127.0.0.1/url -H "Content-Type: application/json" -d '{{"url": "https://.../image.jpg"}}'

or with the Custom Vision Prediction SDK, the endpoint being http://127.0.0.1 (any key, any project id and
published name):
    POST /customvision/v3.0/Prediction/{{projectId}}/{call}/iterations/{{publishedName}}/image
    POST /customvision/v3.0/Prediction/{{projectId}}/{call}/iterations/{{publishedName}}/url

The answer is the Prediction API's: {{"id", "project", "iteration", "created", "predictions": [{{"probability",
"tagId", "tagName", "tagType", "boundingBox"}}]}}; bounding boxes are normalised left, top, width, height.
Without docker: pip install -r requirements.txt, then python app/server.py --port 8080.
/url fetches only public addresses; add --allow-private-urls to the server's command to let it reach
loopback and private networks.
"""
