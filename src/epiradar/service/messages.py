"""Hospital messages: the shared writer, HL7 v2 and FHIR submissions, and the server that
listens for them (HTTP and MLLP in one process, one writer)."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from epiradar.config import Settings
from epiradar.ingest.hl7v2 import ack, read_header, split_batch
from epiradar.ingest.inbound import MessageError
from epiradar.ingest.messages import (
    FailedMessage,
    LoopMessageWriter,
    Message,
    MessagePipeline,
    MessageWriter,
    Outcome,
)
from epiradar.ingest.mllp import MLLPServer, read_message
from epiradar.service.feeds import watch_feeds
from epiradar.store import Store

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.0002


Writer = MessageWriter | LoopMessageWriter


def message_pipeline(store: Store, settings: Settings, classifier=None) -> MessagePipeline:  # noqa: ANN001
    if classifier is None:
        from epiradar.ingest.syndromes import load_default_classifier

        classifier = load_default_classifier()
    return MessagePipeline(store, secret=settings.pseudonym_secret(), classifier=classifier)


def message_writer(store: Store, settings: Settings, classifier=None) -> MessageWriter:  # noqa: ANN001
    """A writer on its own thread, for a process that does not serve (the server's writer
    runs on its event loop: :class:`LoopMessageWriter`)."""
    return MessageWriter(message_pipeline(store, settings, classifier))


@dataclass
class Hl7Result:
    """One message of an HL7 submission: its outcome, and its acknowledgement on request."""

    message: bytes
    outcome: Outcome

    @property
    def ack(self) -> str:
        header = read_header(self.message)
        return ack(
            self.message,
            self.outcome.ack_code,
            control_id=header.control_id,
            error=self.outcome.error,
        )


def read_hl7_body(body: bytes) -> tuple[list[bytes], list[Message]]:
    """The messages of an HL7 submission (one message, plain messages one after another, MLLP
    frames or an FHS/BHS batch): each as sent, and as read."""
    parts = [p if isinstance(p, bytes) else p.encode("utf-8") for p in split_batch(body)]
    return parts, [read_message(part) for part in parts]


def submit_hl7(
    writer: Writer, body: bytes, *, sender: str | None, channel: str = "http-hl7"
) -> list[Hl7Result]:
    """Apply every message of ``body``; results in message order."""
    parts, messages = read_hl7_body(body)
    outcomes = writer.apply(messages, channel=channel, sender=sender)
    return [Hl7Result(part, outcome) for part, outcome in zip(parts, outcomes, strict=True)]


@dataclass
class FhirRead:
    """A Bundle as read: its visits and issues, and what to quarantine as refused."""

    result: Any  # ingest.fhir.BundleResult
    refused: list[FailedMessage]

    @property
    def messages(self) -> list[Message]:
        return [*self.result.visits, *self.refused]


def read_fhir_body(body: bytes, sender: str | None) -> FhirRead:
    from epiradar.ingest.fhir import read_bundle

    result = read_bundle(body, facility_id=sender)
    refused = [
        FailedMessage(
            issue.raw or body.decode("utf-8", "surrogateescape"),
            MessageError(issue.expression, issue.diagnostics, code="AR" if result.fatal else "AE"),
            facility_id=sender or "",
            control_id=issue.expression,
            format="fhir",
        )
        for issue in result.errors
        if issue.raw or issue.severity == "fatal"
    ]
    return FhirRead(result, refused)


def fhir_outcome(read: FhirRead, outcomes: Sequence[Outcome]) -> tuple[dict, int]:
    """``(OperationOutcome, HTTP status)`` of a submitted Bundle: every issue with its FHIRPath,
    the visits the pipeline refused, and the number accepted (the last issue). Status 400 when
    the body is not a readable Bundle, else 200."""
    from epiradar.ingest.fhir import operation_outcome

    result = read.result
    visit_outcomes = outcomes[: len(result.visits)]
    accepted = sum(o.error is None for o in visit_outcomes)
    outcome = operation_outcome(result, accepted=accepted)
    for visit, o in zip(result.visits, visit_outcomes, strict=True):
        if o.error is not None:
            outcome["issue"].append(
                {
                    "severity": "error",
                    "code": "forbidden" if o.error.code == "AR" else "invalid",
                    "diagnostics": f"visit {visit.fields.get('visit_id', '')!r}: {o.error.reason}",
                    "expression": [o.error.field or "Bundle"],
                }
            )
    # one summary, always last
    outcome["issue"] = [
        i for i in outcome["issue"] if not str(i.get("diagnostics", "")).endswith(" accepted")
    ]
    outcome["issue"].append(
        {
            "severity": "information",
            "code": "informational",
            "diagnostics": f"{accepted} visit{'' if accepted == 1 else 's'} accepted",
        }
    )
    return outcome, 400 if result.fatal else 200


def submit_fhir(writer: Writer, body: bytes, *, sender: str | None) -> tuple[dict, int]:
    """Apply the visits of one FHIR R4 Bundle: ``(OperationOutcome, HTTP status)``; what was
    refused is kept in the quarantine."""
    read = read_fhir_body(body, sender)
    return fhir_outcome(read, writer.apply(read.messages, channel="fhir", sender=sender))


async def serve_async(
    settings: Settings, *, store: Store | None = None, ready: asyncio.Event | None = None
) -> None:
    """Serve the web app (dashboard, JSON API, HTTP ingest) and, when ``settings.mllp_port`` is
    set, the MLLP listener, until interrupted."""
    import uvicorn

    from epiradar.web.app import create_app

    # HTTP submissions run in worker threads and hand their messages to the loop: a short
    # switch interval keeps a ready thread from waiting out the default 5 ms for the GIL.
    sys.setswitchinterval(SWITCH_INTERVAL)
    owned = store is None
    store = store or Store(settings.db)
    writer = LoopMessageWriter(message_pipeline(store, settings))
    mllp = None
    watcher = asyncio.create_task(watch_feeds(store, settings.feeds))  # silent facilities
    try:
        if settings.mllp_port is not None:
            mllp = MLLPServer(writer, settings.host, settings.mllp_port)
            await mllp.start()
        app = create_app(settings, store, writer=writer)
        config = uvicorn.Config(
            app, host=settings.host, port=settings.port, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        # Everything loaded so far lives as long as the server: out of the collector's sight,
        # a batch of thousands of visits does not make it walk the whole heap again and again.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)  # a batch allocates many short-lived objects
        if ready is not None:
            ready.set()
        await server.serve()
    finally:
        watcher.cancel()
        if mllp is not None:
            await mllp.close()
        await writer.aclose()
        if owned:
            store.close()


def serve(settings: Settings) -> None:
    """Blocking :func:`serve_async`."""
    asyncio.run(serve_async(settings))


def summarize(outcomes: Sequence[Outcome]) -> dict[str, int]:
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
    return counts
