"""HL7 v2 over a real MLLP socket, against a real ``epiradar serve`` process:
acknowledgements, resends, quarantine, many connections, ``mllp_send`` interoperability, and
the crash test (SIGKILL in the middle of a stream of 10,000 messages)."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import httpx
import pandas as pd
import pytest
from hl7.client import MLLPClient

from epiradar.ingest.hl7v2 import read_header
from epiradar.ingest.messages import MessagePipeline
from epiradar.ingest.mllp import read_message
from epiradar.ingest.syndromes import load_default_classifier
from epiradar.sim.hl7 import hl7_messages
from epiradar.sim.scenarios import simulate
from epiradar.store import Store
from server_support import PSEUDONYM_KEY, Server, running_server, start_server

pytestmark = pytest.mark.slow


def message(
    control: str,
    visit: str,
    *,
    facility: str = "F1",
    event: str = "A04",
    admit: str = "20240301093000",
    complaint: str = "fever and cough",
) -> str:
    segments = [
        f"MSH|^~\\&|HIS|{facility}|EPIRADAR|CDC|20240301100000||ADT^{event}^ADT_A01|{control}|P|2.5.1",
        f"EVN|{event}|20240301100000",
        "PID|1||PAT-7^^^F1^MR||Doe^Jane||19900215|F|||1 Road^^City^^^^^^R2",
        f"PV1|1|E|||||||||||||||||{visit}|||||||||||||||||||||||||{admit}",
        "OBX|1|TX|8661-1^Chief complaint^LN||" + complaint + "||||||F",
        "OBX|2|NM|11289-6^Body temperature^LN||38.4|Cel|||||F",
    ]
    return "\r".join(segments) + "\r"


def msa(reply: bytes) -> list[str]:
    text = reply.decode("utf-8").strip("\x0b\x1c\r")
    segment = next(s for s in text.split("\r") if s.startswith("MSA|"))
    return segment.split("|")


def err(reply: bytes) -> list[str]:
    text = reply.decode("utf-8").strip("\x0b\x1c\r")
    return next(s for s in text.split("\r") if s.startswith("ERR|")).split("|")


def test_ack_after_commit_resend_and_errors(server: Server, served_db_url: str) -> None:
    with MLLPClient("127.0.0.1", server.mllp_port) as client:
        first = client.send_message(message("C1", "V1"))
        assert msa(first)[1:3] == ["AA", "C1"]
        # stored when acknowledged: another connection sees it at once
        with Store(served_db_url) as store:
            assert store.visits_frame(None, None)["visit_id"].tolist() == ["V1"]
        again = client.send_message(message("C1", "V1"))
        assert msa(again)[1:3] == ["AA", "C1"]
        bad = client.send_message(message("C2", "V2", admit="20240230093000"))
        assert msa(bad)[1:3] == ["AE", "C2"]
        fields = err(bad)
        assert fields[2].startswith("PV1^1^44") and "no such" in fields[8].lower()
        garbage = client.send_message("this is not HL7")
        assert msa(garbage)[1] == "AR"
    with Store(served_db_url) as store:
        assert len(store.visits_frame(None, None)) == 1
        assert len(store.message_log()) == 1
        kept = store.quarantined(source="mllp:F1")
        assert [q["record"] for q in kept] == ["C2"] and kept[0]["field"] == "PV1-44"
        assert "PV1|" in kept[0]["raw"]  # verbatim


def test_many_concurrent_connections(server: Server, served_db_url: str) -> None:
    failures: list[str] = []

    def send(n: int) -> None:
        with MLLPClient("127.0.0.1", server.mllp_port) as client:
            for i in range(40):
                reply = client.send_message(message(f"C{n}-{i}", f"V{n}-{i}"))
                if msa(reply)[1] != "AA":
                    failures.append(reply.decode())

    threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    with Store(served_db_url) as store:
        assert len(store.visits_frame(None, None)) == 16 * 40


def test_mllp_send_interoperates(server: Server, served_db_url: str, tmp_path: Path) -> None:
    """python-hl7's ``mllp_send`` tool, reading a file with ``\\n`` line ends."""
    sample = tmp_path / "sample.hl7"
    sample.write_text(
        "\n".join(message(f"S{i}", f"VS{i}").replace("\r", "\n") for i in range(3)),
        encoding="utf-8",
    )
    tool = shutil.which("mllp_send") or str(Path(sys.executable).parent / "mllp_send")
    out = subprocess.run(
        [tool, "--loose", "-f", str(sample), "-p", str(server.mllp_port), "127.0.0.1"],
        capture_output=True,
        timeout=60,
        check=True,
    ).stdout.decode()
    assert out.count("MSA|AA|") == 3
    with Store(served_db_url) as store:
        assert sorted(store.visits_frame(None, None)["visit_id"]) == ["VS0", "VS1", "VS2"]


# ---------------------------------------------------------------------------------------------
# crash test

N_MESSAGES = 10_000
STREAMS = 4


def _stream_messages(tmp_path: Path) -> tuple[object, list[list[str]]]:
    """A simulated city and at least 10,000 messages, cut into per-connection streams that
    keep each visit's messages in order."""
    sim = simulate("point-source", seed=3, days=25, daily_visits=400, n_regions=12)
    visits = sim.visits.astype(str).replace({"nan": "", "None": "", "<NA>": ""})
    messages = hl7_messages(visits, seed=3)[:N_MESSAGES]
    assert len(messages) == N_MESSAGES
    streams: list[list[str]] = [[] for _ in range(STREAMS)]
    for text in messages:
        visit_id = read_message(text.encode()).fields["visit_id"]  # type: ignore[union-attr]
        streams[zlib.crc32(visit_id.encode()) % STREAMS].append(text)
    return sim.city, streams


def _load(url: str, city) -> None:
    with Store(url) as store:
        store.migrate()
        store.load_city(city.regions, city.facilities, city.places, city.mobility)


def _send(port: int, stream: list[str], start: int, acked: list[str], stop_after: int | None):
    """Send ``stream[start:]`` one by one; returns the index of the first message not ACKed."""
    i = start
    try:
        with MLLPClient("127.0.0.1", port) as client:
            while i < len(stream):
                reply = client.send_message(stream[i])
                fields = msa(reply)
                assert fields[1] == "AA", reply
                acked.append(fields[2])
                i += 1
                if stop_after is not None and len(acked) >= stop_after:
                    time.sleep(0.001)
    except (OSError, StopIteration, UnicodeDecodeError):
        pass  # the server died: what was not ACKed is resent later
    return i


def test_sigkill_mid_stream_keeps_every_acked_message_exactly_once(tmp_path: Path) -> None:
    city, streams = _stream_messages(tmp_path)
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    _load(url, city)
    acked: list[str] = []
    positions = [0] * STREAMS

    server = start_server(url, tmp_path / "server1.log")
    try:

        def run(k: int) -> None:
            positions[k] = _send(server.mllp_port, streams[k], 0, acked, None)

        threads = [threading.Thread(target=run, args=(k,)) for k in range(STREAMS)]
        for t in threads:
            t.start()
        while len(acked) < N_MESSAGES // 3:
            time.sleep(0.005)
        server.kill()  # SIGKILL in the middle of the stream
        for t in threads:
            t.join(60)
    finally:
        server.stop()
    acked_before = list(acked)
    assert N_MESSAGES // 3 <= len(acked_before) < N_MESSAGES
    with Store(url) as store:
        logged = {m["control_id"] for m in store.message_log()}
    assert set(acked_before) <= logged  # every ACK was given after the commit

    # restart; each sender resends what it had not seen acknowledged
    with running_server(url, tmp_path / "server2.log") as again:
        threads = [
            threading.Thread(
                target=lambda k=k: _send(again.mllp_port, streams[k], positions[k], acked, None)
            )
            for k in range(STREAMS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    every = [read_header(text).control_id for stream in streams for text in stream]
    assert sorted(set(acked)) == sorted(every)

    # exactly once: the log holds each message once, and the visits equal those of a clean run
    with Store(url) as store:
        log = store.message_log()
        crashed = store.visits_frame(None, None)
    assert len(log) == N_MESSAGES and len({m["control_id"] for m in log}) == N_MESSAGES
    clean_url = f"sqlite:///{tmp_path / 'clean.db'}"
    _load(clean_url, city)
    with Store(clean_url) as store:
        pipeline = MessagePipeline(
            store, secret=PSEUDONYM_KEY.encode(), classifier=load_default_classifier()
        )
        for stream in streams:  # in order, a few hundred per transaction
            for start in range(0, len(stream), 250):
                batch = [read_message(text.encode()) for text in stream[start : start + 250]]
                outcomes = pipeline.apply(batch, channel="mllp")
                assert {o.status for o in outcomes} == {"accepted"}
        clean = store.visits_frame(None, None)
    columns = [
        c
        for c in crashed.columns
        if c not in ("id", "ingest_run_id", "received_at", "updated_at", "syndromes")
    ]
    key = ["facility_id", "visit_id"]
    pd.testing.assert_frame_equal(
        crashed[columns].sort_values(key, ignore_index=True),
        clean[columns].sort_values(key, ignore_index=True),
    )


# ---------------------------------------------------------------------------------------------
# fuzz run against the live server


def _mutations(rng: random.Random, n: int) -> list[bytes]:
    """Random bytes, and valid messages with segments dropped, repeated, swapped, truncated,
    fields replaced with random text (Chinese, control characters) or re-encoded."""
    base = message("Z0", "VZ0").encode()
    alphabet = "|^~\\&\r\n abcXYZ0123456789.-+发热咳嗽\x00\x07é"
    out: list[bytes] = []
    for i in range(n):
        kind = i % 6
        if kind == 0:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
            continue
        segments = message(f"Z{i}", f"VZ{i}").split("\r")[:-1]
        if kind == 1 and len(segments) > 1:
            del segments[rng.randrange(1, len(segments))]
        elif kind == 2:
            segments.insert(rng.randrange(len(segments)), rng.choice(segments))
            rng.shuffle(segments)
        elif kind == 3:
            k = rng.randrange(len(segments))
            fields = segments[k].split("|")
            j = rng.randrange(len(fields))
            fields[j] = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 20)))
            segments[k] = "|".join(fields)
        text = "\r".join(segments) + "\r"
        data = text.encode("utf-8")
        if kind == 4:
            data = data[: rng.randrange(len(data))]
        elif kind == 5:
            data = text.encode("gb18030", "replace").replace(b"UNICODE UTF-8", b"")
        out.append(data.replace(b"\x0b", b"").replace(b"\x1c", b"") or base)
    return out


def test_fuzzed_input_never_breaks_the_server(server: Server, served_db_url: str) -> None:
    rng = random.Random(20261126)
    inputs = _mutations(rng, 240)
    with Store(served_db_url) as store:
        token = store.create_token("F1")
    replies = []
    with MLLPClient("127.0.0.1", server.mllp_port) as client:
        for data in inputs:
            reply = client.send_message(data)
            assert reply.startswith(b"\x0b") and reply.endswith(b"\x1c\r")
            replies.append(msa(reply))
    assert all(fields[1] in ("AA", "AE", "AR") for fields in replies)
    rejected = sum(fields[1] != "AA" for fields in replies)
    assert rejected > len(inputs) // 3
    headers = {"Authorization": f"Bearer {token}"}
    statuses = []
    for data in inputs[:60]:
        statuses.append(
            httpx.post(f"{server.url}/api/ingest/hl7", content=data, headers=headers).status_code
        )
        fhir_body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
        statuses.append(
            httpx.post(f"{server.url}/api/fhir", content=fhir_body, headers=headers).status_code
        )
    assert set(statuses) <= {200, 400}  # never a server error
    assert server.process.poll() is None
    with MLLPClient("127.0.0.1", server.mllp_port) as client:
        assert msa(client.send_message(message("OK1", "VOK1")))[1] == "AA"
    with Store(served_db_url) as store:
        kept = store.quarantined(None)
    mllp_kept = [q for q in kept if q["source"].startswith("mllp:")]
    assert len(mllp_kept) >= 0.9 * rejected  # identical rejects are kept once
    assert all(q["reason"] for q in kept)
