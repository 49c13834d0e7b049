"""Accounts, roles and scopes, sessions, CSRF, API tokens, login limits and security headers.

The permission matrix calls every route of the app (``app.routes``) as every role, on SQLite
and on PostgreSQL, and proves the denials (401/403) as well as the grants.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from epiradar.cli import app as cli_app
from epiradar.config import Settings
from epiradar.config_auth import AuthSettings
from epiradar.service import auth
from epiradar.service import workflow as wf
from epiradar.store import Store
from epiradar.store.schema import visits
from epiradar.web.app import create_app
from epiradar.web.auth import POLICY, UNLISTED, rule_for
from web_support import (
    CITY_ALERT,
    CLOSED_ALERT,
    OUTBREAK_ALERT,
    TEST_PASSWORD,
    add_user,
    fill_store,
)

T0 = dt.datetime(2026, 3, 31, 9, 0)

# What each caller may do: written out here, apart from the product's own table.
GRANTS: dict[str, set[str]] = {
    "anonymous": {"public"},
    "public": {"public"},
    "facility": {"public", "ingest", "capacity.report"},
    "viewer": {"public", "aggregate.read", "feeds.read", "users.read"},
    "hospital_reporter": {
        "public",
        "visits.read",
        "feeds.read",
        "quarantine.read",
        "users.read",
        "capacity.report",
    },
    "epidemiologist": {
        "public",
        "aggregate.read",
        "person.read",
        "visits.read",
        "workflow.read",
        "workflow.write",
        "feeds.read",
        "quarantine.read",
        "users.read",
        "export.line_list",
        "bulletin.write",
        "bulletin.approve",
    },
    "administrator": {
        "public",
        "aggregate.read",
        "person.read",
        "visits.read",
        "workflow.read",
        "workflow.write",
        "feeds.read",
        "quarantine.read",
        "notify.admin",
        "users.read",
        "users.admin",
        "export.line_list",
        "bulletin.write",
        "bulletin.approve",
        "capacity.report",
        UNLISTED.permission,
    },
}
# (caller, role, scope): the district callers' districts; R05 holds the outbreak alert.
CALLERS: list[tuple[str, str, dict]] = [  # denials first: granted writes may delete things
    ("anonymous", "anonymous", {}),
    ("public", "public", {}),
    ("facility", "facility", {}),
    ("viewer", "viewer", {}),
    ("reporter", "hospital_reporter", {"facility_id": "F1"}),
    ("epi_r11", "epidemiologist", {"districts": ["R11"]}),
    ("epi_r05", "epidemiologist", {"districts": ["R05"]}),
    ("epi_city", "epidemiologist", {}),
    ("admin", "administrator", {}),
]


@dataclass
class World:
    store: Store
    settings: Settings
    tokens: dict[str, str]  # caller -> bearer token
    ids: dict[str, str]  # path parameter -> a sample value
    patient_keys: set[str]


def _tokens(store: Store) -> dict[str, str]:
    out = {}
    for name, role, scope in CALLERS:
        if name == "anonymous":
            continue
        if name == "facility":
            out[name] = store.create_token("F1", "ingest")
            continue
        out[name] = auth.create_token(store, name, role, created_by="tests", **scope)[1]
    return out


@pytest.fixture
def world(store: Store) -> Iterator[World]:
    fill_store(store)
    settings = Settings(db=store.url, pseudonym_key="test-key")
    store.quarantine(
        [
            {
                "source": "mllp:F1",
                "reason": "bad age",
                "raw": "PAT-F1-0001|Jane",
                "facility_id": "F1",
            },
            {
                "source": "mllp:F2",
                "reason": "bad sex",
                "raw": "PAT-F2-0002|John",
                "facility_id": "F2",
            },
        ]
    )
    f1_record = next(q["id"] for q in store.quarantined(10) if q["facility_id"] == "F1")
    inv = wf.create_investigation(
        store, "GI cluster", actor="setup", alert_ids=[OUTBREAK_ALERT], now=T0
    )
    task = wf.add_task(store, inv.id, title="Inspect the market", actor="setup", now=T0)
    hyp = wf.add_hypothesis(store, inv.id, kind="source", subject="P01", actor="setup", now=T0)
    mute = wf.mute(store, OUTBREAK_ALERT, T0 + dt.timedelta(days=3), "known", actor="setup", now=T0)
    store.notify.add_subscriber(
        "ops", email="ops@example.org", webhook_url=None, webhook_secret=None
    )
    add_user(store, "someone", "viewer")
    with store.engine.connect() as conn:
        keys = {k for (k,) in conn.execute(select(visits.c.patient_key)) if k}
    yield World(
        store=store,
        settings=settings,
        tokens=_tokens(store),
        ids={
            "alert_id": OUTBREAK_ALERT,
            "investigation_id": str(inv.id),
            "task_id": str(task.id),
            "hypothesis_id": str(hyp.id),
            "mute_id": str(mute.id),
            "record_id": str(f1_record),
            "ref": "nobody-of-that-name",
            "subscription_id": "999999",
            "delivery_id": "999999",
            "username": "someone",
            "token_id": "999999",
            "contact_id": "999999",
            "locale": "en",
            "facility_id": "F1",
            "resource_id": "no-such-resource",
            "job_id": "no-such-job",
            "file_name": "Patient-1.ndjson",
            "bulletin_id": "999999",
        },
        patient_keys=keys,
    )


def _routes(app) -> list[tuple[str, str]]:
    """Every (method, path template) of the app, included routers' routes too."""
    found = set()
    for route in app.routes:
        contexts = (
            route.effective_route_contexts()
            if hasattr(route, "effective_route_contexts")
            else [route]
        )
        for r in contexts:
            for method in getattr(r, "methods", None) or ():
                if method != "HEAD":
                    found.add((method, r.path))
    return sorted(found)


def _fill(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: ids[m.group(1)], path)


def _call(client: TestClient, method: str, url: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if method in ("POST", "PUT", "PATCH"):
        # a body no endpoint accepts: a granted call stops at validation, changing nothing
        return client.request(
            method, url, json={"no_such_field": 1}, headers=headers, follow_redirects=False
        )
    return client.request(method, url, headers=headers, follow_redirects=False)


def _expected(caller: str, role: str, scope: dict, method: str, path: str) -> bool:
    rule = rule_for(method, path)
    if rule.permission not in GRANTS[role if caller not in ("anonymous", "facility") else caller]:
        return False
    districts = scope.get("districts")
    if districts is None:
        if role == "hospital_reporter":
            # a reporter's scope: its facility's records only (the sample record is F1's)
            return rule.scope in (None, "facility", "quarantine", "own_facility")
        return True
    # district callers: the sample objects belong to the outbreak in R05/R06; the city-wide
    # and quarantine scopes are closed to them
    if rule.scope in ("city", "facility", "quarantine"):
        return False
    if rule.scope in (None, "own_facility"):
        return True  # a facility's visits: filtered to the districts' residents
    return "R05" in districts


# ---------------------------------------------------------------------------------------------
# the permission matrix


def test_every_route_has_a_policy_entry(world: World) -> None:
    routes = _routes(create_app(world.settings, world.store))
    assert ("GET", "/api/alerts/{alert_id}/visits") in routes
    assert [r for r in routes if r not in POLICY] == []


def test_permission_matrix_role_x_endpoint_x_scope(world: World) -> None:
    app = create_app(world.settings, world.store)
    routes = _routes(app)
    wrong = []
    outcomes: dict[str, list[bool]] = {}
    with TestClient(app) as client:
        for caller, role, scope in CALLERS:
            for method, path in routes:
                if (method, path) in (("POST", "/login"), ("POST", "/logout")):
                    continue  # their own tests below
                url = _fill(path, world.ids)
                reply = _call(client, method, url, world.tokens.get(caller))
                denied = reply.status_code in (401, 403) or (
                    reply.status_code == 303 and reply.headers["location"].startswith("/login")
                )
                outcomes.setdefault(caller, []).append(denied)
                if denied == _expected(caller, role, scope, method, path):
                    wrong.append((caller, method, url, reply.status_code, reply.text[:120]))
                if denied and caller == "anonymous":
                    assert reply.status_code in (401, 303), (method, url)
                elif denied:
                    assert reply.status_code == 403, (caller, method, url)
    assert wrong == []
    # every caller was both granted and refused something; administrators only the ingest
    assert all(any(o) and not all(o) for o in outcomes.values())
    assert sum(outcomes["admin"]) == 2 and len(routes) > 60


def test_a_route_without_a_policy_entry_is_for_administrators_only(world: World) -> None:
    app = create_app(world.settings, world.store)

    @app.get("/api/widgets")
    def widgets() -> list[str]:
        return ["w"]

    with TestClient(app) as client:
        viewer = {"Authorization": f"Bearer {world.tokens['viewer']}"}
        admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
        assert client.get("/api/widgets").status_code == 401
        refused = client.get("/api/widgets", headers=viewer)
        assert refused.status_code == 403 and "unlisted route" in refused.json()["detail"]
        assert client.get("/api/widgets", headers=admin).json() == ["w"]
    assert ("GET", "/api/widgets") in _routes(app) and ("GET", "/api/widgets") not in POLICY


# ---------------------------------------------------------------------------------------------
# scopes


def _client(world: World, caller: str) -> TestClient:
    client = TestClient(create_app(world.settings, world.store))
    client.headers["Authorization"] = f"Bearer {world.tokens[caller]}"
    return client


def test_district_scope_filters_alerts_line_lists_and_investigations(world: World) -> None:
    r05, r11, city = (_client(world, c) for c in ("epi_r05", "epi_r11", "epi_city"))
    ids = lambda c: {a["id"] for a in c.get("/api/alerts").json()}  # noqa: E731
    assert ids(r05) == {OUTBREAK_ALERT, CITY_ALERT}
    assert ids(r11) == {CLOSED_ALERT, CITY_ALERT}
    assert ids(city) == {OUTBREAK_ALERT, CITY_ALERT, CLOSED_ALERT}
    assert r11.get(f"/api/alerts/{OUTBREAK_ALERT}").status_code == 403
    assert r11.get(f"/api/alerts/{OUTBREAK_ALERT}/visits").status_code == 403
    assert r11.get(f"/alerts/{OUTBREAK_ALERT}").status_code == 403
    assert OUTBREAK_ALERT not in r11.get("/alerts").text
    # a line list holds only the visits of residents of the caller's districts
    rows = r05.get(f"/api/alerts/{OUTBREAK_ALERT}/visits").json()["visits"]
    everyone = city.get(f"/api/alerts/{OUTBREAK_ALERT}/visits").json()["visits"]
    assert rows and {v["region_id"] for v in rows} == {"R05"}
    assert len(everyone) > len(rows) and {v["region_id"] for v in everyone} == {"R05", "R06"}
    city_wide = r11.get(f"/api/alerts/{CITY_ALERT}/visits").json()["visits"]
    assert city_wide and {v["region_id"] for v in city_wide} == {"R11"}
    # investigations and tasks touching the outbreak: R05 sees them, R11 does not
    assert len(r05.get("/api/investigations").json()) == 1
    assert r11.get("/api/investigations").json() == []
    assert r11.get("/api/tasks").json() == [] and len(r05.get("/api/tasks").json()) == 1
    queue = r11.get("/api/queue").json()
    assert {q["alert"]["id"] for q in queue["alerts"]} <= {CLOSED_ALERT, CITY_ALERT}
    # ... and the work-queue page lists the same alerts as the API
    assert OUTBREAK_ALERT not in r11.get("/queue?everyone=true&hidden=true").text
    assert OUTBREAK_ALERT in r05.get("/queue?everyone=true&hidden=true").text
    assert r11.get(f"/api/tasks/{world.ids['task_id']}").status_code == 403
    assert r11.get("/api/quarantine").status_code == 403  # raw input has no district


def test_hospital_reporter_sees_only_its_facility(world: World) -> None:
    reporter = _client(world, "reporter")
    feeds = reporter.get("/api/feeds").json()
    assert [f["facility_id"] for f in feeds["facilities"]] == ["F1"]
    records = reporter.get("/api/quarantine").json()
    assert records and {q["facility_id"] for q in records} == {"F1"}
    asked_f2 = reporter.get("/api/quarantine", params={"facility_id": "F2"}).json()
    assert {q["facility_id"] for q in asked_f2} <= {"F1"}
    f2 = next(q["id"] for q in world.store.quarantined(10) if q["facility_id"] == "F2")
    assert reporter.get(f"/api/quarantine/{f2}").status_code == 403
    assert reporter.get(f"/api/quarantine/{world.ids['record_id']}").status_code == 200
    assert "PAT-F2" not in reporter.get("/quarantine").text
    own = reporter.get("/api/facilities/F1/visits").json()
    assert own and {v["facility_id"] for v in own} == {"F1"}
    assert reporter.get("/api/facilities/F2/visits").status_code == 403
    assert _client(world, "viewer").get("/api/facilities/F1/visits").status_code == 403
    r05 = _client(world, "epi_r05").get("/api/facilities/F3/visits").json()
    assert r05 and {v["region_id"] for v in r05} == {"R05"}  # F3 also treats R02, R08, R11
    assert reporter.get("/api/alerts").status_code == 403
    assert reporter.get(f"/api/alerts/{OUTBREAK_ALERT}/visits").status_code == 403


def test_viewer_never_receives_person_level_fields(world: World) -> None:
    viewer = _client(world, "viewer")
    app = viewer.app
    seen = 0
    for method, path in _routes(app):
        if method != "GET" or path.startswith("/static/"):
            continue
        reply = viewer.get(_fill(path, world.ids), follow_redirects=False)
        if reply.status_code != 200:
            assert reply.status_code in (303, 403, 404, 422), (path, reply.status_code)
            continue
        seen += 1
        text = reply.text
        leaked = [k for k in world.patient_keys if k in text]
        assert leaked == [], path
        for marker in ("diarrhoea and vomiting", "sore throat", "PAT-F1", "Patient key"):
            assert marker not in text, (path, marker)
        assert not re.search(r'"(patient_key|complaint|raw)":\s*"', text), path
    assert seen >= 8
    page = viewer.get(f"/alerts/{OUTBREAK_ALERT}").text
    assert 'id="line-list"' not in page and "line-list-withheld" in page
    assert 'id="line-list"' in _client(world, "epi_city").get(f"/alerts/{OUTBREAK_ALERT}").text


def test_user_lists_are_scoped(world: World) -> None:
    add_user(world.store, "dr.chen", "epidemiologist", districts=["R05"])
    add_user(world.store, "boss", "administrator")
    with TestClient(create_app(world.settings, world.store)) as client:
        _login(client, "dr.chen")
        assert [u["username"] for u in client.get("/api/users").json()] == ["dr.chen"]
        me = client.get("/api/me").json()
        assert (me["name"], me["role"], me["districts"]) == ("dr.chen", "epidemiologist", ["R05"])
        assert client.get("/api/tokens").status_code == 403
    with TestClient(create_app(world.settings, world.store)) as client:
        _login(client, "boss")
        names = [u["username"] for u in client.get("/api/users").json()]
        assert {"dr.chen", "boss", "someone"} <= set(names)
        assert all("password_hash" not in u for u in client.get("/api/users").json())
    viewer = _client(world, "viewer")  # a machine token belongs to no account
    assert viewer.get("/api/users").json() == []


# ---------------------------------------------------------------------------------------------
# sessions, CSRF, login limits


def _login(client: TestClient, username: str, password: str = TEST_PASSWORD, **kw):
    return client.post(
        "/login",
        data={"username": username, "password": password, "next": "/alerts"},
        follow_redirects=False,
        **kw,
    )


def test_login_sets_a_hardened_session_cookie_and_logout_ends_it(world: World) -> None:
    add_user(world.store, "ann", "epidemiologist")
    with TestClient(create_app(world.settings, world.store)) as client:
        assert client.get("/", follow_redirects=False).headers["location"] == "/login?next=%2F"
        reply = _login(client, "ann")
        assert reply.status_code == 303 and reply.headers["location"] == "/alerts"
        cookie = reply.headers["set-cookie"]
        assert "epiradar_session=" in cookie and "HttpOnly" in cookie
        assert "SameSite=lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
        page = client.get("/")
        assert page.status_code == 200 and "ann" in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        assert client.post("/logout", data={"csrf_token": token}).status_code == 200  # login page
        assert client.get("/", follow_redirects=False).status_code == 303
    stored = world.store.auth.session(reply.cookies["epiradar_session"])
    assert stored is None


def test_secure_cookie_and_hsts_over_https(world: World) -> None:
    add_user(world.store, "ann", "epidemiologist")
    app = create_app(world.settings, world.store)
    with TestClient(app, base_url="https://testserver") as client:
        reply = _login(client, "ann")
        assert "Secure" in reply.headers["set-cookie"]
        assert client.get("/api/health").headers["strict-transport-security"].startswith("max-age=")
    always = world.settings.model_copy(update={"auth": AuthSettings(secure_cookies="always")})
    with TestClient(create_app(always, world.store)) as client:
        assert "Secure" in _login(client, "ann").headers["set-cookie"]
        assert "strict-transport-security" not in client.get("/api/health").headers


def test_login_redirects_only_to_local_paths(world: World) -> None:
    add_user(world.store, "ann", "epidemiologist")
    with TestClient(create_app(world.settings, world.store)) as client:
        for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
            reply = client.post(
                "/login",
                data={"username": "ann", "password": TEST_PASSWORD, "next": target},
                follow_redirects=False,
            )
            assert reply.headers["location"] == "/"


def test_csrf_is_required_for_writes_made_with_a_session(world: World) -> None:
    add_user(world.store, "ann", "epidemiologist")
    with TestClient(create_app(world.settings, world.store)) as client:
        _login(client, "ann")
        body = {"title": "Market cluster", "alert_ids": [OUTBREAK_ALERT]}
        refused = client.post("/api/investigations", json=body)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        bad = client.post("/api/investigations", json=body, headers={"X-CSRF-Token": "guess"})
        assert bad.status_code == 403
        page = client.get(f"/alerts/{OUTBREAK_ALERT}").text
        token = re.search(r'"X-CSRF-Token": "([^"]+)"', page).group(1)
        made = client.post("/api/investigations", json=body, headers={"X-CSRF-Token": token})
        assert made.status_code == 201 and made.json()["actor"] == "ann"
        cross = client.post(
            "/api/investigations",
            json=body,
            headers={"X-CSRF-Token": token, "Origin": "https://evil.example"},
        )
        assert cross.status_code == 403 and "cross-origin" in cross.json()["detail"]
        # the alert page's form carries the token as a field
        form = {"to": "verifying", "note": "calling the clinic"}
        assert (
            client.post(
                f"/alerts/{OUTBREAK_ALERT}/transition", data=form, follow_redirects=False
            ).status_code
            == 403
        )
        moved = client.post(
            f"/alerts/{OUTBREAK_ALERT}/transition",
            data={**form, "csrf_token": token},
            follow_redirects=False,
        )
        assert moved.status_code == 303 and "workflow_error" not in moved.headers["location"]
    timeline = wf.timeline(world.store, OUTBREAK_ALERT)
    assert timeline[-1].actor == "ann"  # the workflow records the logged-in user


def test_login_is_rate_limited_per_account_and_per_address(world: World) -> None:
    add_user(world.store, "ann", "epidemiologist")
    add_user(world.store, "bob", "viewer")
    limits = AuthSettings(max_failures_per_account=3, max_failures_per_address=5)
    settings = world.settings.model_copy(update={"auth": limits})
    with TestClient(create_app(settings, world.store)) as client:
        for _ in range(3):
            reply = _login(client, "ann", "wrong password")
            assert reply.status_code == 401 and "wrong username or password" in reply.text
        locked = _login(client, "ann")  # the right password, but locked
        assert locked.status_code == 429
        assert re.search(
            r"too many failed logins for this account; try again in \d+ minute", locked.text
        )
        assert "epiradar_session" not in locked.headers.get("set-cookie", "")
        for _ in range(2):
            assert _login(client, "nobody", "guess").status_code == 401
        blocked = _login(client, "bob")  # five failures from this address
        assert blocked.status_code == 429 and "for this address" in blocked.text
    other = TestClient(create_app(settings, world.store), client=("10.0.0.9", 5000))
    assert _login(other, "bob").status_code == 303  # another address: not blocked
    assert _login(other, "ann").status_code == 429  # the account stays locked


def test_wrong_password_and_unknown_user_get_the_same_answer(world: World) -> None:
    add_user(world.store, "ann", "epidemiologist")
    with TestClient(create_app(world.settings, world.store)) as client:
        a = _login(client, "ann", "wrong password")
        b = _login(client, "nobody", "wrong password")
        assert a.status_code == b.status_code == 401
        assert re.search(r'id="login-error">([^<]*)<', a.text).group(1) == re.search(
            r'id="login-error">([^<]*)<', b.text
        ).group(1)


def test_disabled_accounts_and_role_changes_end_sessions(world: World) -> None:
    add_user(world.store, "ann", "epidemiologist")
    with TestClient(create_app(world.settings, world.store)) as client:
        _login(client, "ann")
        assert client.get("/api/alerts").status_code == 200
        auth.set_role(world.store, "ann", "viewer")
        assert client.get("/api/alerts").status_code == 401
        _login(client, "ann")
        assert client.get(f"/api/alerts/{OUTBREAK_ALERT}/visits").status_code == 403
        auth.set_active(world.store, "ann", False)
        assert client.get("/api/alerts").status_code == 401
        assert _login(client, "ann").status_code == 401


def test_passwords_are_argon2_hashes(world: World) -> None:
    add_user(world.store, "ann", "epidemiologist")
    stored = world.store.auth.user_by_name("ann")["password_hash"]
    assert stored.startswith("$argon2id$") and TEST_PASSWORD not in stored
    with pytest.raises(auth.AuthError, match="password: at least 10"):
        auth.add_user(world.store, "bob", "short", "viewer", settings=AuthSettings())
    with pytest.raises(auth.AuthError, match="facility_id: a hospital reporter needs"):
        auth.add_user(
            world.store, "bob", TEST_PASSWORD, "hospital_reporter", settings=AuthSettings()
        )
    with pytest.raises(auth.AuthError, match="districts: unknown region id"):
        auth.add_user(
            world.store,
            "bob",
            TEST_PASSWORD,
            "epidemiologist",
            settings=AuthSettings(),
            districts=["R99"],
        )


# ---------------------------------------------------------------------------------------------
# API tokens


def test_api_tokens_are_shown_once_hashed_at_rest_and_revocable(world: World) -> None:
    admin = _client(world, "admin")
    made = admin.post("/api/tokens", json={"name": "bulletin bot", "role": "viewer"})
    assert made.status_code == 201
    token, token_id = made.json()["token"], made.json()["id"]
    listed = admin.get("/api/tokens").json()
    assert token not in str(listed) and any(t["name"] == "bulletin bot" for t in listed)
    with world.store.engine.connect() as conn:
        from epiradar.store.schema import api_tokens

        hashes = [h for (h,) in conn.execute(select(api_tokens.c.token_hash))]
    assert token not in hashes and len(hashes[0]) == 64
    bot = TestClient(create_app(world.settings, world.store))
    bot.headers["Authorization"] = f"Bearer {token}"
    assert bot.get("/api/alerts").status_code == 200
    assert bot.get(f"/api/alerts/{OUTBREAK_ALERT}/visits").status_code == 403  # a viewer
    assert admin.delete(f"/api/tokens/{token_id}").status_code == 204
    assert bot.get("/api/alerts").status_code == 401
    assert admin.delete(f"/api/tokens/{token_id}").status_code == 404
    entries = world.store.audit.entries(newest_first=False)
    recorded = [e for e in entries if e.action.startswith("api_token")]
    assert [(e.action, e.detail_data["status"]) for e in recorded] == [
        ("api_token.create", 201),
        ("api_token.revoke", 204),
        ("api_token.revoke", 404),
    ]


def test_facility_tokens_keep_working_for_ingest_only(world: World) -> None:
    client = _client(world, "facility")
    assert client.post("/api/ingest/hl7", content=b"garbage").json()["rejected"] == 1
    assert client.get("/api/alerts").status_code == 403
    other = _client(world, "admin")
    assert other.post("/api/ingest/hl7", content=b"garbage").status_code == 403


def test_cli_users_and_tokens(world: World) -> None:
    runner = CliRunner()
    db = world.store.url

    def run(*args: str, code: int = 0, stdin: str | None = None) -> str:
        result = runner.invoke(cli_app, [*args, "--db", db], input=stdin)
        assert result.exit_code == code, result.output
        return result.output

    out = run("users", "add", "li.wei", "--role", "epidemiologist", "--district", "R05")
    password = out.strip().splitlines()[-1]
    auth.login(world.store, "li.wei", password, addr=None, settings=AuthSettings())
    run("users", "add", "mo", "--role", "viewer", "--password-stdin", stdin=TEST_PASSWORD + "\n")
    assert "username: 'mo' is taken" in run(
        "users", "add", "mo", "--role", "viewer", code=2
    ).replace("\n", "")
    assert "role: unknown role" in run("users", "add", "x1", "--role", "boss", code=2)
    listed = run("users", "list", "--json")
    assert '"li.wei"' in listed and "password_hash" not in listed
    run("users", "set-role", "mo", "--role", "hospital_reporter", "--facility", "F2")
    assert world.store.auth.user_by_name("mo")["facility_id"] == "F2"
    run("users", "disable", "mo")
    with pytest.raises(auth.LoginRefused):
        auth.login(world.store, "mo", TEST_PASSWORD, addr=None, settings=AuthSettings())
    token = run("tokens", "create", "exporter", "--role", "viewer").strip().splitlines()[-1]
    assert auth.token_principal(world.store, token).role == "viewer"
    token_id = next(t["id"] for t in world.store.auth.tokens() if t["name"] == "exporter")
    run("tokens", "revoke", str(token_id))
    assert auth.token_principal(world.store, token) is None
    actions = [e.action for e in world.store.audit.entries(newest_first=False)]
    assert {"user.create", "user.update", "user.disable", "api_token.create"} <= set(actions)
    assert all(TEST_PASSWORD not in e.detail for e in world.store.audit.entries())


# ---------------------------------------------------------------------------------------------
# OWASP basics


def test_security_headers_on_pages_api_and_assets(world: World) -> None:
    client = _client(world, "admin")
    for url in ("/", "/api/health", "/login", "/static/css/app.css", "/nope"):
        headers = client.get(url).headers
        csp = headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert (
            "script-src 'self'" in csp
            and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        )
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in headers  # plain http
    assert client.get("/api/alerts").headers["cache-control"] == "no-store"


INJECTIONS = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "'; DROP TABLE users; --",
    "' OR '1'='1",
    "Robert'); DELETE FROM alerts; --",
]


def test_injection_attempts_in_text_fields_are_stored_and_echoed_safely(world: World) -> None:
    admin = _client(world, "admin")
    inv_id = world.ids["investigation_id"]
    later = (dt.datetime.now() + dt.timedelta(days=2)).replace(microsecond=0).isoformat()
    for text in INJECTIONS:
        made = admin.post(
            "/api/investigations", json={"title": text, "alert_ids": [OUTBREAK_ALERT]}
        )
        assert made.status_code == 201 and made.json()["title"] == text
        task = admin.post(
            f"/api/investigations/{inv_id}/tasks", json={"title": text, "assignee": text}
        )
        assert task.status_code == 201 and task.json()["assignee"] == text
        hyp = admin.post(
            f"/api/investigations/{inv_id}/hypotheses",
            json={"kind": "other", "subject": text, "description": text},
        )
        assert hyp.status_code == 201 and hyp.json()["subject"] == text
        snooze = admin.post(
            f"/api/alerts/{CITY_ALERT}/snooze",
            json={"until": later, "reason": text},
        )
        assert snooze.status_code == 200, snooze.text
        sub = admin.post("/api/notify/subscribers", json={"name": text, "email": "a@example.org"})
        assert sub.status_code in (201, 422)
        assert admin.get("/api/alerts", params={"syndrome": text}).status_code == 422
        assert admin.get(f"/api/alerts/{text}").status_code in (404, 405)
        refused = admin.post(
            "/api/users", json={"username": text, "password": TEST_PASSWORD, "role": "viewer"}
        )
        assert refused.status_code == 422 and "username:" in refused.json()["detail"]
        with TestClient(create_app(world.settings, world.store)) as anon:
            assert _login(anon, text, text).status_code == 401
    moved = admin.post(
        f"/api/alerts/{CLOSED_ALERT}/transition",
        json={"to": "verifying", "verification_note": INJECTIONS[0], "note": INJECTIONS[1]},
    )
    assert moved.status_code in (200, 409)
    admin.post(
        f"/api/alerts/{OUTBREAK_ALERT}/transition",
        json={"to": "verifying", "note": INJECTIONS[0]},
    )
    # nothing was dropped or deleted, and the texts come back verbatim
    assert {a["id"] for a in admin.get("/api/alerts").json()} == {
        OUTBREAK_ALERT,
        CLOSED_ALERT,
        CITY_ALERT,
    }
    assert world.store.auth.user_by_name("someone") is not None
    titles = {i["title"] for i in admin.get("/api/investigations").json()}
    assert set(INJECTIONS) <= titles
    page = admin.get(f"/alerts/{OUTBREAK_ALERT}").text
    assert "<script>alert(" not in page and "&lt;script&gt;alert(" in page
    assert "<img src=x" not in page


def test_auth_can_be_turned_off_only_explicitly(world: World) -> None:
    assert Settings().auth.required is True
    open_settings = world.settings.model_copy(update={"auth": AuthSettings(required=False)})
    with TestClient(create_app(open_settings, world.store)) as client:
        assert client.get("/api/me").json()["role"] == "administrator"
        assert client.get(f"/api/alerts/{OUTBREAK_ALERT}/visits").status_code == 200


def test_the_demo_prints_a_fresh_administrator_password(world: World, capsys) -> None:
    from epiradar.cli import _demo_admin

    _demo_admin(world.store, world.settings)
    first = re.search(r"password (\S+)", capsys.readouterr().err).group(1)
    auth.login(world.store, "admin", first, addr=None, settings=AuthSettings())
    _demo_admin(world.store, world.settings)  # a second run: a new password
    second = re.search(r"password (\S+)", capsys.readouterr().err).group(1)
    assert second != first
    with pytest.raises(auth.LoginRefused):
        auth.login(world.store, "admin", first, addr=None, settings=AuthSettings())
    assert world.store.auth.user_by_name("admin")["role"] == "administrator"


def test_scopes_name_known_facilities_and_districts(world: World) -> None:
    with pytest.raises(auth.AuthError, match="facility_id: unknown facility 'F9'"):
        auth.create_token(world.store, "x", "hospital_reporter", created_by="t", facility_id="F9")
    with pytest.raises(auth.AuthError, match="districts: only an epidemiologist or viewer"):
        auth.set_role(world.store, "someone", "administrator", districts=["R01"])
    admin = _client(world, "admin")
    refused = admin.post(
        "/api/users",
        json={
            "username": "zed",
            "password": TEST_PASSWORD,
            "role": "hospital_reporter",
            "facility_id": "F9",
        },
    )
    assert refused.status_code == 422 and refused.json()["detail"].startswith("facility_id:")
