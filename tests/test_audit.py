"""The audit log: hash chain, tamper detection, concurrent appends (SQLite and PostgreSQL), what
the web API and the command line record, ``epiradar audit`` and the FHIR AuditEvent export."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from epiradar.cli import app as cli_app
from epiradar.config import Settings
from epiradar.service import audit as audit_service
from epiradar.service import auth as auth_service
from epiradar.store import Store
from epiradar.store.audit import GENESIS_HASH, AuditFilter, entry_hash
from epiradar.web.app import create_app
from server_support import Server
from test_mllp import message
from web_support import authorize

runner = CliRunner()


def fill(store: Store, n: int = 5) -> None:
    for i in range(1, n + 1):
        store.audit.append(
            f"user{i % 2}",
            "alert.line_list.read" if i % 2 else "quarantine.discard",
            object_type="alert",
            object_id=f"A{i}",
            detail={"i": i, "note": "é"},
            remote_addr="10.0.0.1",
        )


def sql(store: Store, *statements: str) -> None:
    with store.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


# ---------------------------------------------------------------------------------------------
# store: chain, filters, tampering, concurrency


def test_chain_links_each_entry_to_the_one_before(store: Store) -> None:
    assert store.audit.verify().ok and store.audit.verify().entries == 0
    fill(store, 5)
    entries = store.audit.entries(newest_first=False)
    assert [e.id for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in zip(entries, entries[1:], strict=False):
        assert after.prev_hash == before.hash
    assert all(entry_hash(e.__dict__) == e.hash for e in entries)
    assert entries[0].at.endswith("Z") and entries[0].detail == '{"i":1,"note":"é"}'
    report = store.audit.verify()
    assert report.ok and report.entries == 5 and report.last_hash == entries[-1].hash


def test_entries_filter_and_page(store: Store) -> None:
    fill(store, 6)
    audit = store.audit
    assert [e.id for e in audit.entries(AuditFilter(actor="user1"))] == [5, 3, 1]
    assert [e.id for e in audit.entries(AuditFilter(action="quarantine.*"))] == [6, 4, 2]
    assert [e.id for e in audit.entries(AuditFilter(object_id="A4"))] == [4]
    assert [e.id for e in audit.entries(limit=2, offset=1)] == [5, 4]
    assert audit.count(AuditFilter(actor="user0")) == 3
    first = audit.entries(newest_first=False)[0].at
    assert audit.count(AuditFilter(since=first)) == 6
    assert audit.count(AuditFilter(until=first)) == 0
    with pytest.raises(ValueError, match="since: 'yesterday' is not an ISO 8601"):
        audit.entries(AuditFilter(since="yesterday"))
    with pytest.raises(ValueError, match="limit: must be at least 1"):
        audit.entries(limit=0)


def test_append_refuses_bad_input_naming_the_field(store: Store) -> None:
    with pytest.raises(ValueError, match="actor: required"):
        store.audit.append("", "x.read")
    with pytest.raises(ValueError, match="action: required"):
        store.audit.append("me", "")
    with pytest.raises(ValueError, match="detail: not JSON-serialisable"):
        store.audit.append("me", "x.read", detail={"when": object()})
    assert store.audit.count() == 0 and store.audit.verify().ok


TAMPERING = {
    "field changed": (
        ["UPDATE audit_log SET actor = 'mallory' WHERE id = 3"],
        3,
        "altered",
    ),
    "detail changed": (
        ["UPDATE audit_log SET detail = '{\"i\":99}' WHERE id = 2"],
        2,
        "altered",
    ),
    "row deleted": (["DELETE FROM audit_log WHERE id = 3"], 3, "deleted"),
    "last row deleted": (["DELETE FROM audit_log WHERE id = 5"], 5, "deleted"),
    "rows swapped": (
        [
            "UPDATE audit_log SET id = -1 WHERE id = 2",
            "UPDATE audit_log SET id = 2 WHERE id = 3",
            "UPDATE audit_log SET id = 3 WHERE id = -1",
        ],
        2,
        "reordered",
    ),
    "hash changed": (
        [f"UPDATE audit_log SET hash = '{'f' * 64}' WHERE id = 4"],
        4,
        "hash_altered",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERING))
def test_tampering_through_sql_is_detected_at_the_right_entry(store: Store, case: str) -> None:
    statements, entry_id, kind = TAMPERING[case]
    fill(store, 5)
    sql(store, *statements)
    report = store.audit.verify()
    assert not report.ok
    assert report.first_break is not None
    assert (report.first_break.entry_id, report.first_break.kind) == (entry_id, kind)
    assert f"entry {entry_id}" in report.first_break.message


def test_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link(store: Store) -> None:
    fill(store, 4)
    entry = store.audit.entries(AuditFilter(object_id="A2"))[0]
    forged = dict(entry.__dict__, actor="mallory")
    sql(
        store,
        f"UPDATE audit_log SET actor = 'mallory', hash = '{entry_hash(forged)}' WHERE id = 2",
    )
    brk = store.audit.verify().first_break
    assert brk is not None and (brk.entry_id, brk.kind) == (3, "broken_link")


def test_appends_after_a_break_do_not_repair_it(store: Store) -> None:
    fill(store, 3)
    sql(store, "UPDATE audit_log SET object_id = 'A9' WHERE id = 1")
    fill(store, 2)
    brk = store.audit.verify().first_break
    assert brk is not None and brk.entry_id == 1


def test_concurrent_appends_form_one_chain(store: Store) -> None:
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work(n: int) -> None:
        own = Store(store.url)  # its own connections, as another process would have
        try:
            start.wait()
            for i in range(per_thread):
                own.audit.append(f"t{n}", "x.create", object_id=f"{n}-{i}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            own.close()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    report = store.audit.verify()
    assert report.ok, report.first_break
    assert report.entries == threads * per_thread
    entries = store.audit.entries(limit=None, newest_first=False)
    assert [e.id for e in entries] == list(range(1, threads * per_thread + 1))
    assert len({e.object_id for e in entries}) == threads * per_thread


# ---------------------------------------------------------------------------------------------
# web


def test_real_server_records_person_level_reads_and_writes(
    server: Server, served_db_url: str
) -> None:
    with Store(served_db_url) as store:
        token = store.create_token("F1", "test")
        store.quarantine(
            [{"source": "a.csv", "record": "2", "reason": "bad age", "raw": "PAT-1,Jane,200"}]
        )
        record_id = store.quarantined(1)[0]["id"]
        _, api_token = auth_service.create_token(
            store, "analyst", "epidemiologist", created_by="tests"
        )
    client = httpx.Client(base_url=server.url)
    staff = {"Authorization": f"Bearer {api_token}"}
    actor = {**staff, "X-Epiradar-Actor": "dr.li"}  # a machine token acting for a person
    assert client.get("/api/health").status_code == 200  # aggregates: not recorded
    assert client.get("/api/counts", headers=staff).status_code == 200
    assert client.get(f"/api/quarantine/{record_id}", headers=actor).status_code == 200
    assert (
        client.get("/api/quarantine", params={"status": "open"}, headers=staff).status_code == 200
    )
    assert client.get("/api/alerts/NOPE/visits", headers=actor).status_code == 404
    reply = client.post(
        "/api/ingest/hl7",
        content=message("C1", "V1"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert reply.status_code == 200 and reply.json()["accepted"] == 1
    assert client.post("/api/ingest/hl7", content=message("C2", "V2")).status_code == 401
    with Store(served_db_url) as store:
        entries = store.audit.entries(newest_first=False)
        assert store.audit.verify().ok
    got = [(e.actor, e.action, e.object_type, e.object_id, e.remote_addr) for e in entries]
    assert got == [
        ("dr.li", "quarantine.record.read", "quarantine", str(record_id), "127.0.0.1"),
        ("token:analyst", "quarantine.list.read", "quarantine", None, "127.0.0.1"),
        ("dr.li", "alert.line_list.read", "alert", "NOPE", "127.0.0.1"),
        ("facility:F1", "ingest.hl7.create", "ingest", None, "127.0.0.1"),
        ("anonymous", "ingest.hl7.create", "ingest", None, "127.0.0.1"),
    ]
    details = [e.detail_data for e in entries]
    assert details[1]["query"] == "status=open" and details[1]["status"] == 200
    assert details[2]["status"] == 404 and details[2]["via"] == "token:analyst"
    assert details[3]["facility_id"] == "F1" and details[3]["method"] == "POST"
    assert details[4]["status"] == 401 and all(d["channel"] == "web" for d in details)


@pytest.fixture
def web_store(store: Store, small_city) -> Iterator[Store]:
    store.load_city(
        small_city.regions, small_city.facilities, small_city.places, small_city.mobility
    )
    yield store


def test_new_write_endpoints_are_recorded_without_further_code(web_store: Store) -> None:
    app = create_app(Settings(db=web_store.url), web_store)

    @app.post("/api/widgets/{widget_id}/close")
    def close_widget(widget_id: str) -> dict:
        return {"closed": widget_id}

    with TestClient(app) as client:
        authorize(client, web_store, name="ops")  # an unlisted route: administrators only
        reply = client.post("/api/widgets/W7/close")
        assert reply.json() == {"closed": "W7"}
        client.get("/alerts/NOPE")  # the alert page shows the line list: recorded
        client.get("/alerts")  # the alert list shows aggregates: not recorded
    entries = web_store.audit.entries(newest_first=False)
    assert [(e.actor, e.action, e.object_type, e.object_id) for e in entries] == [
        ("token:ops", "api.close_widget", "widget", "W7"),
        ("token:ops", "alert.page.read", "alert", "NOPE"),
    ]


def _get_routes(app) -> set[str]:
    """Every GET route's path (routers included through FastAPI's included-router contexts)."""
    paths: set[str] = set()
    for route in app.routes:
        routes = (
            route.effective_route_contexts()
            if hasattr(route, "effective_route_contexts")
            else [route]
        )
        for r in routes:
            if "GET" in (getattr(r, "methods", None) or ()):
                paths.add(r.path)
    return paths


def test_every_get_route_is_classified_as_person_level_or_not(web_store: Store) -> None:
    from epiradar.web.audit import AGGREGATE_READS, PERSON_LEVEL_READS

    paths = _get_routes(create_app(Settings(db=web_store.url), web_store))
    assert "/api/alerts/{alert_id}/visits" in paths
    assert sorted(paths - set(PERSON_LEVEL_READS) - AGGREGATE_READS) == []
    assert sorted(set(PERSON_LEVEL_READS) - paths) == []  # no stale entries
    assert set(PERSON_LEVEL_READS).isdisjoint(AGGREGATE_READS)


def test_no_person_level_response_without_its_audit_entry(web_store: Store) -> None:
    web_store.quarantine([{"source": "a.csv", "reason": "bad", "raw": "PAT-1,Jane"}])
    sql(web_store, "DELETE FROM audit_head")  # the log cannot be written any more
    app = create_app(Settings(db=web_store.url), web_store)
    with TestClient(app, raise_server_exceptions=False) as client:
        authorize(client, web_store)
        reply = client.get("/api/quarantine")
        assert reply.status_code == 500
        assert "PAT-1" not in reply.text
        assert client.get("/api/health").status_code == 200  # not recorded: unaffected


# ---------------------------------------------------------------------------------------------
# command line


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with Store(url) as store:
        store.migrate()
    return url


def test_every_command_is_classified_as_recorded_or_not() -> None:
    import typer.main

    from epiradar.cli_audit import COMMANDS, UNRECORDED

    leaves: set[tuple[str, ...]] = set()

    def walk(command, path: tuple[str, ...]) -> None:
        subs = getattr(command, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, (*path, name))
        else:
            leaves.add(path)

    walk(typer.main.get_command(cli_app), ())
    assert ("audit", "verify") in leaves
    assert sorted(leaves - set(COMMANDS) - UNRECORDED) == []
    assert sorted(set(COMMANDS) - leaves) == [] and set(COMMANDS).isdisjoint(UNRECORDED)


def test_cli_verify_exit_codes(db: str) -> None:
    with Store(db) as store:
        fill(store, 4)
    result = runner.invoke(cli_app, ["audit", "verify", "--db", db])
    assert result.exit_code == 0, result.output
    assert "intact: 4 entries" in result.output
    with Store(db) as store:
        sql(store, "UPDATE audit_log SET remote_addr = '6.6.6.6' WHERE id = 2")
    result = runner.invoke(cli_app, ["audit", "verify", "--db", db])
    assert result.exit_code == 1
    assert "broken at entry 2 (altered)" in result.output
    result = runner.invoke(cli_app, ["audit", "verify", "--json", "--db", db])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["first_break"]["entry_id"] == 2


def test_cli_verify_without_a_database_fails(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    result = runner.invoke(cli_app, ["audit", "verify", "--db", url])
    assert result.exit_code == 2 and "no epiradar database at" in result.output
    assert not (tmp_path / "none.db").exists()


def test_cli_commands_are_recorded_with_actor_and_host(db: str) -> None:
    with Store(db) as store:
        store.quarantine([{"source": "a.csv", "reason": "bad", "raw": "PAT-1,Jane"}])
        record_id = store.quarantined(1)[0]["id"]
    rid = str(record_id)
    assert runner.invoke(cli_app, ["quarantine", "show", rid, "--db", db]).exit_code == 0
    result = runner.invoke(
        cli_app, ["--actor", "dr.wang", "quarantine", "discard", rid, "--reason", "dup", "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert runner.invoke(cli_app, ["quarantine", "show", "999", "--db", db]).exit_code == 2
    assert runner.invoke(cli_app, ["audit", "verify", "--db", db]).exit_code == 0  # not recorded
    with Store(db) as store:
        entries = store.audit.entries(newest_first=False)
    assert [(e.action, e.object_id) for e in entries] == [
        ("quarantine.record.read", rid),
        ("quarantine.discard", rid),
        ("quarantine.record.read", "999"),
    ]
    assert entries[0].actor == audit_service.cli_actor()
    assert entries[1].actor == "dr.wang"
    assert entries[1].remote_addr == audit_service.cli_host()
    assert entries[1].detail_data["params"]["reason"] == "dup"
    assert "db" not in entries[1].detail_data["params"]
    assert [e.detail_data["exit_code"] for e in entries] == [0, 0, 2]


def test_cli_never_records_secrets(db: str) -> None:
    secret = "a-webhook-secret-of-some-length"
    runner.invoke(
        cli_app,
        ["notify", "subscribers", "add", "ops", "--webhook", "http://127.0.0.1:9/hook"]
        + ["--secret", secret, "--db", db],
    )
    with Store(db) as store:
        (entry,) = store.audit.entries(AuditFilter(action="subscriber.create"))
    assert entry.object_id == "ops" and entry.detail_data["params"]["secret"] == "***"
    assert secret not in entry.detail


def test_cli_list_filters(db: str) -> None:
    with Store(db) as store:
        fill(store, 4)
    result = runner.invoke(cli_app, ["audit", "list", "--by", "user1", "--db", db])
    assert result.exit_code == 0, result.output
    assert "2 of 2 matching entries" in result.output and "user0" not in result.output
    result = runner.invoke(
        cli_app, ["audit", "list", "--json", "--action", "quarantine.*", "--db", db]
    )
    assert [e["id"] for e in json.loads(result.stdout)] == [4, 2]
    result = runner.invoke(cli_app, ["audit", "list", "--since", "soon", "--db", db])
    assert result.exit_code == 2 and "--since: 'soon' is not an ISO 8601" in result.output


def test_fhir_export_validates_as_audit_events(db: str, tmp_path: Path) -> None:
    with Store(db) as store:
        fill(store, 3)
        audit_service.record(
            store,
            "dr.li",
            "quarantine.list.read",
            channel="web",
            detail={"status": 500},
            remote_addr="192.0.2.7",
        )
    result = runner.invoke(cli_app, ["audit", "export", "--format", "fhir", "--db", db])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 4
    events = [AuditEvent.model_validate_json(line) for line in lines]
    assert [e.id for e in events] == ["audit-1", "audit-2", "audit-3", "audit-4"]
    assert [e.action for e in events] == ["R", "U", "R", "R"]
    last = events[-1]
    assert last.outcome == "8" and last.agent[0].name == "dr.li"
    assert last.agent[0].network.address == "192.0.2.7" and last.agent[0].network.type == "2"
    assert last.type.code == "rest" and last.subtype[0].code == "quarantine.list.read"
    first = events[0]
    assert first.entity[0].what.identifier.value == "A1"
    assert {d.type: d.valueString for d in first.entity[0].detail}["prev_hash"] == GENESIS_HASH
    out = tmp_path / "audit.json"
    result = runner.invoke(
        cli_app, ["audit", "export", "--format", "fhir", "--bundle", "-o", str(out), "--db", db]
    )
    assert result.exit_code == 0, result.output
    bundle = Bundle.model_validate_json(out.read_text(encoding="utf-8"))
    # the export itself was recorded before this one: five entries
    assert bundle.type == "collection" and len(bundle.entry) == 5
    assert all(e.resource.get_resource_type() == "AuditEvent" for e in bundle.entry)
    assert bundle.entry[4].resource.subtype[0].code == "audit_log.export"
    assert runner.invoke(cli_app, ["audit", "export", "--format", "csv", "--db", db]).exit_code == 2
