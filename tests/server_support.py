"""A real ``epiradar serve`` process (HTTP + MLLP) on free ports, for socket-level tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

PSEUDONYM_KEY = "server-test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    http_port: int
    mllp_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_server(db_url: str, log: Path, *, timeout: float = 60.0) -> Server:
    http_port, mllp_port = free_port(), free_port()
    env = {**os.environ, "EPIRADAR_PSEUDONYM_KEY": PSEUDONYM_KEY}
    out = open(log, "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "epiradar",
            "serve",
            "--db",
            db_url,
            "--port",
            str(http_port),
            "--mllp-port",
            str(mllp_port),
        ],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    server = Server(process, http_port, mllp_port, log)
    deadline = time.monotonic() + timeout
    while not (_listening(http_port) and _listening(mllp_port)):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"server did not start:\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.1)
    return server


@contextmanager
def running_server(db_url: str, log: Path) -> Iterator[Server]:
    server = start_server(db_url, log)
    try:
        yield server
    finally:
        server.stop()
