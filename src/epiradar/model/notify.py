"""Notification vocabulary: subscribers, their subscriptions, deliveries and delivery attempts."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from epiradar.model.alert import Alert, Severity
from epiradar.model.syndrome import Syndrome

SEVERITY_RANK = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2}


class Channel(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sending run, so that two runs never send it twice
    SENT = "sent"
    FAILED = "failed"


class Subscriber(BaseModel):
    """A named recipient with an e-mail address and/or a webhook (its secret is not part of it)."""

    id: int
    name: str
    email: str | None = None
    webhook_url: str | None = None
    digest: bool = Field(True, description="receives the daily digest e-mail")
    active: bool = True
    created_at: str

    @property
    def channels(self) -> list[Channel]:
        out = []
        if self.email:
            out.append(Channel.EMAIL)
        if self.webhook_url:
            out.append(Channel.WEBHOOK)
        return out


class Subscription(BaseModel):
    """Which alerts a subscriber hears about: regions, syndromes (empty: all) and a severity floor."""

    id: int
    subscriber_id: int
    region_ids: list[str] = Field(default_factory=list, description="empty: every region")
    syndromes: list[Syndrome] = Field(default_factory=list, description="empty: every syndrome")
    min_severity: Severity = Severity.LOW
    escalations: bool = Field(False, description="also overdue alerts and tasks it covers")
    created_at: str

    def matches(self, alert: Alert, area: dict[str, set[str]] | None = None) -> bool:
        """Whether ``alert`` falls under this subscription.

        ``area`` maps a region id to itself and every region inside it (districts hold their
        regions): a subscription to a district matches alerts in its regions, one to a region
        matches alerts over its district. An alert over the whole city (no regions) matches every
        region filter.
        """
        if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[self.min_severity]:
            return False
        if self.syndromes and alert.syndrome not in self.syndromes:
            return False
        if not self.region_ids or not alert.region_ids:
            return True
        area = area or {}
        wanted: set[str] = set()
        for region in self.region_ids:
            wanted |= area.get(region, {region})
        covered: set[str] = set()
        for region in alert.region_ids:
            covered |= area.get(region, {region})
        return bool(wanted & covered)


class Delivery(BaseModel):
    """One message (an alert, or a day's digest) to one subscriber over one channel."""

    id: int
    key: str = Field(description='"alert:<alert id>" or "digest:<YYYY-MM-DD>"')
    kind: str = Field(description="alert or digest")
    alert_id: str | None = None
    subscriber_id: int
    subscriber_name: str
    channel: Channel
    status: DeliveryStatus
    subject: str
    attempts: int
    created_at: str
    last_attempt_at: str | None = None
    sent_at: str | None = None
    error: str | None = Field(None, description="the last attempt's error while not sent")


class DeliveryAttempt(BaseModel):
    """One try at a delivery: the HTTP status (or SMTP reply code), the error and how long it took."""

    id: int
    delivery_id: int
    attempt: int
    started_at: str
    duration_ms: float
    ok: bool
    status_code: int | None = None
    error: str | None = None
