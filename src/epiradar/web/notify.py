"""Notifications in the JSON API under ``/api/notify``: subscribers, their subscriptions and the
delivery log (thin wrappers over ``epiradar.service.notify``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field

from epiradar.model import Severity, Syndrome
from epiradar.model.notify import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Subscriber,
    Subscription,
)
from epiradar.service import notify
from epiradar.store import Store
from epiradar.web.deps import get_store

router = APIRouter(prefix="/api/notify", tags=["notifications"])

StoreDep = Annotated[Store, Depends(get_store)]


class SubscriptionIn(BaseModel):
    region_ids: list[str] = Field([], description="regions or districts; empty: every region")
    syndromes: list[Syndrome] = Field([], description="empty: every syndrome")
    min_severity: Severity = Severity.LOW
    escalations: bool = Field(False, description="also overdue alerts and tasks it covers")


class SubscriberIn(BaseModel):
    name: str
    email: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = Field(
        None, description="at least 16 characters; generated when a webhook_url comes without it"
    )
    digest: bool = True
    subscriptions: list[SubscriptionIn] = Field(
        [], description="its subscriptions; without any it is notified of nothing"
    )


class SubscriberOut(BaseModel):
    subscriber: Subscriber
    subscriptions: list[Subscription]


class SubscriberCreated(SubscriberOut):
    webhook_secret: str | None = Field(
        None, description="the signing secret of the webhook, returned only here"
    )


class DeliveryOut(BaseModel):
    delivery: Delivery
    attempts: list[DeliveryAttempt]


def _unprocessable(exc: ValueError) -> HTTPException:
    return HTTPException(422, str(exc))


def _subscriber(store: Store, ref: str) -> Subscriber:
    try:
        return notify.get_subscriber(store, ref)
    except notify.UnknownSubscriberError as exc:
        raise HTTPException(404, str(exc)) from None


@router.get("/subscribers", response_model=list[SubscriberOut], summary="Subscribers")
def list_subscribers(store: StoreDep) -> list[SubscriberOut]:
    subscriptions = store.notify.subscriptions()
    return [
        SubscriberOut(
            subscriber=s, subscriptions=[x for x in subscriptions if x.subscriber_id == s.id]
        )
        for s in store.notify.subscribers()
    ]


@router.post(
    "/subscribers",
    response_model=SubscriberCreated,
    status_code=201,
    summary="Add a subscriber with its subscriptions",
)
def create_subscriber(body: SubscriberIn, store: StoreDep) -> SubscriberCreated:
    try:
        subscriber, secret = notify.add_subscriber(
            store,
            body.name,
            email=body.email,
            webhook_url=body.webhook_url,
            webhook_secret=body.webhook_secret,
            digest=body.digest,
        )
    except notify.NotifyError as exc:
        status = 409 if "already exists" in str(exc) else 422
        raise HTTPException(status, str(exc)) from None
    created = []
    try:
        for i, s in enumerate(body.subscriptions):
            try:
                created.append(
                    notify.subscribe(
                        store,
                        subscriber.id,
                        region_ids=s.region_ids,
                        syndromes=s.syndromes,
                        min_severity=s.min_severity,
                        escalations=s.escalations,
                    )
                )
            except notify.NotifyError as exc:
                raise HTTPException(422, f"subscriptions[{i}].{exc}") from None
    except HTTPException:
        store.notify.remove_subscriber(subscriber.id)
        raise
    return SubscriberCreated(subscriber=subscriber, subscriptions=created, webhook_secret=secret)


@router.get("/subscribers/{ref}", response_model=SubscriberOut, summary="One subscriber")
def get_subscriber(ref: str, store: StoreDep) -> SubscriberOut:
    subscriber = _subscriber(store, ref)
    return SubscriberOut(
        subscriber=subscriber, subscriptions=store.notify.subscriptions(subscriber.id)
    )


@router.delete(
    "/subscribers/{ref}",
    status_code=204,
    summary="Remove a subscriber, its subscriptions and delivery log",
)
def delete_subscriber(ref: str, store: StoreDep) -> Response:
    store.notify.remove_subscriber(_subscriber(store, ref).id)
    return Response(status_code=204)


@router.post(
    "/subscribers/{ref}/subscriptions",
    response_model=Subscription,
    status_code=201,
    summary="Add a subscription",
)
def add_subscription(ref: str, body: SubscriptionIn, store: StoreDep) -> Subscription:
    subscriber = _subscriber(store, ref)
    try:
        return notify.subscribe(
            store,
            subscriber.id,
            region_ids=body.region_ids,
            syndromes=body.syndromes,
            min_severity=body.min_severity,
            escalations=body.escalations,
        )
    except notify.NotifyError as exc:
        raise _unprocessable(exc) from None


@router.delete(
    "/subscribers/{ref}/subscriptions/{subscription_id}",
    status_code=204,
    summary="Remove a subscription",
)
def delete_subscription(ref: str, subscription_id: int, store: StoreDep) -> Response:
    subscriber = _subscriber(store, ref)
    if not store.notify.remove_subscription(subscription_id, subscriber.id):
        raise HTTPException(
            404, f"subscriber {subscriber.name!r} has no subscription {subscription_id}"
        )
    return Response(status_code=204)


@router.get("/deliveries", response_model=list[Delivery], summary="Deliveries, newest first")
def list_deliveries(
    store: StoreDep,
    status: DeliveryStatus | None = None,
    subscriber: Annotated[str | None, Query(description="name or id")] = None,
    alert_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[Delivery]:
    who = _subscriber(store, subscriber).id if subscriber else None
    return store.notify.deliveries(
        status=status, subscriber_id=who, alert_id=alert_id, limit=limit, offset=offset
    )


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryOut,
    summary="One delivery with every attempt",
)
def get_delivery(delivery_id: int, store: StoreDep) -> DeliveryOut:
    delivery = store.notify.delivery(delivery_id)
    if delivery is None:
        raise HTTPException(404, f"no delivery {delivery_id}")
    return DeliveryOut(delivery=delivery, attempts=store.notify.attempts(delivery_id=delivery_id))


@router.get(
    "/attempts",
    response_model=list[DeliveryAttempt],
    summary="The delivery log: every attempt, newest first",
)
def list_attempts(
    store: StoreDep,
    subscriber: Annotated[str | None, Query(description="name or id")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DeliveryAttempt]:
    who = _subscriber(store, subscriber).id if subscriber else None
    return store.notify.attempts(subscriber_id=who, limit=limit, offset=offset)
