"""Administration pages: accounts, API tokens, facilities with their tokens and feed status,
and the settings view. Administrators only; forms post with the session's CSRF token; every
write is in the audit log; secrets are shown once (new passwords and tokens) or masked."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright import sync_api

from epiradar.config import Settings
from epiradar.service import admin as admin_service
from epiradar.service import auth
from epiradar.store import Store
from epiradar.web.app import create_app
from web_support import (
    TEST_PASSWORD,
    add_user,
    build_dataset,
    fill_store,
    live_server,
    session_cookie,
)

PAGES = ["/admin/users", "/admin/tokens", "/admin/facilities", "/admin/settings"]
PSEUDONYM_KEY = "pk-very-secret-0f3a9c"
DB_PASSWORD = "db-pass-7e1d55"


@pytest.fixture
def app(store: Store):
    fill_store(store)
    settings = Settings(
        db=f"postgresql+psycopg://epiradar:{DB_PASSWORD}@db.internal:5432/epiradar",
        pseudonym_key=PSEUDONYM_KEY,
    )
    add_user(store, "root", "administrator")
    return create_app(settings, store)


@pytest.fixture
def admin(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        _login(client, "root")
        yield client


def _login(client: TestClient, username: str, password: str = TEST_PASSWORD) -> None:
    reply = client.post(
        "/login", data={"username": username, "password": password}, follow_redirects=False
    )
    assert reply.status_code == 303, reply.text


def _csrf(client: TestClient, page: str = "/admin/users") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert found is not None
    return found.group(1)


def _post(client: TestClient, url: str, data: dict, page: str = "/admin/users"):
    return client.post(
        url, data={**data, "csrf_token": _csrf(client, page)}, follow_redirects=False
    )


def _shown(html: str, element: str) -> str:
    found = re.search(rf'id="{element}">([^<]+)<', html)
    assert found is not None, html[:2000]
    return found.group(1)


# ---------------------------------------------------------------------------------------------
# who may see them


def test_each_page_renders_for_an_administrator(admin: TestClient) -> None:
    for page in PAGES:
        reply = admin.get(page)
        assert reply.status_code == 200, page
        assert 'id="admin-nav"' in reply.text
    assert 'href="/admin/users"' in admin.get("/").text  # the header's link


@pytest.mark.parametrize(
    ("role", "scope"),
    [
        ("epidemiologist", {}),
        ("epidemiologist", {"districts": ["R05"]}),
        ("viewer", {}),
        ("hospital_reporter", {"facility_id": "F1"}),
        ("public", {}),
    ],
)
def test_other_roles_are_refused(app, store: Store, role: str, scope: dict) -> None:
    add_user(store, "someone", role, **scope)
    with TestClient(app) as client:
        _login(client, "someone")
        for page in PAGES:
            assert client.get(page, follow_redirects=False).status_code == 403, page
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
        csrf = token.group(1) if token else ""
        reply = client.post(
            "/admin/users",
            data={"username": "intruder", "role": "administrator", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert reply.status_code == 403
        assert 'href="/admin/users"' not in client.get("/login").text
    assert store.auth.user_by_name("intruder") is None


def test_anonymous_callers_are_sent_to_the_login_page(app) -> None:
    with TestClient(app) as client:
        for page in PAGES:
            reply = client.get(page, follow_redirects=False)
            assert reply.status_code == 303 and reply.headers["location"].startswith("/login")


# ---------------------------------------------------------------------------------------------
# accounts


def test_forms_need_the_csrf_token(admin: TestClient, store: Store) -> None:
    data = {"username": "li.wei", "role": "viewer", "password": TEST_PASSWORD}
    assert admin.post("/admin/users", data=data, follow_redirects=False).status_code == 403
    assert store.auth.user_by_name("li.wei") is None
    assert _post(admin, "/admin/users", data).status_code == 200
    assert store.auth.user_by_name("li.wei")["role"] == "viewer"


def test_create_a_user_with_a_random_password_shown_once(app, admin: TestClient, store) -> None:
    reply = _post(
        admin,
        "/admin/users",
        {"username": "li.wei", "role": "epidemiologist", "districts": "R05, R06"},
    )
    assert reply.status_code == 200
    password = _shown(reply.text, "shown-password")
    user = store.auth.user_by_name("li.wei")
    assert user["districts"] == ["R05", "R06"] and user["role"] == "epidemiologist"
    assert password not in admin.get("/admin/users").text  # once
    with TestClient(app) as other:
        _login(other, "li.wei", password)
        assert other.get("/queue").status_code == 200


def test_create_refusals_name_the_field(admin: TestClient, store: Store) -> None:
    cases = [
        ({"username": "x y", "role": "viewer"}, "username"),
        ({"username": "rep", "role": "hospital_reporter"}, "facility_id"),
        ({"username": "epi", "role": "epidemiologist", "districts": "R99"}, "districts"),
        ({"username": "short", "role": "viewer", "password": "abc"}, "password"),
        ({"username": "norole"}, "role"),
    ]
    for data, field in cases:
        reply = _post(admin, "/admin/users", data)
        assert reply.status_code == 303
        shown = admin.get(reply.headers["location"]).text
        assert re.search(rf'id="form-error">.*{field}:', shown, re.S), (data, field)
    assert [u["username"] for u in store.auth.users()] == ["root"]


def test_change_role_disable_enable_and_reset_password(
    app, admin: TestClient, store: Store
) -> None:
    add_user(store, "dr.chen", "viewer")
    with TestClient(app) as chen:
        _login(chen, "dr.chen")
        assert chen.get("/").status_code == 200
        reply = _post(
            admin,
            "/admin/users/dr.chen/role",
            {"role": "hospital_reporter", "facility_id": "F2"},
        )
        assert reply.status_code == 303 and "error" not in reply.headers["location"]
        user = store.auth.user_by_name("dr.chen")
        assert (user["role"], user["facility_id"]) == ("hospital_reporter", "F2")
        assert chen.get("/", follow_redirects=False).status_code == 303  # its session ended

        assert _post(admin, "/admin/users/dr.chen/active", {"active": "false"}).status_code == 303
        assert store.auth.user_by_name("dr.chen")["active"] is False
        with pytest.raises(auth.LoginRefused):
            auth.login(store, "dr.chen", TEST_PASSWORD, addr=None, settings=app.state.settings.auth)
        assert "disabled" in admin.get("/admin/users").text
        assert _post(admin, "/admin/users/dr.chen/active", {"active": "true"}).status_code == 303
        assert store.auth.user_by_name("dr.chen")["active"] is True

        reply = _post(admin, "/admin/users/dr.chen/password", {"reset": "yes"})
        assert reply.status_code == 200
        password = _shown(reply.text, "shown-password")
        assert password != TEST_PASSWORD
        with pytest.raises(auth.LoginRefused):
            auth.login(store, "dr.chen", TEST_PASSWORD, addr=None, settings=app.state.settings.auth)
        _login(chen, "dr.chen", password)
        assert chen.get("/feeds").status_code == 200


def test_an_administrator_cannot_lock_out_their_own_account(admin: TestClient, store) -> None:
    for url, data in [
        ("/admin/users/root/active", {"active": "false"}),
        ("/admin/users/root/role", {"role": "viewer"}),
    ]:
        reply = _post(admin, url, data)
        assert reply.status_code == 303 and "error" in reply.headers["location"]
    user = store.auth.user_by_name("root")
    assert user["active"] and user["role"] == "administrator"
    assert _post(admin, "/admin/users/nobody/active", {"active": "false"}).status_code == 303


def test_forms_without_their_fields_change_nothing(admin: TestClient, store: Store) -> None:
    add_user(store, "dr.chen", "viewer")
    before = store.auth.user_by_name("dr.chen")
    for url in [
        "/admin/users/dr.chen/active",
        "/admin/users/dr.chen/password",
        "/admin/users/dr.chen/role",
        "/admin/facilities/F1/tokens",
    ]:
        reply = _post(admin, url, {})
        assert reply.status_code == 303 and "error=" in reply.headers["location"], url
    assert store.auth.user_by_name("dr.chen") == before
    assert store.tokens("F1") == []


# ---------------------------------------------------------------------------------------------
# tokens


def test_api_token_create_shown_once_and_revoke(app, admin: TestClient, store: Store) -> None:
    reply = _post(
        admin,
        "/admin/tokens",
        {"name": "bulletin-bot", "role": "viewer", "districts": "R05"},
        page="/admin/tokens",
    )
    assert reply.status_code == 200
    token = _shown(reply.text, "shown-token")
    assert token.startswith("ert_")
    page = admin.get("/admin/tokens").text
    assert "bulletin-bot" in page and token not in page
    with TestClient(app) as machine:
        bearer = {"Authorization": f"Bearer {token}"}
        me = machine.get("/api/me", headers=bearer).json()
        assert (me["role"], me["districts"]) == ("viewer", ["R05"])
        (row,) = [t for t in store.auth.tokens() if t["name"] == "bulletin-bot"]
        assert row["created_by"] == "root"
        reply = _post(admin, f"/admin/tokens/{row['id']}/revoke", {}, page="/admin/tokens")
        assert reply.status_code == 303
        assert machine.get("/api/me", headers=bearer).status_code == 401
    reply = _post(admin, f"/admin/tokens/{row['id']}/revoke", {}, page="/admin/tokens")
    assert "error=" in reply.headers["location"]  # already revoked


def test_facility_tokens_and_feed_status(admin: TestClient, store: Store) -> None:
    page = admin.get("/admin/facilities").text
    for facility in ("F1", "F2", "F3"):
        assert f'id="facility-{facility}"' in page
    reply = _post(admin, "/admin/facilities/F2/tokens", {"label": "lab"}, "/admin/facilities")
    assert reply.status_code == 200
    token = _shown(reply.text, "shown-token")
    assert store.token_facility(token) == "F2"
    (row,) = store.tokens("F2")
    assert token not in admin.get("/admin/facilities").text
    # a token is revoked only under its own facility
    wrong = _post(admin, f"/admin/facilities/F1/tokens/{row['id']}/revoke", {}, "/admin/facilities")
    assert "error=" in wrong.headers["location"] and store.token_facility(token) == "F2"
    done = _post(admin, f"/admin/facilities/F2/tokens/{row['id']}/revoke", {}, "/admin/facilities")
    assert done.status_code == 303 and "error" not in done.headers["location"]
    assert store.token_facility(token) is None
    unknown = _post(admin, "/admin/facilities/F9/tokens", {"label": "x"}, "/admin/facilities")
    assert "facility_id" in admin.get(unknown.headers["location"]).text


# ---------------------------------------------------------------------------------------------
# settings, audit, language


def test_settings_view_masks_secrets(admin: TestClient) -> None:
    page = admin.get("/admin/settings").text
    assert PSEUDONYM_KEY not in page and DB_PASSWORD not in page
    assert 'data-setting="pseudonym_key"' in page
    assert 'data-setting="auth.session_hours"' in page
    assert "db.internal" in page and admin_service.MASK in page
    assert 'data-setting="notify.smtp.password_env"' in page  # a variable name, shown


def test_masking_rules() -> None:
    assert admin_service.is_secret("pseudonym_key") and admin_service.is_secret("webhook_secret")
    assert admin_service.is_secret("password") and not admin_service.is_secret("password_env")
    assert not admin_service.is_secret("pseudonym_key_file")
    assert admin_service.mask_url("https://u:p@h/x") == "https://u:********@h/x"
    assert admin_service.mask_url("https://h/x") == "https://h/x"
    rows = {r.name: r for r in admin_service.effective_settings(Settings(pseudonym_key="s"))}
    assert rows["pseudonym_key"].value == admin_service.MASK and rows["pseudonym_key"].masked
    assert admin_service.parse_districts(" R06,R05 R05 ") == ["R05", "R06"]
    assert admin_service.parse_districts("") is None


def test_every_admin_write_is_audited(admin: TestClient, store: Store) -> None:
    _post(admin, "/admin/users", {"username": "li.wei", "role": "viewer"})
    _post(admin, "/admin/users/li.wei/active", {"active": "false"})
    _post(admin, "/admin/users/li.wei/password", {"reset": "yes"})
    _post(admin, "/admin/tokens", {"name": "bot", "role": "viewer"}, "/admin/tokens")
    entries = [e for e in store.audit.entries(newest_first=False) if e.actor == "root"]
    actions = [(e.action, e.object_id) for e in entries]
    assert ("user.create", None) in actions
    assert ("user.update", "li.wei") in actions
    assert ("user.password_reset", "li.wei") in actions
    assert ("api_token.create", None) in actions
    assert all(
        set(e.detail_data) <= {"method", "path", "status", "query", "channel"} for e in entries
    )
    assert store.audit.verify().ok


def test_pages_render_in_chinese(admin: TestClient) -> None:
    admin.cookies.set("epiradar_lang", "zh_Hans")
    expected = {
        "/admin/users": "用户",
        "/admin/tokens": "API 令牌",
        "/admin/facilities": "医疗机构",
        "/admin/settings": "设置",
    }
    for page, word in expected.items():
        reply = admin.get(page)
        assert reply.status_code == 200 and word in reply.text, page
        assert 'lang="zh-Hans"' in reply.text
    assert "流行病学专业人员" in admin.get("/admin/users").text  # role names translated


# ---------------------------------------------------------------------------------------------
# in a real browser


@pytest.mark.browser
def test_admin_forms_in_a_browser(tmp_path) -> None:
    """Chromium under the page's CSP: add an account through the form, see its password once,
    disable it; the Admin link is in the header."""
    data = build_dataset(tmp_path)
    chromium = os.environ.get("EPIRADAR_CHROMIUM", "/usr/bin/chromium")
    with (
        live_server(create_app(data.settings, data.store)) as url,
        sync_api.sync_playwright() as p,
    ):
        cookie = session_cookie(data.store, url)
        browser = p.chromium.launch(
            executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(base_url=url)
        context.add_cookies([cookie])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto("/")
        page.click("nav.nav a[href='/admin/users']")
        page.wait_for_url(f"{url}/admin/users")
        page.fill("#new-user input[name=username]", "li.wei")
        page.select_option("#new-user select[name=role]", "epidemiologist")
        page.fill("#new-user input[name=districts]", "R05 R06")
        page.click("#new-user button[type=submit]")
        password = page.locator("#shown-password").inner_text()
        assert len(password) >= 10
        row = page.locator("tr[data-user='li.wei']")
        assert "R05, R06" in row.inner_text()
        row.locator("button", has_text="Disable").click()
        page.wait_for_url(re.compile(r".*/admin/users\?done=li\.wei"))
        assert "disabled" in page.locator("tr[data-user='li.wei']").inner_text()
        assert page.locator("#shown-password").count() == 0
        browser.close()
    assert errors == []
    assert data.store.auth.user_by_name("li.wei")["active"] is False
    data.store.close()
