"""Audit use cases: record an action, verify the chain, export FHIR R4 AuditEvent resources.

The web layer (``web/audit.py``, one middleware) and the command line (``cli_audit.py``, one
command-group hook) both record through :func:`record`. Who acts: the authenticated caller on
the web (``web/auth.py``), ``--actor`` on the command line.
"""

from __future__ import annotations

import getpass
import json
import socket
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from epiradar.store import Store
from epiradar.store.audit import AuditEntry, AuditFilter, VerifyReport

ANONYMOUS = "anonymous"
ACTOR_HEADER = "X-Epiradar-Actor"
MAX_ACTOR_LENGTH = 200

Channel = Literal["web", "cli"]


def clean_actor(value: str | None) -> str:
    """An actor name as recorded: trimmed, control characters dropped; empty -> anonymous."""
    text = "".join(ch for ch in (value or "") if ch.isprintable()).strip()
    return text[:MAX_ACTOR_LENGTH] or ANONYMOUS


def cli_actor() -> str:
    """The default actor of a command: the operating-system user."""
    try:
        return clean_actor(getpass.getuser())
    except (KeyError, OSError):
        return ANONYMOUS


def cli_host() -> str:
    """Where a command runs: this machine's name."""
    return socket.gethostname() or "localhost"


def record(
    store: Store,
    actor: str | None,
    action: str,
    *,
    channel: Channel,
    object_type: str | None = None,
    object_id: str | int | None = None,
    detail: Mapping[str, Any] | None = None,
    remote_addr: str | None = None,
) -> AuditEntry:
    """Append one entry (``detail`` gains the ``channel``)."""
    return store.audit.append(
        clean_actor(actor),
        action,
        object_type=object_type,
        object_id=object_id,
        detail={"channel": channel, **(detail or {})},
        remote_addr=remote_addr,
    )


def verify(store: Store) -> VerifyReport:
    return store.audit.verify()


def iter_entries(
    store: Store, filters: AuditFilter | None = None, *, page: int = 1000
) -> Iterator[AuditEntry]:
    """Every matching entry, oldest first, read ``page`` at a time."""
    offset = 0
    while True:
        chunk = store.audit.entries(filters, limit=page, offset=offset, newest_first=False)
        yield from chunk
        if len(chunk) < page:
            return
        offset += page


# ---------------------------------------------------------------------------------------------
# FHIR R4 AuditEvent

WEB_EVENT = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "RESTful Operation",
}
CLI_EVENT = {
    "system": "http://dicom.nema.org/resources/ontology/DCM",
    "code": "110100",
    "display": "Application Activity",
}
ACTION_SYSTEM = "urn:epiradar:audit-action"
OBJECT_SYSTEM = "urn:epiradar:object:"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"

_VERB_CODES = {
    "read": "R",
    "list": "R",
    "export": "R",
    "create": "C",
    "load": "C",
    "update": "U",
    "retry": "U",
    "discard": "U",
    "revoke": "U",
    "check": "U",
    "transition": "U",
    "snooze": "U",
    "wake": "U",
    "mute": "U",
    "delete": "D",
}
_METHOD_CODES = {"DELETE": "D", "PUT": "U", "PATCH": "U"}


def fhir_action(action: str, detail: Mapping[str, Any] | None = None) -> str:
    """The AuditEvent action code (C, R, U, D, E) of an action by its last word, else by the
    HTTP method of a web call; E (execute) otherwise."""
    code = _VERB_CODES.get(action.rsplit(".", 1)[-1])
    if code is None:
        code = _METHOD_CODES.get(str((detail or {}).get("method")), "E")
    return code


def fhir_outcome(detail: Mapping[str, Any]) -> str:
    """0 success, 4 minor failure (refused, 4xx, exit 2), 8 serious failure (5xx, exit 1)."""
    status = detail.get("status")
    if isinstance(status, int):
        return "0" if status < 400 else "4" if status < 500 else "8"
    code = detail.get("exit_code")
    if isinstance(code, int):
        return "0" if code == 0 else "4" if code == 2 else "8"
    return "0"


def to_audit_event(entry: AuditEntry) -> dict[str, Any]:
    """One entry as a FHIR R4 AuditEvent resource (JSON); the chain hashes are kept in the
    entity's details so that an exported log can still be checked."""
    detail = entry.detail_data
    channel = detail.get("channel")
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                    "code": "AUT",
                    "display": "author (originator)",
                }
            ]
        },
        "who": {"identifier": {"system": "urn:epiradar:actor", "value": entry.actor}},
        "name": entry.actor,
        "requestor": True,
    }
    if entry.remote_addr:
        # 1 = machine name (a command's host), 2 = IP address (a web client)
        agent["network"] = {"address": entry.remote_addr, "type": "1" if channel == "cli" else "2"}
    entity: dict[str, Any] = {
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "detail": [
            {"type": "detail", "valueString": entry.detail},
            {"type": "prev_hash", "valueString": entry.prev_hash},
            {"type": "hash", "valueString": entry.hash},
        ],
    }
    if entry.object_type:
        what: dict[str, Any] = {"display": entry.object_type}
        if entry.object_id:
            what = {
                "identifier": {
                    "system": OBJECT_SYSTEM + entry.object_type,
                    "value": entry.object_id,
                },
                "display": f"{entry.object_type} {entry.object_id}",
            }
        entity["what"] = what
    return {
        "resourceType": "AuditEvent",
        "id": f"audit-{entry.id}",
        "type": WEB_EVENT if channel == "web" else CLI_EVENT,
        "subtype": [{"system": ACTION_SYSTEM, "code": entry.action}],
        "action": fhir_action(entry.action, detail),
        "recorded": entry.at,
        "outcome": fhir_outcome(detail),
        "agent": [agent],
        "source": {
            "observer": {"display": "epiradar"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": [entity],
    }


def fhir_ndjson(entries: Iterable[AuditEntry]) -> Iterator[str]:
    """One AuditEvent JSON per line (FHIR bulk data NDJSON)."""
    for entry in entries:
        yield json.dumps(to_audit_event(entry), ensure_ascii=False, separators=(",", ":")) + "\n"


def fhir_bundle(entries: Iterable[AuditEntry]) -> dict[str, Any]:
    """A ``collection`` Bundle of AuditEvent resources."""
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": f"urn:epiradar:audit:{e.id}", "resource": to_audit_event(e)}
            for e in entries
        ],
    }
