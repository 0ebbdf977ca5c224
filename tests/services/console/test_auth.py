"""Signing in to the console: cookie sessions over API tokens, CSRF, revocation, expiry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from services.audit.orm import AuditEvent
from services.auth.orm import ApiToken
from services.auth.service import revoke_token
from services.console.orm import ConsoleSession
from services.console.service import SESSION_COOKIE, SESSION_IDLE
from services.kit.time import utc_now
from tests.fixtures.alerts import create_alert


def _audit_count(console) -> int:
    with console.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


class TestSignIn:
    def test_a_valid_token_opens_a_session_in_a_strict_httponly_cookie(self, console) -> None:
        browser = console.browser("investigator", signed_in=False)
        answer = browser.sign_in(next_url="/console/alerts?status=NEW")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/console/alerts?status=NEW"
        cookie = next(
            value
            for name, value in answer.headers.multi_items()
            if name == "set-cookie" and value.startswith(SESSION_COOKIE + "=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
        assert "Path=/console" in cookie
        assert console.tokens["investigator"] not in cookie, "the token never reaches the browser"
        page = browser.get("/console/alerts")
        assert page.status_code == 200
        assert "Alert queue" in page.text

    def test_an_unknown_token_is_refused_and_opens_nothing(self, console) -> None:
        browser = console.browser()
        answer = browser.sign_in(token="aml_not-a-token")
        assert answer.status_code == 401
        assert "unknown or has been revoked" in answer.text
        with console.sessions() as session:
            assert session.scalar(select(func.count()).select_from(ConsoleSession)) == 0

    def test_the_sign_in_form_needs_its_own_csrf_token(self, console) -> None:
        browser = console.browser()
        browser.client.get("/console/login")
        answer = browser.client.post(
            "/console/login",
            data={"token": console.tokens["investigator"], "login_csrf": "forged"},
        )
        assert answer.status_code == 403
        assert SESSION_COOKIE not in answer.cookies

    def test_no_open_redirect_after_sign_in(self, console) -> None:
        browser = console.browser("investigator", signed_in=False)
        answer = browser.sign_in(next_url="//evil.example/console/")
        assert answer.headers["location"] == "/console/"

    def test_pages_send_an_anonymous_visitor_to_sign_in(self, console) -> None:
        answer = console.browser().client.get("/console/alerts?status=NEW")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/console/login?next=")


class TestSession:
    def test_sign_out_ends_the_session_on_the_server(self, console) -> None:
        browser = console.browser("investigator")
        stolen = browser.client.cookies.get(SESSION_COOKIE)
        answer = browser.post("/console/logout")
        assert answer.status_code == 303
        replay = console.browser()
        replay.client.cookies.set(SESSION_COOKIE, stolen, path="/console")
        assert replay.client.get("/console/alerts").status_code == 303

    def test_revoking_the_token_ends_its_sessions_at_once(self, console) -> None:
        browser = console.browser("investigator")
        assert browser.get("/console/alerts").status_code == 200
        with console.sessions() as session:
            token_id = session.scalar(select(ApiToken.id).where(ApiToken.label == "investigator"))
            revoke_token(session, token_id)
            session.commit()
        assert browser.get("/console/alerts").status_code == 303

    def test_an_idle_session_expires(self, console) -> None:
        browser = console.browser("investigator")
        with console.sessions() as session:
            session.execute(
                update(ConsoleSession).values(
                    last_seen_at=utc_now() - SESSION_IDLE - timedelta(seconds=1)
                )
            )
            session.commit()
        assert browser.get("/console/alerts").status_code == 303

    def test_a_tampered_cookie_is_refused(self, console) -> None:
        browser = console.browser("investigator")
        cookie = browser.client.cookies.get(SESSION_COOKIE)
        sid, _, signature = cookie.partition(".")
        forged = console.browser()
        forged.client.cookies.set(SESSION_COOKIE, f"{sid}x.{signature}", path="/console")
        assert forged.client.get("/console/alerts").status_code == 303
        forged.client.cookies.set(SESSION_COOKIE, f"{sid}.{signature[:-2]}AA", path="/console")
        assert forged.client.get("/console/alerts").status_code == 303


class TestCsrf:
    def test_a_post_without_the_token_is_refused_and_writes_nothing(self, console) -> None:
        with console.sessions() as session:
            alert = create_alert(session)
            session.commit()
            alert_id, version = alert.id, alert.version
        browser = console.browser("investigator")
        before = _audit_count(console)
        answer = browser.post(f"/console/alerts/{alert_id}/notes", {"text": "no token"}, csrf=False)
        assert answer.status_code == 403
        answer = browser.post(
            f"/console/alerts/{alert_id}/assign",
            {"assignee": "ana", "version": version, "csrf_token": "forged"},
        )
        assert answer.status_code == 403
        assert _audit_count(console) == before

    def test_another_sessions_token_is_refused(self, console) -> None:
        with console.sessions() as session:
            alert_id = create_alert(session).id
            session.commit()
        mine = console.browser("investigator")
        other = console.browser("investigator2")
        answer = mine.post(
            f"/console/alerts/{alert_id}/notes",
            {"text": "cross-session", "csrf_token": other.csrf_token},
        )
        assert answer.status_code == 403
        answer = mine.post(f"/console/alerts/{alert_id}/notes", {"text": "mine"})
        assert answer.status_code == 303
        assert _audit_count(console) == 1

    def test_the_header_form_of_the_token_is_accepted(self, console) -> None:
        with console.sessions() as session:
            alert_id = create_alert(session).id
            session.commit()
        browser = console.browser("investigator")
        answer = browser.client.post(
            f"/console/alerts/{alert_id}/notes",
            data={"text": "via htmx"},
            headers={"X-CSRF-Token": browser.csrf_token},
        )
        assert answer.status_code == 303
