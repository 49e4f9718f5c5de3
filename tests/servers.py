"""Start and stop a real ``cvstudio serve`` process for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

TRAINING_KEY = "test-training-key-0123456789"
PREDICTION_KEY = "test-prediction-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    endpoint: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, *, hard: bool = False) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(data_dir: Path, *, extra_env: dict[str, str] | None = None, port: int | None = None) -> RunningServer:
    port = port or free_port()
    env = {
        **os.environ,
        "CVSTUDIO_TRAINING_KEY": TRAINING_KEY,
        "CVSTUDIO_PREDICTION_KEY": PREDICTION_KEY,
        "CVSTUDIO_ALLOW_PRIVATE_URLS": "true",
        **(extra_env or {}),
    }
    log_path = data_dir.parent / f"server-{port}.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shared.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=Path(__file__).resolve().parents[1],
        )
    server = RunningServer(f"http://127.0.0.1:{port}", data_dir, process, log_path)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"cvstudio serve exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.endpoint}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop(hard=True)
    raise RuntimeError(f"cvstudio serve did not start in 30 s:\n{server.log()}")
