"""``[workflow]`` settings: the 7-1-7 targets, per-stage time limits, snooze and mute limits."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

STAGES = ("new", "verifying", "monitoring", "investigating")
"""The open states: each may have a time limit (an alert past it is overdue)."""

DEFAULT_STAGE_HOURS = {"new": 24.0, "verifying": 48.0, "investigating": 168.0, "monitoring": 672.0}


class WorkflowSettings(BaseModel):
    """Timeliness targets of the alert workflow (see docs/workflow.md).

    ``detect_days``, ``notify_days`` and ``respond_days`` are the 7-1-7 targets; ``stage_hours``
    the longest an alert may stay in each open state, e.g.
    ``[workflow.stage_hours] verifying = 24``.
    """

    model_config = ConfigDict(extra="forbid")

    detect_days: float = Field(7, gt=0, le=365, description="emergence to detection")
    notify_days: float = Field(1, gt=0, le=365, description="detection to notification")
    respond_days: float = Field(7, gt=0, le=365, description="notification to response")
    stage_hours: dict[str, float] = Field(
        DEFAULT_STAGE_HOURS,
        description="longest hours in each open state (new, verifying, monitoring, "
        "investigating); a state left out has no limit",
    )
    max_snooze_days: float = Field(30, gt=0, le=365, description="longest snooze")
    max_mute_days: float = Field(90, gt=0, le=730, description="longest mute of an event")

    @field_validator("stage_hours", mode="before")
    @classmethod
    def _known_stages(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for key, hours in value.items():
            if key not in STAGES:
                raise ValueError(
                    f"[workflow.stage_hours] {key}: not an open state; known: {', '.join(STAGES)}"
                )
            if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
                raise ValueError(
                    f"[workflow.stage_hours] {key}: must be a positive number of hours, "
                    f"got {hours!r}"
                )
        return value
