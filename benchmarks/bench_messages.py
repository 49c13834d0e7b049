"""Hospital connectivity benchmarks against a real ``epiradar serve`` process.

    python benchmarks/bench_messages.py [--messages 20000] [--connections 8]

1. MLLP: python-hl7's own ``MLLPClient`` on 8 connections, each waiting for its ACK before the
   next message (HL7 original mode), every message durably committed before its ACK (SQLite,
   ``synchronous=FULL``). Reference: the same client against a bare python-hl7 asyncio MLLP
   server that acknowledges without reading or storing anything.
2. HTTP HL7 v2 batches (``POST /api/ingest/hl7``), two facilities posting at a time.
   Reference: ``hl7.parse`` (python-hl7) of the same messages, parsing only.
3. HTTP FHIR R4 Bundles (``POST /api/fhir``). Reference: ``fhir.resources`` R4B validation of the
   same Bundles, validation only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
KEY = "benchmark-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("server exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


class Serve:
    """``epiradar serve --mllp-port`` on a fresh SQLite database holding ``city``."""

    def __init__(self, work: Path, city, name: str) -> None:
        from epiradar.store import Store

        self.url = f"sqlite:///{work / (name + '.db')}"
        with Store(self.url) as store:
            store.migrate()
            store.load_city(city.regions, city.facilities, city.places, city.mobility)
            self.tokens = {f.id: store.create_token(f.id) for f in city.facilities}
        self.http, self.mllp = _free_port(), _free_port()
        env = {**os.environ, "EPIRADAR_PSEUDONYM_KEY": KEY}
        cmd = [sys.executable, "-m", "epiradar", "serve", "--db", self.url]
        cmd += ["--port", str(self.http), "--mllp-port", str(self.mllp)]
        self.log = open(work / f"{name}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        _wait(self.http, self.process)
        _wait(self.mllp, self.process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def send_mllp(port: int, streams: list[list[str]]) -> dict:
    """Each stream on its own connection, one message at a time; ACK latencies."""
    from hl7.client import MLLPClient

    latencies: list[list[float]] = [[] for _ in streams]
    codes: list[list[str]] = [[] for _ in streams]

    def run(k: int) -> None:
        with MLLPClient("127.0.0.1", port) as client:
            for text in streams[k]:
                t0 = time.perf_counter()
                reply = client.send_message(text)
                latencies[k].append(time.perf_counter() - t0)
                codes[k].append(reply.split(b"MSA|", 1)[1][:2].decode())

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(streams))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    flat = np.array([x for lat in latencies for x in lat])
    n = len(flat)
    ok = sum(c == "AA" for cs in codes for c in cs)
    return {
        "messages": n,
        "seconds": wall,
        "rate": n / wall,
        "p50_ms": float(np.percentile(flat, 50) * 1000),
        "p99_ms": float(np.percentile(flat, 99) * 1000),
        "aa": ok,
    }


_BARE_SERVER = """
import asyncio, sys
from hl7.mllp import start_hl7_server
ACK = b"MSH|^~\\\\&|R|R|S|S|20240101||ACK|1|P|2.5.1\\rMSA|AA|1\\r"
async def handle(reader, writer):
    try:
        while True:
            await reader.readblock()
            writer.writeblock(ACK)
            await writer.drain()
    except Exception:
        writer.close()
async def main():
    server = await start_hl7_server(handle, "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def bench_mllp(work: Path, city, messages: list[str], connections: int) -> dict:
    from epiradar.ingest.mllp import read_message
    from epiradar.store import Store

    streams: list[list[str]] = [[] for _ in range(connections)]
    for text in messages:
        visit = read_message(text.encode()).fields["visit_id"]  # type: ignore[union-attr]
        streams[zlib.crc32(visit.encode()) % connections].append(text)
    server = Serve(work, city, "mllp")
    try:
        ours = send_mllp(server.mllp, streams)
        sample = work / "sample.hl7"
        sample.write_text("\n\n".join(m.replace("\r", "\n") for m in messages[:5]))
        tool = str(Path(sys.executable).parent / "mllp_send")
        out = subprocess.run(
            [tool, "--loose", "-f", str(sample), "-p", str(server.mllp), "127.0.0.1"],
            capture_output=True,
            check=True,
        ).stdout.decode()
        ours["mllp_send_aa"] = out.count("MSA|AA|")
    finally:
        server.stop()
    with Store(server.url) as store:
        ours["stored"] = len(store.message_log())
    port = _free_port()
    bare = subprocess.Popen([sys.executable, "-c", _BARE_SERVER, str(port)])
    try:
        _wait(port, bare)
        ours["reference"] = send_mllp(port, streams)
    finally:
        bare.terminate()
        bare.wait()
    return ours


SENDERS = 2
"""Facilities posting at the same time (each its own batches, one after another)."""


def _post_all(url: str, bodies: list[tuple[str, bytes]], server: Serve) -> list[httpx.Response]:
    """Post every body; ``SENDERS`` facilities at a time, as a city's hospitals would."""
    from concurrent.futures import ThreadPoolExecutor

    def post(item: tuple[str, bytes]) -> httpx.Response:
        facility, body = item
        with httpx.Client(timeout=600) as client:
            reply = client.post(
                url, content=body, headers={"Authorization": f"Bearer {server.tokens[facility]}"}
            )
        reply.raise_for_status()
        return reply

    with ThreadPoolExecutor(SENDERS) as pool:
        return list(pool.map(post, bodies))


def bench_http_hl7(work: Path, city, messages: list[str], batch: int = 2000) -> dict:
    import hl7

    from epiradar.ingest.hl7v2 import read_header

    by_facility: dict[str, list[str]] = {}
    for text in messages:
        by_facility.setdefault(read_header(text).sending_facility, []).append(text)
    bodies = []
    for facility, texts in by_facility.items():
        for i in range(0, len(texts), batch):
            bodies.append((facility, "\n".join(texts[i : i + batch]).encode()))
    server = Serve(work, city, "http_hl7")
    try:
        t0 = time.perf_counter()
        replies = _post_all(f"http://127.0.0.1:{server.http}/api/ingest/hl7", bodies, server)
        wall = time.perf_counter() - t0
        accepted = sum(r.json()["accepted"] for r in replies)
    finally:
        server.stop()
    t0 = time.perf_counter()
    for text in messages:
        hl7.parse(text)
    ref = time.perf_counter() - t0
    return {
        "messages": len(messages),
        "accepted": accepted,
        "seconds": wall,
        "rate": len(messages) / wall,
        "ref_rate": len(messages) / ref,
    }


def bench_http_fhir(work: Path, city, visits, per_bundle: int = 500) -> dict:
    from fhir.resources.R4B.bundle import Bundle

    from epiradar.sim.fhir import fhir_bundles

    by_facility = {f: v for f, v in visits.groupby("facility_id")}
    bodies = []
    for facility, frame in by_facility.items():
        for bundle in fhir_bundles(frame, per_bundle=per_bundle):
            bodies.append((facility, json.dumps(bundle).encode()))
    server = Serve(work, city, "http_fhir")
    try:
        t0 = time.perf_counter()
        replies = _post_all(f"http://127.0.0.1:{server.http}/api/fhir", bodies, server)
        wall = time.perf_counter() - t0
        accepted = sum(int(r.json()["issue"][-1]["diagnostics"].split()[0]) for r in replies)
    finally:
        server.stop()
    t0 = time.perf_counter()
    for _, body in bodies:
        Bundle.model_validate_json(body)
    ref = time.perf_counter() - t0
    return {
        "visits": len(visits),
        "bundles": len(bodies),
        "accepted": accepted,
        "seconds": wall,
        "rate": len(visits) / wall,
        "ref_rate": len(visits) / ref,
    }


def workload(messages: int, seed: int = 11):
    """A simulated city and its visits as HL7 messages (A04, some A08 and A03)."""
    from epiradar.sim.hl7 import hl7_messages
    from epiradar.sim.scenarios import simulate

    days = max(20, int(messages / 450) + 2)  # at least ``messages`` visits
    sim = simulate("point-source", seed=seed, days=days, daily_visits=500, n_regions=40)
    visits = sim.visits.astype(str).replace({"nan": "", "None": "", "<NA>": ""})
    texts = hl7_messages(visits, seed=seed)[:messages]
    return sim.city, visits, texts


def run_all(messages: int, connections: int) -> dict:
    city, visits, texts = workload(messages)
    with tempfile.TemporaryDirectory(prefix="epiradar-bench-msg-") as tmp:
        work = Path(tmp)
        return {
            "mllp": bench_mllp(work, city, texts, connections),
            "http_hl7": bench_http_hl7(work, city, texts),
            "http_fhir": bench_http_fhir(work, city, visits.iloc[:messages]),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--only", choices=["mllp", "http_hl7", "http_fhir"])
    args = parser.parse_args()
    if args.only:
        city, visits, texts = workload(args.messages)
        with tempfile.TemporaryDirectory(prefix="epiradar-bench-msg-") as tmp:
            work = Path(tmp)
            if args.only == "mllp":
                result = bench_mllp(work, city, texts, args.connections)
            elif args.only == "http_hl7":
                result = bench_http_hl7(work, city, texts)
            else:
                result = bench_http_fhir(work, city, visits.iloc[: args.messages])
        print(json.dumps(result, indent=2))
        return
    print(json.dumps(run_all(args.messages, args.connections), indent=2))


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
