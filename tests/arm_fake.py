"""A fake Azure Resource Manager on loopback, for the Container Apps launcher's tests.

It speaks just enough ARM for the real ``azure-mgmt-appcontainers`` client, with its real
policies, to start a job: ``GET`` a job, ``POST .../start`` (recorded, then accepted or refused as
the test says), with ARM's error bodies. It serves HTTPS, because azure-core's bearer-token policy
refuses to send a token over plain HTTP: a CA and a certificate for 127.0.0.1 are made here
(``ca_path``: the CA to trust, e.g. through ``REQUESTS_CA_BUNDLE``). It also stands in for the
App Service managed-identity endpoint (``identity_env``: ``IDENTITY_ENDPOINT`` and
``IDENTITY_HEADER``), so that ``DefaultAzureCredential`` gets its token the way it does in a
Function App, and ARM accepts only the tokens issued there.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import secrets
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["FakeArm", "StartRequest", "start_fake_arm"]

API_VERSION = "2026-07-01"
_IDENTITY_PATH = "/msi/token"


@dataclass(frozen=True)
class StartRequest:
    """One ``POST .../jobs/{name}/start`` as ARM received it."""

    path: str
    api_version: str
    body: dict[str, Any]


@dataclass
class FakeArm:
    server: ThreadingHTTPServer
    ca_path: Path
    identity_secret: str
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower-cased resource id -> job
    starts: list[StartRequest] = field(default_factory=list)
    token_resources: list[str] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    # The answer to the next starts: None accepts them; (status, code, message) refuses them.
    start_answer: tuple[int, str, str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    @property
    def identity_env(self) -> dict[str, str]:
        """The App Service managed-identity settings that point ``DefaultAzureCredential`` here."""
        return {"IDENTITY_ENDPOINT": f"{self.endpoint}{_IDENTITY_PATH}", "IDENTITY_HEADER": self.identity_secret}

    def add_job(self, job_id: str, containers: list[dict[str, Any]]) -> None:
        name = job_id.rstrip("/").rsplit("/", 1)[-1]
        self.jobs[job_id.lower()] = {
            "id": job_id,
            "name": name,
            "type": "Microsoft.App/jobs",
            "location": "westeurope",
            "properties": {
                "provisioningState": "Succeeded",
                "configuration": {
                    "triggerType": "Manual",
                    "replicaTimeout": 14400,
                    "replicaRetryLimit": 0,
                    "manualTriggerConfig": {"parallelism": 1, "replicaCompletionCount": 1},
                },
                "template": {"containers": containers},
            },
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate it signed for 127.0.0.1: (CA pem, certificate pem, key pem)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cvstudio test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header.removeprefix("Bearer ") in self.server.fake.tokens:
            return True
        self._send(401, _error("InvalidAuthenticationToken", "The access token is invalid."))
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        fake = self.server.fake
        if url.path == _IDENTITY_PATH:
            if self.headers.get("X-IDENTITY-HEADER") != fake.identity_secret:
                self._send(400, {"statusCode": 400, "message": "X-IDENTITY-HEADER is missing or wrong."})
                return
            token = secrets.token_urlsafe(24)
            with fake.lock:
                fake.tokens.add(token)
                fake.token_resources.append(query.get("resource", ""))
            expires = str(int(time.time()) + 3600)
            self._send(
                200,
                {"access_token": token, "expires_on": expires, "resource": query.get("resource", ""),
                 "token_type": "Bearer", "client_id": str(uuid.uuid4())},
            )  # fmt: skip
            return
        if not self._authorized():
            return
        job = fake.jobs.get(url.path.lower())
        if job is None:
            group = url.path.split("/")[4] if url.path.count("/") > 4 else "?"
            self._send(
                404,
                _error(
                    "ResourceNotFound",
                    f"The Resource 'Microsoft.App/jobs/{url.path.rsplit('/', 1)[-1]}' under resource group "
                    f"'{group}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                ),
            )
            return
        self._send(200, job)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not self._authorized():
            return
        if not url.path.lower().endswith("/start"):
            self._send(404, _error("NotFound", f"No such operation: {url.path}"))
            return
        job_path = url.path[: -len("/start")]
        body = json.loads(raw) if raw else {}
        with fake.lock:
            fake.starts.append(StartRequest(url.path, query.get("api-version", ""), body))
            answer = fake.start_answer
        if answer is not None:
            status, code, message = answer
            self._send(status, _error(code, message))
            return
        job = fake.jobs.get(job_path.lower())
        if job is None:
            self._send(404, _error("ResourceNotFound", f"The Resource '{job_path}' was not found."))
            return
        execution = f"{job['name']}-{secrets.token_hex(3)}"
        self._send(
            202,
            {"id": f"{job['id']}/executions/{execution}", "name": execution},
            {"Location": f"{fake.endpoint}{job_path}/executions/{execution}?api-version={API_VERSION}"},
        )


class _Server(ThreadingHTTPServer):
    """Serves each connection over TLS, shaken hands on its own thread (a client that gives up
    mid-handshake costs that thread only), and closed whatever happened."""

    daemon_threads = True
    fake: FakeArm
    tls: ssl.SSLContext

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            connection = self.tls.wrap_socket(request, server_side=True)
        except OSError:  # ssl.SSLError included; the wrapped socket is closed already
            return
        try:
            self.RequestHandlerClass(connection, client_address, self)
        finally:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


def start_fake_arm(folder: Path) -> FakeArm:
    """A fake ARM on a free loopback port, serving HTTPS; ``stop()`` it when done."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = _certificate(folder)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.tls.load_cert_chain(cert_path, key_path)
    fake = FakeArm(server, ca_path, secrets.token_urlsafe(16))
    server.fake = fake
    threading.Thread(target=server.serve_forever, name="fake-arm", daemon=True).start()
    return fake
