"""The DockerFile export's server: one exported model behind the Prediction API's calls (stdlib only).

Routes (no key is checked: the container is yours, as Custom Vision's own was):
- ``POST /image`` (the image as the body, or multipart ``imageData``) and ``POST /url`` (``{"url": ...}``):
  Custom Vision's docker export routes;
- ``POST /customvision/v3.x/Prediction/{projectId}/classify|detect/iterations/{publishedName}/image|url``
  (and ``.../nostore``): the Prediction API, so the official SDK works against this container.

Images are decoded and run by cvstudio's own prediction code (``shared/vision``, packaged beside this file
from the cvstudio that exported the model), so the container answers as the server did.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import json
import os
import re
import sys
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # cvstudio's packaged modules (shared/...) beside this file

from shared.domain.errors import ServiceError  # noqa: E402
from shared.domain.limits import MAX_IMAGE_BYTES_PREDICTION  # noqa: E402
from shared.net.url_fetch import FetchPolicy, fetch_url  # noqa: E402
from shared.vision.images import model_image  # noqa: E402
from shared.vision.inference import OnnxModel  # noqa: E402

MAX_DETECTIONS = 200  # as cvstudio's Prediction API
_PREDICTION = re.compile(
    r"^/customvision/v3\.\d+(?:-preview)?/prediction/(?P<project>[^/]+)/(?P<task>classify|detect)"
    r"/iterations/(?P<name>[^/]+)/(?P<kind>image|url)(?:/nostore)?/?$",
    re.IGNORECASE,
)


class Model:
    def __init__(self, folder: Path) -> None:
        self.info: dict[str, Any] = json.loads((folder / "model.json").read_text())
        self.onnx = OnnxModel((folder / "model.onnx").read_bytes())

    def predict(self, data: bytes) -> list[dict[str, Any]]:
        """Scored tags, best first: ``{"probability", "tagId", "tagName", "tagType", "boundingBox"}``."""
        tags = list(zip(self.info["tagIds"], self.info["labels"], strict=True))
        with model_image(data, min_side=self.onnx.decode_side, max_bytes=MAX_IMAGE_BYTES_PREDICTION) as decoded:
            if self.info["task"] == "detection":
                rows = self.onnx.detect(decoded.image, MAX_DETECTIONS)
                return [_scored(tags[int(r[0])], r[1], (r[2], r[3], r[4], r[5])) for r in rows]
            probabilities = [float(p) for p in self.onnx.classify(decoded.image)]
        found = [_scored(tag, p) for tag, p in zip(tags, probabilities, strict=True)]
        negative = self.info.get("negativeTag")
        if negative:  # multilabel: the probability that no tag applies
            none = 1.0
            for p in probabilities:
                none *= 1.0 - p
            found.append(_scored((negative["id"], negative["name"]), none, tag_type="Negative"))
        return sorted(found, key=lambda s: float(s["probability"]), reverse=True)


def _scored(
    tag: tuple[str, str], probability: float, box: tuple[float, ...] | None = None, tag_type: str = "Regular"
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "probability": max(0.0, min(1.0, float(probability))),
        "tagId": tag[0],
        "tagName": tag[1],
        "tagType": tag_type,
    }
    if box is not None:
        out["boundingBox"] = dict(zip(("left", "top", "width", "height"), (float(v) for v in box), strict=True))
    return out


class Handler(BaseHTTPRequestHandler):
    model: Model
    allow_private = False
    server_version = "cvstudio-export"

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        match = _PREDICTION.match(path)
        try:
            if match:
                if (match["task"].lower() == "detect") != (self.model.info["task"] == "detection"):
                    wrong = "an object detector: call detect" if match["task"].lower() == "classify" else "a classifier"
                    raise _Refusal(400, "BadRequestInvalid", f"This model is {wrong}, not {match['task']}.")
                data = self._url_image() if match["kind"].lower() == "url" else self._body_image()
                project = match["project"]
            elif path.rstrip("/") in ("/image", ""):
                data, project = self._body_image(), ""
            elif path.rstrip("/") == "/url":
                data, project = self._url_image(), ""
            else:
                raise _Refusal(404, "NotFound", f"No route {path}; POST /image or /url.")
            predictions = self.model.predict(data)
        except _Refusal as refusal:
            self._json(refusal.status, {"code": refusal.code, "message": refusal.message})
            return
        except ServiceError as exc:  # an image cvstudio refuses, refused as cvstudio does
            self._json(exc.status, {"code": exc.code.value, "message": exc.message})
            return
        self._json(
            200,
            {
                "id": str(uuid.uuid4()),
                "project": project,
                "iteration": self.model.info.get("iterationId", ""),
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "predictions": predictions,
            },
        )

    def _read(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_IMAGE_BYTES_PREDICTION + 64 * 1024:
            raise _Refusal(413, "BadRequestImageSizeBytes", "The image is over the 4 MB limit.")
        return self.rfile.read(length)

    def _body_image(self) -> bytes:
        body = self._read()
        content_type = self.headers.get("Content-Type", "")
        if content_type.lower().startswith("multipart/form-data"):
            head = f"Content-Type: {content_type}\r\n\r\n".encode()
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
            for part in message.iter_parts():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    return payload
            raise _Refusal(400, "BadRequestImageStream", "The multipart body has no image part.")
        return body

    def _url_image(self) -> bytes:
        try:
            body = json.loads(self._read() or b"{}")
            url = body.get("url") or body.get("Url")
        except (ValueError, AttributeError):
            url = None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _Refusal(400, "BadRequestImageUrl", 'Send {"url": "https://..."} with the image\'s address.')
        # cvstudio's own guarded fetch: no loopback, link-local or private addresses (a cloud's metadata
        # service among them) unless --allow-private-urls; Custom Vision's size limit; one deadline.
        return fetch_url(url, FetchPolicy(allow_private=self.allow_private, max_bytes=MAX_IMAGE_BYTES_PREDICTION))

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
        if os.environ.get("CVSTUDIO_EXPORT_LOG"):
            super().log_message(format, *args)


class _Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the exported model.")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a container's server
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "80")))
    parser.add_argument(
        "--allow-private-urls", action="store_true", help="let /url reach loopback and private networks"
    )
    args = parser.parse_args()
    Handler.model = Model(HERE)
    Handler.allow_private = args.allow_private_urls
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"serving the exported model on http://{args.host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
