"""The local Azure stack the tests start on loopback: Azurite (Blob, Queue) and a Cosmos DB server.

Both come from npm (pinned in ``package.json``, installed by ``make install`` into this folder's
``node_modules``) and keep everything in memory, so a fresh stack is an empty account. See
``../shared/reference/local-azure-stack.md`` of the project for what these servers do and do not.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["AZURITE_ACCOUNT", "AzureStack", "start_azure_stack"]

HERE = Path(__file__).resolve().parent
_BIN = HERE / "node_modules" / ".bin"
# Azurite's well-known development account (public: it is in every Azure Storage SDK's docs).
AZURITE_ACCOUNT = "devstoreaccount1"
_AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
# The Cosmos server checks no signature; any base64 key will do.
_COSMOS_KEY = "Y3ZzdHVkaW8tbG9jYWwtY29zbW9zLWtleQ=="
_STARTUP_SECONDS = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class AzureStack:
    blob_port: int
    queue_port: int
    cosmos_port: int
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def storage_connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={_AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{AZURITE_ACCOUNT};"
        )

    @property
    def cosmos_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.cosmos_port}/"

    @property
    def cosmos_key(self) -> str:
        return _COSMOS_KEY

    def settings_env(self, database: str) -> dict[str, str]:
        """The CVSTUDIO_* settings that put every role on this stack (``database``: a fresh name
        keeps one test's documents apart from another's)."""
        return {
            "CVSTUDIO_STORAGE": self.storage_connection_string,
            "CVSTUDIO_COSMOS_ENDPOINT": self.cosmos_endpoint,
            "CVSTUDIO_COSMOS_KEY": self.cosmos_key,
            "CVSTUDIO_COSMOS_DATABASE": database,
        }

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text(errors='replace')}")
        if ready():
            return
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{what} did not start in {_STARTUP_SECONDS:.0f} s:\n{log.read_text(errors='replace')}")


def start_azure_stack(log_dir: Path) -> AzureStack:
    """Start Azurite and the Cosmos server on free loopback ports; ``stop()`` them when done."""
    node = shutil.which("node")
    if node is None or not (_BIN / "azurite").exists():
        raise RuntimeError("The local Azure stack is not installed: run `make install` (it needs Node.js and npm).")
    stack = AzureStack(_free_port(), _free_port(), _free_port())
    log_dir.mkdir(parents=True, exist_ok=True)
    azurite_log, cosmos_log = log_dir / "azurite.log", log_dir / "cosmos.log"
    try:
        with open(azurite_log, "ab") as log:
            azurite = subprocess.Popen(
                [
                    str(_BIN / "azurite"), "--inMemoryPersistence", "--skipApiVersionCheck", "--loose", "--silent",
                    "--disableTelemetry", "--blobHost", "127.0.0.1", "--blobPort", str(stack.blob_port),
                    "--queueHost", "127.0.0.1", "--queuePort", str(stack.queue_port),
                    "--tableHost", "127.0.0.1", "--tablePort", str(_free_port()),
                ],
                stdout=log, stderr=subprocess.STDOUT, cwd=HERE,
            )  # fmt: skip
        stack.processes.append(azurite)
        with open(cosmos_log, "ab") as log:
            cosmos = subprocess.Popen(
                [node, str(HERE / "cosmos_server.js"), "--port", str(stack.cosmos_port)],
                stdout=log, stderr=subprocess.STDOUT, cwd=HERE,
            )  # fmt: skip
        stack.processes.append(cosmos)
        _wait(lambda: _listening(stack.blob_port) and _listening(stack.queue_port), azurite, azurite_log, "Azurite")
        _wait(lambda: _listening(stack.cosmos_port), cosmos, cosmos_log, "The Cosmos DB server")
    except BaseException:
        stack.stop()
        raise
    return stack
