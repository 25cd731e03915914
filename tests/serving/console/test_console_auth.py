"""Sign-in, sessions, CSRF, the throttle on failed sign-ins, roles, the officers file."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from portsift.serving.console.app import create_console_app
from portsift.serving.console.officers import (
    OfficerConfigError,
    check_password,
    hash_password,
    load_officers,
    parse_officers,
)
from portsift.serving.console.sessions import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    LoginThrottle,
    SessionSigner,
)
from tests.serving.console.conftest import (
    OFFICER_ID,
    OFFICER_PASSWORD,
    SUPERVISOR_ID,
    SUPERVISOR_PASSWORD,
    Console,
    record,
)

PAGES = ["/queue", "/declaration/D1", "/supervisor"]


def _session_cookies(answer: Any) -> list[str]:
    """The Set-Cookie headers of the session cookie (not of the sign-in form's)."""
    return [c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")]


ACTIONS = ["/declaration/D1/outcome", "/logout"]


@pytest.mark.parametrize("path", PAGES)
def test_no_page_without_a_session(console: Console, path: str) -> None:
    answer = console.client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")
    assert path.replace("/", "%2F") in answer.headers["location"]


def test_no_action_without_a_session(console: Console) -> None:
    record(console.store, "D1")
    answer = console.client.post(
        "/declaration/D1/outcome", data={"violation": "no", "disclosure": "no"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code in (303, 403)
    assert console.store.outcomes_of("D1") == []


def test_a_bearer_token_does_not_open_the_console(console: Console) -> None:
    answer = console.client.get(
        "/queue", headers={"Authorization": "Bearer test-token-0123456789abcdef"},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303 and "/login" in answer.headers["location"]


def test_sign_in_sets_a_strict_http_only_secure_expiring_cookie(console: Console) -> None:
    answer = console.sign_in()
    assert answer.status_code == 303
    assert answer.headers["location"] == "/queue"
    [cookie] = [
        c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")
    ]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    lowered = cookie.lower()
    assert "httponly" in lowered
    assert "samesite=strict" in lowered
    assert "secure" in lowered  # the client speaks HTTPS
    minutes = console.backend.settings.console.session_minutes
    assert f"max-age={minutes * 60}" in lowered
    page = console.client.get("/queue")
    assert page.status_code == 200
    assert "王芳" in page.text


def test_the_cookie_is_not_secure_over_plain_http(console: Console) -> None:
    app = create_console_app(lambda: console.backend)
    with TestClient(app, base_url="http://testserver") as client:
        plain = Console(client=client, store=console.store, backend=console.backend)
        answer = plain.sign_in()
    assert answer.status_code == 303
    session = [
        c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}=")
    ]
    assert session and "secure" not in session[0].lower()


def test_a_forged_or_expired_cookie_opens_nothing(console: Console) -> None:
    signer = console.backend.signer
    _, good = signer.issue(OFFICER_ID)
    body, signature = good.split(".")
    forged = f"{body}.{signature[:-2]}AA"
    console.client.cookies.set(SESSION_COOKIE, forged)
    assert console.client.get("/queue", follow_redirects=False).status_code == 303
    _, old = signer.issue(OFFICER_ID, now=time.time() - signer.lifetime_s - 1)
    console.client.cookies.set(SESSION_COOKIE, old)
    assert console.client.get("/queue", follow_redirects=False).status_code == 303
    other = SessionSigner("another-secret-of-at-least-32-characters!", 600)
    console.client.cookies.set(SESSION_COOKIE, other.issue(OFFICER_ID)[1])
    assert console.client.get("/queue", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(console: Console) -> None:
    console.sign_in()
    cookie = console.client.cookies.get(SESSION_COOKIE)
    token = console.csrf()
    answer = console.client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303
    # Even a copy of the cookie kept by someone no longer opens the queue.
    console.client.cookies.set(SESSION_COOKIE, cookie)
    assert console.client.get("/queue", follow_redirects=False).status_code == 303


def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    record(console.store, "D1")
    console.sign_in()
    form = {"violation": "no", "disclosure": "no"}
    missing = console.client.post("/declaration/D1/outcome", data=form)
    assert missing.status_code == 403
    wrong = console.client.post("/declaration/D1/outcome", data={**form, "csrf": "0" * 64})
    assert wrong.status_code == 403
    assert "CSRF" in wrong.text
    assert console.store.outcomes_of("D1") == []
    right = console.client.post(
        "/declaration/D1/outcome", data={**form, "csrf": console.csrf()}, follow_redirects=False
    )
    assert right.status_code == 303
    assert len(console.store.outcomes_of("D1")) == 1


def test_another_sessions_csrf_token_is_refused(console: Console) -> None:
    record(console.store, "D1")
    console.sign_in()
    first = console.csrf()
    console.client.cookies.clear()
    console.sign_in()
    answer = console.client.post(
        "/declaration/D1/outcome", data={"violation": "no", "disclosure": "no", "csrf": first}
    )
    assert answer.status_code == 403


def test_a_wrong_password_is_slowed_and_logged(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    delay = console.backend.settings.console.failed_login_delay_s
    with caplog.at_level(logging.WARNING, logger="portsift.console"):
        started = time.monotonic()
        answer = console.sign_in(password="not the password")
        took = time.monotonic() - started
    assert answer.status_code == 401
    assert not _session_cookies(answer)
    assert took >= delay
    assert any("failed sign-in" in r.getMessage() and OFFICER_ID in r.getMessage()
               for r in caplog.records)  # fmt: skip
    unknown = console.sign_in(officer_id="nobody", password="whatever it is")
    assert unknown.status_code == 401
    assert "关员编号或密码错误" in unknown.text  # the same answer as a wrong password


def test_sign_ins_are_throttled_after_repeated_failures(console: Console) -> None:
    limit = console.backend.settings.console.max_failed_logins
    for _ in range(limit):
        assert console.sign_in(password="wrong password!").status_code == 401
    # Now even the right password is refused until the window has passed.
    answer = console.sign_in()
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) > 0
    assert console.client.get("/queue", follow_redirects=False).status_code == 303


def test_the_throttle_forgets_failures_after_the_window() -> None:
    throttle = LoginThrottle(max_failures=2, window_s=60)
    keys = ("officer:a", "client:1")
    throttle.failed(keys, now=0)
    throttle.failed(keys, now=1)
    assert throttle.retry_after(keys, now=2) == pytest.approx(58)
    assert throttle.retry_after(["officer:b"], now=2) == 0
    assert throttle.retry_after(keys, now=61.5) == 0


def test_only_a_supervisor_opens_the_supervisor_view(console: Console) -> None:
    console.sign_in()
    assert console.client.get("/supervisor").status_code == 403
    assert 'id="nav-supervisor"' not in console.client.get("/queue").text
    console.client.cookies.clear()
    assert console.sign_in(SUPERVISOR_ID, SUPERVISOR_PASSWORD).status_code == 303
    assert console.client.get("/supervisor").status_code == 200


def test_the_next_page_is_kept_but_only_inside_the_console(console: Console) -> None:
    answer = console.sign_in(next="/supervisor")
    assert answer.headers["location"] == "/supervisor"
    console.client.cookies.clear()
    answer = console.sign_in(next="//evil.example/phish")
    assert answer.headers["location"] == "/queue"


def test_a_sign_in_form_without_its_csrf_token_is_refused(console: Console) -> None:
    # Login CSRF: a page elsewhere posting the attacker's credentials, so that the victim
    # works (and records outcomes) in the attacker's session. Its POST carries neither the
    # form's token nor the SameSite=Strict cookie the token is tied to.
    form = {"officer_id": OFFICER_ID, "password": OFFICER_PASSWORD}
    answer = console.client.post("/login", data=form, follow_redirects=False)
    assert answer.status_code == 403
    assert not _session_cookies(answer)
    token = console.login_token()
    console.client.cookies.delete(LOGIN_COOKIE)  # the token without its cookie
    answer = console.client.post("/login", data={**form, "csrf": token}, follow_redirects=False)
    assert answer.status_code == 403
    assert console.client.get("/queue", follow_redirects=False).status_code == 303
    login_cookie = console.client.get("/login").headers["set-cookie"].lower()
    assert "httponly" in login_cookie and "samesite=strict" in login_cookie


def test_passwords_are_argon2_hashes() -> None:
    hashed = hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    [officer] = parse_officers(
        f'[[officer]]\nid = "a"\nname = "A"\nrole = "officer"\npassword_hash = "{hashed}"\n',
        "officers.toml",
    ).values()
    assert check_password(officer, "a long enough password")
    assert not check_password(officer, "a long enough passworD")
    with pytest.raises(ValueError, match="at least 12"):
        hash_password("short")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("officer = [", "not valid TOML"),
        ("", "no \\[\\[officer\\]\\] entries"),
        ('[[officer]]\nid = "a"\nname = "A"\nrole = "officer"\n',
         "officer 1: field 'password_hash' must be a non-empty string"),
        ('[[officer]]\nid = "a"\nname = "A"\nrole = "chief"\npassword_hash = "$argon2id$x"\n',
         "officer 1: field 'role' must be one of"),
        ('[[officer]]\nid = "a b"\nname = "A"\nrole = "officer"\npassword_hash = "$argon2id$x"\n',
         "officer 1: field 'id'"),
        ('[[officer]]\nid = "a"\nname = "A"\nrole = "officer"\npassword_hash = "plain"\n',
         "officer 1: field 'password_hash' is not an argon2 hash"),
        ('[[officer]]\nid = "a"\nname = "A"\nrole = "officer"\npassword_hash = "$argon2id$x"\n'
         '[[officer]]\nid = "a"\nname = "B"\nrole = "officer"\npassword_hash = "$argon2id$x"\n',
         "officer 2: field 'id' 'a' is given twice"),
        ('[[officer]]\nid = "a"\nname = "A"\nrole = "officer"\npassword_hash = "$argon2id$x"\n'
         'pasword = "x"\n', "officer 1: unknown field"),
    ],
)  # fmt: skip
def test_a_bad_officers_file_is_refused_naming_file_officer_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "officers.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(OfficerConfigError, match=message) as caught:
        load_officers(path)
    assert str(path) in str(caught.value)


def test_a_missing_officers_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(OfficerConfigError, match="cannot read the officers file"):
        load_officers(tmp_path / "absent.toml")


def test_the_api_token_check_skips_the_console_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from portsift.serving.service import GuardMiddleware

    monkeypatch.setenv("PORTSIFT_API_TOKENS", "tests score 0123456789abcdef-token")
    monkeypatch.delenv("PORTSIFT_API_TOKEN_FILE", raising=False)
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    client = TestClient(GuardMiddleware(app))
    for path in ("/console", "/console/queue", "/console/declaration/D1"):
        assert client.get(path).status_code == 200, path
    for path in ("/consoles", "/console-x", "/score", "/feedback", "/metrics"):
        assert client.get(path).status_code == 401, path
    assert reached == ["/console", "/console/queue", "/console/declaration/D1"]
    # The console's bodies are capped like the API's.
    cap = GuardMiddleware(app).max_body_bytes
    big = client.post("/console/login", content=b"x" * (cap + 1))
    assert big.status_code == 413
    assert reached[-1] == "/console/declaration/D1"
