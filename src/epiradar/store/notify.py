"""Notification records: subscribers, subscriptions, deliveries and the log of every attempt."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from epiradar.model.notify import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Subscriber,
    Subscription,
)
from epiradar.store._sql import batched, now_iso
from epiradar.store.schema import (
    notify_attempts,
    notify_deliveries,
    notify_subscribers,
    notify_subscriptions,
)


class NotifyStore:
    """The notification tables of one database (``Store.notify``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # subscribers
    def add_subscriber(
        self,
        name: str,
        *,
        email: str | None,
        webhook_url: str | None,
        webhook_secret: str | None,
        digest: bool = True,
    ) -> Subscriber:
        row = {
            "name": name,
            "email": email,
            "webhook_url": webhook_url,
            "webhook_secret": webhook_secret,
            "digest": digest,
            "active": True,
            "created_at": now_iso(),
        }
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(notify_subscribers).values(**row)).inserted_primary_key[0]
        return _subscriber(row | {"id": new_id})

    def update_subscriber(self, subscriber_id: int, **fields: Any) -> bool:
        """Set ``email``, ``webhook_url``, ``webhook_secret``, ``digest`` or ``active``."""
        allowed = {"email", "webhook_url", "webhook_secret", "digest", "active"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        with self.engine.begin() as conn:
            result = conn.execute(
                update(notify_subscribers)
                .where(notify_subscribers.c.id == subscriber_id)
                .values(**fields)
            )
        return result.rowcount == 1

    def subscribers(self, *, active_only: bool = False) -> list[Subscriber]:
        stmt = select(notify_subscribers).order_by(notify_subscribers.c.name)
        if active_only:
            stmt = stmt.where(notify_subscribers.c.active.is_(True))
        with self.engine.connect() as conn:
            return [_subscriber(r) for r in conn.execute(stmt).mappings()]

    def subscriber(self, ref: int | str) -> Subscriber | None:
        """The subscriber with id ``ref`` (an int, or a string of digits) or name ``ref``."""
        column = notify_subscribers.c.name
        if isinstance(ref, int) or str(ref).isdigit():
            column, ref = notify_subscribers.c.id, int(ref)
        with self.engine.connect() as conn:
            row = conn.execute(select(notify_subscribers).where(column == ref)).mappings().first()
        return _subscriber(row) if row else None

    def webhook_secret(self, subscriber_id: int) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(notify_subscribers.c.webhook_secret).where(
                    notify_subscribers.c.id == subscriber_id
                )
            ).scalar()

    def remove_subscriber(self, subscriber_id: int) -> bool:
        """Remove a subscriber with its subscriptions and its delivery log."""
        with self.engine.begin() as conn:
            ids = [
                r
                for (r,) in conn.execute(
                    select(notify_deliveries.c.id).where(
                        notify_deliveries.c.subscriber_id == subscriber_id
                    )
                )
            ]
            for batch in batched(ids):
                conn.execute(
                    delete(notify_attempts).where(notify_attempts.c.delivery_id.in_(batch))
                )
            conn.execute(
                delete(notify_deliveries).where(notify_deliveries.c.subscriber_id == subscriber_id)
            )
            conn.execute(
                delete(notify_subscriptions).where(
                    notify_subscriptions.c.subscriber_id == subscriber_id
                )
            )
            result = conn.execute(
                delete(notify_subscribers).where(notify_subscribers.c.id == subscriber_id)
            )
        return result.rowcount == 1

    # subscriptions
    def add_subscription(
        self,
        subscriber_id: int,
        region_ids: Sequence[str],
        syndromes: Sequence[str],
        min_severity: str,
        escalations: bool = False,
    ) -> Subscription:
        row = {
            "subscriber_id": subscriber_id,
            "region_ids": json.dumps(list(region_ids)),
            "syndromes": json.dumps([str(s) for s in syndromes]),
            "min_severity": str(min_severity),
            "escalations": bool(escalations),
            "created_at": now_iso(),
        }
        with self.engine.begin() as conn:
            result = conn.execute(insert(notify_subscriptions).values(**row))
            new_id = result.inserted_primary_key[0]
        return _subscription(row | {"id": new_id})

    def subscriptions(self, subscriber_id: int | None = None) -> list[Subscription]:
        stmt = select(notify_subscriptions).order_by(
            notify_subscriptions.c.subscriber_id, notify_subscriptions.c.id
        )
        if subscriber_id is not None:
            stmt = stmt.where(notify_subscriptions.c.subscriber_id == subscriber_id)
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(stmt).mappings()]

    def remove_subscription(self, subscription_id: int, subscriber_id: int | None = None) -> bool:
        stmt = delete(notify_subscriptions).where(notify_subscriptions.c.id == subscription_id)
        if subscriber_id is not None:
            stmt = stmt.where(notify_subscriptions.c.subscriber_id == subscriber_id)
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    # deliveries
    def queue(self, rows: Iterable[Mapping[str, Any]]) -> list[int]:
        """Insert the pending deliveries ``rows`` (key, kind, alert_id, subscriber_id, channel,
        subject, payload) whose (key, subscriber, channel) is not recorded yet; their ids."""
        rows = list(rows)
        if not rows:
            return []
        keys = sorted({r["key"] for r in rows})
        with self.engine.begin() as conn:
            seen: set[tuple[str, int, str]] = set()
            for batch in batched(keys):
                seen |= {
                    (k, s, c)
                    for k, s, c in conn.execute(
                        select(
                            notify_deliveries.c.key,
                            notify_deliveries.c.subscriber_id,
                            notify_deliveries.c.channel,
                        ).where(notify_deliveries.c.key.in_(batch))
                    )
                }
            created = now_iso()
            ids = []
            for r in rows:
                ident = (r["key"], int(r["subscriber_id"]), str(r["channel"]))
                if ident in seen:
                    continue
                seen.add(ident)
                values = {
                    "key": r["key"],
                    "kind": r["kind"],
                    "alert_id": r.get("alert_id"),
                    "subscriber_id": int(r["subscriber_id"]),
                    "channel": str(r["channel"]),
                    "status": str(DeliveryStatus.PENDING),
                    "subject": r["subject"],
                    "payload": json.dumps(r["payload"], ensure_ascii=False, sort_keys=True),
                    "attempts": 0,
                    "created_at": created,
                }
                ids.append(
                    conn.execute(insert(notify_deliveries).values(**values)).inserted_primary_key[0]
                )
        return ids

    def deliveries(
        self,
        *,
        status: DeliveryStatus | str | None = None,
        subscriber_id: int | None = None,
        alert_id: str | None = None,
        kind: str | None = None,
        ids: Iterable[int] | None = None,
        limit: int | None = 200,
        offset: int = 0,
    ) -> list[Delivery]:
        """Deliveries, newest first (oldest first for ``status="pending"``, the sending order)."""
        order = notify_deliveries.c.id
        stmt = select(notify_deliveries, notify_subscribers.c.name.label("subscriber_name")).join(
            notify_subscribers, notify_subscribers.c.id == notify_deliveries.c.subscriber_id
        )
        if status is not None:
            stmt = stmt.where(notify_deliveries.c.status == str(DeliveryStatus(status)))
        if subscriber_id is not None:
            stmt = stmt.where(notify_deliveries.c.subscriber_id == subscriber_id)
        if alert_id is not None:
            stmt = stmt.where(notify_deliveries.c.alert_id == alert_id)
        if kind is not None:
            stmt = stmt.where(notify_deliveries.c.kind == kind)
        if ids is not None:
            stmt = stmt.where(notify_deliveries.c.id.in_(list(ids)))
        pending_first = status is not None and str(status) == DeliveryStatus.PENDING
        stmt = stmt.order_by(order if pending_first else order.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(stmt).mappings()]

    def delivery(self, delivery_id: int) -> Delivery | None:
        found = self.deliveries(ids=[delivery_id], limit=1)
        return found[0] if found else None

    def payload(self, delivery_id: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            text = conn.execute(
                select(notify_deliveries.c.payload).where(notify_deliveries.c.id == delivery_id)
            ).scalar_one()
        return json.loads(text)

    def record_attempt(
        self,
        delivery_id: int,
        *,
        started_at: str,
        duration_ms: float,
        ok: bool,
        status_code: int | None,
        error: str | None,
        final: bool,
    ) -> DeliveryAttempt:
        """Log one attempt and update its delivery: ``sent`` when ``ok``, ``failed`` when
        ``final`` (no more tries), else unchanged."""
        with self.engine.begin() as conn:
            attempts = conn.execute(
                select(notify_deliveries.c.attempts).where(notify_deliveries.c.id == delivery_id)
            ).scalar_one()
            row = {
                "delivery_id": delivery_id,
                "attempt": attempts + 1,
                "started_at": started_at,
                "duration_ms": duration_ms,
                "ok": ok,
                "status_code": status_code,
                "error": error,
            }
            new_id = conn.execute(insert(notify_attempts).values(**row)).inserted_primary_key[0]
            status = DeliveryStatus.SENT if ok else (DeliveryStatus.FAILED if final else None)
            values: dict[str, Any] = {
                "attempts": attempts + 1,
                "last_attempt_at": started_at,
                "error": None if ok else error,
            }
            if status is not None:
                values["status"] = str(status)
            if ok:
                values["sent_at"] = now_iso()
            conn.execute(
                update(notify_deliveries)
                .where(notify_deliveries.c.id == delivery_id)
                .values(**values)
            )
        return DeliveryAttempt(id=new_id, **row)

    def attempts(
        self,
        *,
        delivery_id: int | None = None,
        subscriber_id: int | None = None,
        limit: int | None = 500,
        offset: int = 0,
    ) -> list[DeliveryAttempt]:
        """The delivery log: every attempt, newest first."""
        stmt = select(notify_attempts).order_by(notify_attempts.c.id.desc())
        if delivery_id is not None:
            stmt = stmt.where(notify_attempts.c.delivery_id == delivery_id)
        if subscriber_id is not None:
            stmt = stmt.where(
                notify_attempts.c.delivery_id.in_(
                    select(notify_deliveries.c.id).where(
                        notify_deliveries.c.subscriber_id == subscriber_id
                    )
                )
            )
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.limit(limit).offset(offset)).mappings().all()
        return [DeliveryAttempt(**r) for r in rows]

    def claim(self, delivery_id: int) -> bool:
        """Mark a pending delivery as being sent; ``False`` when another run took it first."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(notify_deliveries)
                .where(
                    notify_deliveries.c.id == delivery_id,
                    notify_deliveries.c.status == str(DeliveryStatus.PENDING),
                )
                .values(status=str(DeliveryStatus.SENDING), last_attempt_at=now_iso())
            )
        return result.rowcount == 1

    def release_stale_claims(self, before: str) -> int:
        """Put deliveries claimed before ``before`` (ISO time) by a run that never finished
        back to pending; how many."""
        with self.engine.begin() as conn:
            return conn.execute(
                update(notify_deliveries)
                .where(
                    notify_deliveries.c.status == str(DeliveryStatus.SENDING),
                    notify_deliveries.c.last_attempt_at < before,
                )
                .values(status=str(DeliveryStatus.PENDING))
            ).rowcount

    def retry_failed(self, ids: Iterable[int] | None = None) -> int:
        """Put failed deliveries back to pending; how many."""
        stmt = (
            update(notify_deliveries)
            .where(notify_deliveries.c.status == str(DeliveryStatus.FAILED))
            .values(status=str(DeliveryStatus.PENDING))
        )
        if ids is not None:
            stmt = stmt.where(notify_deliveries.c.id.in_(list(ids)))
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount

    def counts(self) -> dict[str, int]:
        """Deliveries per status."""
        stmt = select(notify_deliveries.c.status, func.count()).group_by(notify_deliveries.c.status)
        with self.engine.connect() as conn:
            return {s: n for s, n in conn.execute(stmt)}


def _subscriber(row: Mapping[str, Any]) -> Subscriber:
    return Subscriber(**{k: v for k, v in row.items() if k != "webhook_secret"})


def _subscription(row: Mapping[str, Any]) -> Subscription:
    data = dict(row)
    data["region_ids"] = json.loads(data["region_ids"])
    data["syndromes"] = json.loads(data["syndromes"])
    return Subscription(**data)


def _delivery(row: Mapping[str, Any]) -> Delivery:
    return Delivery(**{k: v for k, v in row.items() if k != "payload"})
