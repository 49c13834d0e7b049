"""The alert workflow's vocabulary and rules: states, legal transitions with their required
fields, the WHO rapid-risk-assessment matrix, investigations, hypotheses and tasks.

Pure: no database, no clock. ``docs/workflow.md`` explains the choices.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from epiradar.model.alert import AlertStatus


class Level(StrEnum):
    """A likelihood, impact or risk level of a rapid risk assessment."""

    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"
    VERY_HIGH = "very high"


_LEVELS = list(Level)


def risk_level(likelihood: Level | str, impact: Level | str) -> Level:
    """The overall risk of a likelihood x impact pair (WHO rapid risk assessment matrix).

    With levels scored 0 (low) .. 3 (very high), the sum s of both scores gives the risk:
    s <= 1 low, 2-3 moderate, 4 high, 5-6 very high (``RISK_MATRIX`` lists every cell).
    """
    s = _LEVELS.index(Level(likelihood)) + _LEVELS.index(Level(impact))
    if s <= 1:
        return Level.LOW
    if s <= 3:
        return Level.MODERATE
    if s == 4:
        return Level.HIGH
    return Level.VERY_HIGH


RISK_MATRIX: dict[tuple[Level, Level], Level] = {
    (lk, im): risk_level(lk, im) for lk in _LEVELS for im in _LEVELS
}
"""``(likelihood, impact) -> risk`` for all 16 pairs."""


class Outcome(StrEnum):
    """How an alert ended."""

    CONFIRMED_OUTBREAK = "confirmed outbreak"
    NOT_AN_OUTBREAK = "not an outbreak"
    DATA_ERROR = "data error"


S = AlertStatus

TRANSITIONS: dict[tuple[AlertStatus, AlertStatus], tuple[str, ...]] = {
    (S.NEW, S.VERIFYING): (),
    (S.VERIFYING, S.DISCARDED): ("verification_note", "outcome"),
    (S.VERIFYING, S.MONITORING): ("verification_note", "likelihood", "impact"),
    (S.VERIFYING, S.INVESTIGATING): ("verification_note", "likelihood", "impact"),
    (S.MONITORING, S.INVESTIGATING): ("likelihood", "impact"),
    (S.MONITORING, S.CLOSED): ("closure_reason", "outcome"),
    (S.INVESTIGATING, S.CLOSED): ("closure_reason", "outcome"),
}
"""Every legal ``(from, to)`` transition and the fields it requires. Anything else is refused."""

DISCARD_OUTCOMES = (Outcome.NOT_AN_OUTBREAK, Outcome.DATA_ERROR)
"""A discarded alert was no outbreak: a confirmed outbreak must be investigated or monitored."""

FINAL_STATES = frozenset({S.DISCARDED, S.CLOSED})
OPEN_STATES = frozenset(set(AlertStatus) - FINAL_STATES)


class WorkflowError(ValueError):
    """A workflow request the rules refuse (the message names the field or transition)."""


class IllegalTransitionError(WorkflowError):
    """The alert cannot move from its state to the requested one."""


class MissingFieldsError(WorkflowError):
    """A transition lacks fields it requires (``fields`` names them)."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


_TARGETS: dict[AlertStatus, list[AlertStatus]] = {}
for _frm, _to in TRANSITIONS:
    _TARGETS.setdefault(_frm, []).append(_to)


def legal_targets(state: AlertStatus | str) -> list[AlertStatus]:
    """The states an alert in ``state`` may move to, in workflow order."""
    return list(_TARGETS.get(AlertStatus(state), ()))


class TransitionRequest(BaseModel):
    """A request to move an alert to ``to``, with the fields the transition needs."""

    to: AlertStatus
    verification_note: str | None = Field(None, description="what verification found")
    likelihood: Level | None = None
    impact: Level | None = None
    closure_reason: str | None = None
    outcome: Outcome | None = None
    note: str | None = Field(None, description="an optional remark kept in the timeline")
    investigation_id: int | None = Field(
        None, description="to investigating: join this investigation (default: open a new one)"
    )

    def check(self, current: AlertStatus | str) -> dict[str, Any]:
        """The fields to record for the move from ``current``; raises ``WorkflowError``."""
        current = AlertStatus(current)
        required = TRANSITIONS.get((current, self.to))
        if required is None:
            allowed = ", ".join(legal_targets(current)) or "none (it is final)"
            raise IllegalTransitionError(
                f"illegal transition {current} -> {self.to}; from {current} the alert may move "
                f"to: {allowed}"
            )
        missing = [
            name
            for name in required
            if getattr(self, name) is None
            or (isinstance(getattr(self, name), str) and not getattr(self, name).strip())
        ]
        if missing:
            raise MissingFieldsError(
                f"{current} -> {self.to} requires {', '.join(missing)}", missing
            )
        if self.to == S.DISCARDED and self.outcome not in DISCARD_OUTCOMES:
            raise WorkflowError(
                f"outcome: a discarded alert must be {' or '.join(DISCARD_OUTCOMES)}, "
                f"not {self.outcome}; investigate or monitor a confirmed outbreak"
            )
        if self.investigation_id is not None and self.to != S.INVESTIGATING:
            raise WorkflowError("investigation_id: only a move to investigating joins one")
        fields: dict[str, Any] = {
            name: (str(getattr(self, name)) if getattr(self, name) is not None else None)
            for name in (*required, "note")
        }
        if "likelihood" in required:
            fields["risk"] = str(risk_level(self.likelihood, self.impact))  # type: ignore[arg-type]
        return {k: v.strip() if isinstance(v, str) else v for k, v in fields.items() if v}


class TimelineEntry(BaseModel):
    """One action on an alert or an investigation."""

    id: int
    alert_id: str | None
    investigation_id: int | None = None
    at: dt.datetime
    actor: str
    action: str  # transition, snooze, wake, mute, unmute, investigation, hypothesis, task, ...
    from_state: AlertStatus | None = None
    to_state: AlertStatus | None = None
    fields: dict[str, Any] = Field(default_factory=dict)


class AlertWorkflow(BaseModel):
    """An alert's workflow record: its state, assessment, closure and snooze."""

    alert_id: str
    status: AlertStatus
    state_since: dt.datetime | None = None
    detected_at: dt.datetime | None = Field(None, description="when the alert was first stored")
    notified_at: dt.datetime | None = Field(None, description="when it first left new")
    responded_at: dt.datetime | None = Field(
        None, description="when it first reached monitoring, discarded or closed"
    )
    verification_note: str | None = None
    likelihood: Level | None = None
    impact: Level | None = None
    risk: Level | None = None
    closure_reason: str | None = None
    outcome: Outcome | None = None
    snoozed_until: dt.datetime | None = None
    legal_targets: list[AlertStatus] = Field(default_factory=list)


class Mute(BaseModel):
    """A known ongoing event muted until ``until``: alerts of its syndrome touching its regions
    leave the work queue (a city-wide mute, ``region_ids == []``, covers every region)."""

    id: int
    syndrome: str
    region_ids: list[str]
    until: dt.datetime
    reason: str
    alert_id: str | None = None
    actor: str
    created_at: dt.datetime
    lifted_at: dt.datetime | None = None


class ChecklistKind(StrEnum):
    SAMPLE_COLLECTION = "sample collection"
    SITE_INSPECTION = "site inspection"
    CONTACT_TRACING = "contact tracing"
    PLACE_CLOSURE = "closure of a place"


class ChecklistItem(BaseModel):
    item: ChecklistKind
    done: bool = False


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"


class Task(BaseModel):
    id: int
    investigation_id: int
    title: str
    assignee: str | None = None
    due_date: dt.date | None = None
    checklist: list[ChecklistItem] = Field(default_factory=list)
    status: TaskStatus = TaskStatus.OPEN
    created_at: dt.datetime
    done_at: dt.datetime | None = None
    overdue: bool = False


class Hypothesis(BaseModel):
    """A candidate explanation, e.g. ``kind="source"``, ``subject="P01"`` with the trace
    analysis's figures as ``evidence``."""

    id: int
    investigation_id: int
    kind: str
    subject: str
    description: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    status: str = "open"  # open, supported, rejected
    created_at: dt.datetime
    actor: str


class Investigation(BaseModel):
    id: int
    title: str
    status: str = "open"  # open, closed
    line_list_ref: str | None = Field(
        None, description="where the case line list is kept besides the alerts' own"
    )
    created_at: dt.datetime
    actor: str
    alert_ids: list[str] = Field(default_factory=list)
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    tasks: list[Task] = Field(default_factory=list)
