"""HTTP ingest: HL7 v2 messages and FHIR R4 Bundles from facilities, authenticated by a
per-facility API token (``Authorization: Bearer <token>``); a facility submits only its own
visits. Each response is sent after the accepted visits are committed."""

from __future__ import annotations

import asyncio
import threading
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from epiradar.service import messages as service
from epiradar.store import Store
from epiradar.web.deps import get_store

router = APIRouter(prefix="/api", tags=["ingest"])

HL7_MEDIA_TYPES = ("x-application/hl7-v2+er7", "application/hl7-v2")
MAX_BODY_BYTES = 64 << 20
_writer_lock = threading.Lock()


def get_writer(request: Request) -> service.Writer:
    """The app's message writer (made on first use when the app was created without one)."""
    state = request.app.state
    if getattr(state, "writer", None) is None:
        with _writer_lock:
            if getattr(state, "writer", None) is None:
                state.writer = service.message_writer(state.store, state.settings)
                state.owns_writer = True
    return state.writer


def submitting_facility(request: Request, store: Annotated[Store, Depends(get_store)]) -> str:
    """The facility of the bearer token; 401 without a live token."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    facility = store.token_facility(token.strip()) if scheme.lower() == "bearer" and token else None
    if facility is None:
        raise HTTPException(
            401,
            "a facility API token is required: Authorization: Bearer <token> "
            "(epiradar facility token create FACILITY)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.facility_id = facility  # the audit log's actor
    return facility


FacilityDep = Annotated[str, Depends(submitting_facility)]
WriterDep = Annotated[service.Writer, Depends(get_writer)]


class MessageError(BaseModel):
    field: str | None
    reason: str


class MessageResult(BaseModel):
    control_id: str
    status: Literal["accepted", "duplicate", "rejected"]
    ack_code: Literal["AA", "AE", "AR"]
    visit_id: str | None
    error: MessageError | None


class Hl7Response(BaseModel):
    facility_id: str
    accepted: int
    duplicate: int
    rejected: int
    results: list[MessageResult]


async def _body(request: Request) -> bytes:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(413, f"body over {MAX_BODY_BYTES >> 20} MiB: send smaller batches")
    if not body.strip():
        raise HTTPException(400, "empty body: send one HL7 message or a batch")
    return body


@router.post(
    "/ingest/hl7",
    response_model=Hl7Response,
    summary="Submit HL7 v2 ADT messages (one, several, MLLP-framed or an FHS/BHS batch)",
    responses={401: {"description": "no valid facility token"}},
)
async def ingest_hl7(request: Request, facility: FacilityDep, writer: WriterDep) -> Response:
    """Each message gets an outcome and an acknowledgement. With ``Accept:
    x-application/hl7-v2+er7`` the reply is the ACK messages themselves (one per message, in
    order, separated by blank lines); otherwise JSON."""
    body = await _body(request)
    # parsed in a worker thread: the event loop keeps serving while a large batch is read
    parts, messages = await asyncio.to_thread(service.read_hl7_body, body)
    outcomes = await writer.submit_async(messages, channel="http-hl7", sender=facility)
    accept = request.headers.get("accept", "")
    if any(t in accept for t in HL7_MEDIA_TYPES):
        results = [service.Hl7Result(p, o) for p, o in zip(parts, outcomes, strict=True)]
        text = "\n".join(r.ack for r in results)
        return Response(text.encode("utf-8"), media_type=HL7_MEDIA_TYPES[0])
    payload = {  # plain dicts: a batch holds thousands of results (schema: Hl7Response)
        "facility_id": facility,
        **service.summarize(outcomes),
        "results": [
            {
                "control_id": o.control_id,
                "status": o.status,
                "ack_code": o.ack_code,
                "visit_id": o.visit_id,
                "error": {"field": o.error.field, "reason": o.error.reason} if o.error else None,
            }
            for o in outcomes
        ],
    }
    return JSONResponse(payload)


@router.post(
    "/fhir",
    summary="Submit a FHIR R4 Bundle of Patient, Encounter, Condition and Observation",
    responses={
        200: {"description": "an OperationOutcome with one issue per rejected entry"},
        400: {"description": "not a readable Bundle (OperationOutcome)"},
        401: {"description": "no valid facility token"},
    },
)
async def ingest_fhir(request: Request, facility: FacilityDep, writer: WriterDep) -> Response:
    body = await _body(request)
    read = await asyncio.to_thread(service.read_fhir_body, body, facility)
    outcomes = await writer.submit_async(read.messages, channel="fhir", sender=facility)
    outcome, status = service.fhir_outcome(read, outcomes)
    return JSONResponse(outcome, status_code=status, media_type="application/fhir+json")
