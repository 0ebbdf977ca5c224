"""Console pages over the real app: what each role sees, and that the server refuses the rest."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import xmlschema
from sqlalchemy import update

from services.alerts.flows import route_alerts
from services.alerts.orm import Alert
from services.alerts.policy import AlertPolicy
from services.assets import flows
from services.assets import service as asset_service
from services.assets.enums import AssetStatus
from services.assets.schemas import AssetCreate, TransitionRequest
from services.cases.orm import Case
from services.filings.profile import FilingProfile
from services.kit.time import utc_now
from services.ledger import service as ledger_service
from services.ledger.enums import EntryStatus
from tests.fixtures.alerts import alert_for, create_alerts, store_reports, unique_index
from tests.fixtures.reports import make_report
from tests.services.filings.conftest import PROFILE, XSD

ROW = re.compile(r'<a href="/console/alerts/(\d+)">#\d+</a>')


def _alerts(console, count: int = 1, **overrides: Any) -> list[tuple[int, int]]:
    """Stores ``count`` reports with an alert each; returns (id, version) pairs."""
    with console.sessions() as session:
        alerts = create_alerts(
            session, [make_report(unique_index()) for _ in range(count)], **overrides
        )
        session.commit()
        return [(alert.id, alert.version) for alert in alerts]


def _alert(console, alert_id: int) -> Alert:
    with console.sessions() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        session.expunge(alert)
        return alert


def _set(console, alert_id: int, **values: Any) -> None:
    with console.sessions() as session:
        session.execute(update(Alert).where(Alert.id == alert_id).values(**values))
        session.commit()


def _queue_ids(text: str) -> list[int]:
    return [int(found) for found in ROW.findall(text)]


class TestQueue:
    def test_score_band_and_unassigned_filters(self, console) -> None:
        (high,) = _alerts(console, score=0.95)
        (low,) = _alerts(console, score=0.6)
        browser = console.browser("investigator")
        page = browser.get("/console/alerts", band="high")
        assert _queue_ids(page.text) == [high[0]]
        page = browser.get("/console/alerts", band="moderate")
        assert _queue_ids(page.text) == [low[0]]
        _set(console, low[0], assignee="ana")
        page = browser.get("/console/alerts", assignee="(unassigned)")
        assert _queue_ids(page.text) == [high[0]]
        page = browser.get("/console/alerts", assignee="ana")
        assert _queue_ids(page.text) == [low[0]]
        assert '<option value="ana"' in page.text, "assignees seen are offered as filter values"

    def test_deadline_badges_and_the_overdue_filter(self, console) -> None:
        (late, soon, far, closed) = _alerts(console, 4)
        now = utc_now()
        _set(console, late[0], deadline_at=now - timedelta(days=1))
        _set(console, soon[0], deadline_at=now + timedelta(days=2))
        _set(console, far[0], deadline_at=now + timedelta(days=40))
        _set(console, closed[0], deadline_at=now - timedelta(days=1), status="CLOSED")
        browser = console.browser("investigator")
        page = browser.get("/console/alerts").text
        rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"#(\d+)</a>.*?</tr>", page, re.S)}
        assert "Overdue" in rows[late[0]]
        assert "Due soon" in rows[soon[0]]
        assert "Overdue" not in rows[far[0]]
        assert "Due soon" not in rows[far[0]]
        assert "Overdue" not in rows[closed[0]], "a closed alert's clock is not running"
        overdue = _queue_ids(browser.get("/console/alerts", deadline="overdue").text)
        assert overdue == [late[0]]

    def test_keyset_pages_cover_the_queue_once(self, console) -> None:
        created = {alert_id for alert_id, _ in _alerts(console, 60)}
        browser = console.browser("investigator")
        first = browser.get("/console/alerts", sort="-score")
        ids = _queue_ids(first.text)
        assert len(ids) == 50
        link = re.search(r'href="(/console/alerts\?[^"]*cursor=[^"]+)" rel="next"', first.text)
        assert link, "a next page is offered"
        second = browser.get(link.group(1).replace("&amp;", "&"))
        more = _queue_ids(second.text)
        assert len(more) == 10
        assert set(ids) | set(more) == created
        assert not set(ids) & set(more)
        assert 'rel="next"' not in second.text

    def test_bulk_assign_assigns_and_lists_what_changed_meanwhile(self, console) -> None:
        (first, stale) = _alerts(console, 2)
        browser = console.browser("investigator")
        browser.get("/console/alerts")
        _set(console, stale[0], version=stale[1] + 1)
        answer = browser.post(
            "/console/alerts/assign",
            {
                "alert": [f"{first[0]}:{first[1]}", f"{stale[0]}:{stale[1]}"],
                "assignee": "ana",
                "back": "/console/alerts",
            },
        )
        assert answer.status_code == 409
        assert f"#{stale[0]}" in answer.text
        assert _alert(console, first[0]).assignee == "ana"
        assert _alert(console, stale[0]).assignee is None

    def test_an_auditor_reads_the_queue_without_bulk_actions(self, console) -> None:
        _alerts(console)
        page = console.browser("auditor").get("/console/alerts")
        assert page.status_code == 200
        assert "Assign selected" not in page.text
        assert 'name="alert"' not in page.text


class TestAlertPage:
    def test_from_new_to_closed_with_a_disposition(self, console) -> None:
        ((alert_id, _),) = _alerts(console)
        browser = console.browser("investigator")
        page = browser.get(f"/console/alerts/{alert_id}")
        assert "Start triage" in page.text
        assert "Close" in page.text
        assert "Typology (your finding)" in page.text, "the Close form asks the typology"
        assert "4 cash deposits of $9,000-9,900 in 2 days" in page.text, "the reasons"
        assert "Against its own usual week and its peers" in page.text
        for target in ("TRIAGE", "INVESTIGATING"):
            version = _alert(console, alert_id).version
            answer = browser.post(
                f"/console/alerts/{alert_id}/transition", {"to": target, "version": version}
            )
            assert answer.status_code == 303, answer.text
        version = _alert(console, alert_id).version
        incomplete = browser.post(
            f"/console/alerts/{alert_id}/transition",
            {"to": "CLOSED", "version": version, "disposition": "FALSE_POSITIVE"},
        )
        assert incomplete.status_code == 422
        assert "<code>rationale</code>" in incomplete.text, "what is missing, as a checklist"
        answer = browser.post(
            f"/console/alerts/{alert_id}/transition",
            {
                "to": "CLOSED",
                "version": version,
                "disposition": "FALSE_POSITIVE",
                "rationale": "payroll of a known employer",
                "evidence": "KYC file 12\nemployer letter",
                "typology": "fan_in",
            },
        )
        assert answer.status_code == 303
        alert = _alert(console, alert_id)
        assert (alert.status, alert.disposition) == ("CLOSED", "FALSE_POSITIVE")
        assert alert.investigator_typology == "fan_in", "the investigator's typology is kept"
        assert alert.evidence == ["KYC file 12", "employer letter"]
        page = browser.get(f"/console/alerts/{alert_id}").text
        assert "alert.transition" in page, "the history shows the moves"

    def test_the_page_lists_every_report_of_the_episode(self, console) -> None:
        subject = {"subject_id": f"EPC-{unique_index()}", "type": "person", "name": "Episode"}
        with console.sessions() as session:
            reports = store_reports(
                session, [make_report(unique_index(), subject=subject) for _ in range(3)]
            )
            routed = route_alerts(
                session,
                [alert_for(report) for report in reports],
                AlertPolicy(),
                model_threshold=0.5,
            )
            session.commit()
            (alert,) = routed.published
            alert_id = alert.id
        page = console.browser("investigator").get(f"/console/alerts/{alert_id}").text
        assert "3 reports" in page
        for report in reports:
            assert report.report_id in page

    def test_the_filing_decision_is_a_supervisors(self, console) -> None:
        ((alert_id, _),) = _alerts(console)
        _set(console, alert_id, status="PENDING_FILING_DECISION")
        investigator = console.browser("investigator")
        page = investigator.get(f"/console/alerts/{alert_id}")
        assert 'value="FILED"' not in page.text, "the page does not offer what the role may not do"
        version = _alert(console, alert_id).version
        forged = investigator.post(
            f"/console/alerts/{alert_id}/transition",
            {"to": "FILED", "version": version, "filing_reference": "BSA-1"},
        )
        assert forged.status_code == 403, "and the server refuses it anyway"
        assert _alert(console, alert_id).status == "PENDING_FILING_DECISION"
        supervisor = console.browser("supervisor")
        assert 'value="FILED"' in supervisor.get(f"/console/alerts/{alert_id}").text
        answer = supervisor.post(
            f"/console/alerts/{alert_id}/transition",
            {"to": "FILED", "version": version, "filing_reference": "BSA-31000123456789"},
        )
        assert answer.status_code == 303
        assert _alert(console, alert_id).filing_reference == "BSA-31000123456789"

    def test_a_high_score_false_positive_waits_for_a_second_person(self, console) -> None:
        ((alert_id, version),) = _alerts(console, score=0.99)
        close = {
            "to": "CLOSED",
            "version": version,
            "disposition": "FALSE_POSITIVE",
            "rationale": "payroll of a known employer",
        }
        first = console.browser("investigator")
        proposed = first.post(f"/console/alerts/{alert_id}/transition", close)
        assert proposed.status_code == 303
        assert proposed.headers["location"].endswith("notice=second-approval")
        page = first.get(proposed.headers["location"]).text
        assert "another investigator or supervisor confirms" in page, "the page says why"
        assert _alert(console, alert_id).status == "NEW"
        assert first.post(f"/console/alerts/{alert_id}/transition", close).status_code == 303
        assert _alert(console, alert_id).status == "NEW", "the proposer alone never closes it"
        second = console.browser("investigator2")
        confirmed = second.post(f"/console/alerts/{alert_id}/transition", close)
        assert confirmed.headers["location"].endswith("notice=moved")
        assert _alert(console, alert_id).status == "CLOSED"

    def test_the_escalator_cannot_take_the_filing_decision(self, console) -> None:
        ((alert_id, _),) = _alerts(console)
        supervisor = console.browser("supervisor")
        for target in ("TRIAGE", "INVESTIGATING", "ESCALATED", "PENDING_FILING_DECISION"):
            version = _alert(console, alert_id).version
            moved = supervisor.post(
                f"/console/alerts/{alert_id}/transition", {"to": target, "version": version}
            )
            assert moved.status_code == 303, moved.text
        filing = {
            "to": "FILED",
            "version": _alert(console, alert_id).version,
            "filing_reference": "BSA-31000123456789",
        }
        refused = supervisor.post(f"/console/alerts/{alert_id}/transition", filing)
        assert refused.status_code == 403
        assert "someone other than whoever escalated" in refused.text
        other = console.browser("supervisor2")
        assert other.post(f"/console/alerts/{alert_id}/transition", filing).status_code == 303
        assert _alert(console, alert_id).status == "FILED"

    def test_a_stale_page_does_not_overwrite(self, console) -> None:
        ((alert_id, version),) = _alerts(console)
        browser = console.browser("investigator")
        browser.get(f"/console/alerts/{alert_id}")
        _set(console, alert_id, version=version + 1)
        answer = browser.post(
            f"/console/alerts/{alert_id}/transition", {"to": "TRIAGE", "version": version}
        )
        assert answer.status_code == 409
        assert _alert(console, alert_id).status == "NEW"

    def test_an_auditor_reads_and_cannot_write(self, console) -> None:
        ((alert_id, version),) = _alerts(console)
        auditor = console.browser("auditor")
        page = auditor.get(f"/console/alerts/{alert_id}")
        assert page.status_code == 200
        assert "What you can do" not in page.text
        assert "Add a note" not in page.text
        answer = auditor.post(
            f"/console/alerts/{alert_id}/transition", {"to": "TRIAGE", "version": version}
        )
        assert answer.status_code == 403
        assert _alert(console, alert_id).status == "NEW"

    def test_notes_are_added_and_shown(self, console) -> None:
        ((alert_id, _),) = _alerts(console)
        browser = console.browser("investigator")
        browser.get(f"/console/alerts/{alert_id}")
        answer = browser.post(f"/console/alerts/{alert_id}/notes", {"text": "called the branch"})
        assert answer.status_code == 303
        assert "called the branch" in browser.get(f"/console/alerts/{alert_id}").text


class TestReporter:
    def test_a_reporter_sees_its_reports_status_and_nothing_concluded(self, console) -> None:
        ((alert_id, _),) = _alerts(console, score=0.97)
        report_id = _alert(console, alert_id).report_id
        reporter = console.browser("reporter")
        landing = reporter.client.get("/console/")
        assert landing.headers["location"] == "/console/reports"
        page = reporter.get("/console/reports", report_id=report_id)
        assert page.status_code == 200
        assert report_id in page.text
        assert "processed" in page.text
        text = page.text.lower()
        for concluded in ("0.97", "score", "alert", "typology", "structuring", "case"):
            assert concluded not in text, concluded
        for path in (
            "/console/alerts",
            f"/console/alerts/{alert_id}",
            "/console/ledger",
            "/console/programme",
            "/console/audit",
            "/console/cases",
            "/console/trace?account_id=ACC-1",
        ):
            assert reporter.get(path).status_code == 403, path
        other = reporter.get("/console/reports", report_id=report_id, institution_id="MX-FI-9")
        assert "MX-FI-9" not in other.text, "a reporter's lookups stay in its institution"


class TestCases:
    def test_build_a_case_edit_the_narrative_and_download_the_sar(self, console, tmp_path) -> None:
        pairs = _alerts(console, 2)
        browser = console.browser("investigator")
        browser.get("/console/alerts")
        form = browser.post("/console/cases/new", {"alert": [f"{i}:{v}" for i, v in pairs]})
        assert form.status_code == 200
        assert all(f'name="alert_ids" value="{i}"' in form.text for i, _ in pairs)
        created = browser.post(
            "/console/cases",
            {"title": "Structuring at El Paso", "alert_ids": [i for i, _ in pairs]},
        )
        assert created.status_code == 303
        case_path = created.headers["location"].split("?")[0]
        case_id = int(case_path.rsplit("/", 1)[1])
        with console.sessions() as session:
            version = session.get(Case, case_id).version
        saved = browser.post(
            f"{case_path}/edit",
            {"version": version, "title": "Structuring at El Paso", "narrative": "Four deposits."},
        )
        assert saved.status_code == 303
        assert "Four deposits." in browser.get(case_path).text
        missing = browser.get(f"{case_path}/exports/fincen-sar")
        assert missing.status_code == 422
        assert 'class="checklist"' in missing.text
        assert "profile.transmitter" in missing.text
        console.app.state.filing_profile = FilingProfile.model_validate(PROFILE)
        try:
            download = browser.get(f"{case_path}/exports/fincen-sar")
        finally:
            del console.app.state.filing_profile
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
        schema = xmlschema.XMLSchema11(str(XSD / "EFL_SARXBatchSchema.xsd"))
        schema.validate(download.content)
        assert "filing.export" in browser.get(case_path).text, "the download is on the timeline"


def _pending_forfeiture(console, maker: str) -> int:
    """An account-funds asset forfeited by ``maker``: its forfeiture posting awaits approval."""
    who = console.principal(maker)
    with console.sessions() as session:
        asset, _event = asset_service.register(
            session,
            principal=who,
            data=AssetCreate(
                asset_type="account_funds",
                description="funds in account 4411",
                value_minor=12_500_00,
                currency="USD",
                jurisdiction="US",
            ),
        )
        for step in (
            TransitionRequest(to=AssetStatus.SEIZED, seizing_authority="federal"),
            TransitionRequest(to=AssetStatus.NOTICED),
            TransitionRequest(to=AssetStatus.FORFEITED_ADMIN),
        ):
            change = flows.transition(
                session,
                principal=who,
                asset_id=asset.id,
                request=step,
                idempotency_key=f"k-{asset.id}-{step.to}",
            )
        session.commit()
        (view,) = change.entries
        return view.entry.seq


class TestLedger:
    def test_the_maker_cannot_approve_and_another_supervisor_can(self, console) -> None:
        seq = _pending_forfeiture(console, "supervisor")
        maker = console.browser("supervisor")
        page = maker.get("/console/ledger")
        assert f'id="entry-{seq}"' in page.text
        assert f'id="approve-{seq}"' not in page.text
        assert "Your posting: another supervisor decides it." in page.text
        refused = maker.post(f"/console/ledger/{seq}/approve", {"idempotency_key": "forged-1"})
        assert refused.status_code == 403
        assert "maker-checker" in refused.text
        checker = console.browser("supervisor2")
        assert f'id="approve-{seq}"' in checker.get("/console/ledger").text
        approved = checker.post(f"/console/ledger/{seq}/approve", {"idempotency_key": "ok-1"})
        assert approved.status_code == 303
        with console.sessions() as session:
            view = ledger_service.get_entry(
                session, principal=console.principal("auditor"), seq=seq
            )
            assert view.status is EntryStatus.POSTED

    def test_investigators_and_auditors_get_no_approve_button(self, console) -> None:
        seq = _pending_forfeiture(console, "supervisor")
        for who in ("investigator", "auditor"):
            page = console.browser(who).get("/console/ledger")
            assert f'id="entry-{seq}"' in page.text
            assert f'id="approve-{seq}"' not in page.text, who

    def test_asset_page_moves_the_asset_idempotently(self, console) -> None:
        who = console.principal("investigator")
        with console.sessions() as session:
            asset, _event = asset_service.register(
                session,
                principal=who,
                data=AssetCreate(
                    asset_type="currency",
                    description="cash in a suitcase",
                    value_minor=80_000_00,
                    currency="USD",
                    jurisdiction="US",
                ),
            )
            session.commit()
            asset_id = asset.id
        browser = console.browser("investigator")
        page = browser.get(f"/console/assets/{asset_id}")
        assert "seized" in page.text
        form = {"to": "SEIZED", "seizing_authority": "federal", "idempotency_key": "same-key"}
        assert browser.post(f"/console/assets/{asset_id}/transition", form).status_code == 303
        assert browser.post(f"/console/assets/{asset_id}/transition", form).status_code == 303
        with console.sessions() as session:
            events = asset_service.timeline(session, principal=who, asset_id=asset_id)
        assert [item.to_status for item in events if item.kind == "transition"] == ["SEIZED"]


class TestOtherPages:
    def test_audit_trail_is_for_auditors(self, console) -> None:
        ((alert_id, _),) = _alerts(console)
        investigator = console.browser("investigator")
        investigator.get("/console/alerts")
        investigator.post(f"/console/alerts/{alert_id}/notes", {"text": "seen"})
        auditor = console.browser("auditor")
        page = auditor.get("/console/audit", entity_type="alert", action="alert.note")
        assert page.status_code == 200
        assert "alert.note" in page.text
        assert investigator.get("/console/audit").status_code == 403
        assert "Audit trail</a>" not in investigator.get("/console/alerts").text

    def test_programme_page_and_downloads(self, console) -> None:
        _alerts(console, 3)
        browser = console.browser("investigator")
        page = browser.get("/console/programme")
        assert page.status_code == 200
        assert "Programme results report" in page.text
        assert "<svg" in page.text
        csv_file = browser.get("/console/programme.csv")
        assert csv_file.text.startswith("country,metric,key,currency,value")
        assert "ALL,alerts_raised,,,3" in csv_file.text

    def test_pages_carry_security_headers(self, console) -> None:
        page = console.browser("investigator").get("/console/alerts")
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"

    @pytest.mark.parametrize("path", ["/console/alerts/999999", "/console/cases/999999"])
    def test_missing_things_are_html_404s(self, console, path: str) -> None:
        page = console.browser("investigator").get(path)
        assert page.status_code == 404
        assert "Not found" in page.text


class TestApiDocs:
    def test_docs_load_swagger_ui_from_the_app_itself(self, console) -> None:
        client = console.browser().client
        html = client.get("/docs").text
        assert "cdn" not in html.lower()
        assert "http" not in html.replace("http-equiv", "")
        assets = re.findall(r'(?:src|href)="(/console/static/vendor/swagger-ui/[^"]+)"', html)
        assert len(assets) >= 2
        for path in assets:
            assert client.get(path).status_code == 200, path
        assert client.get("/openapi.json").json()["paths"]["/v1/programme-report"]


class TestTraceGraph:
    def test_expanding_an_account_without_transfers_is_empty_not_an_error(self, console) -> None:
        answer = console.browser("investigator").client.get(
            "/console/trace/graph.json", params={"account_id": "ACC-NOWHERE"}
        )
        assert answer.status_code == 200
        assert answer.json()["elements"] == []
        assert "no transfer" in answer.json()["message"]

    def test_an_account_with_a_transfer_expands_to_nodes_and_an_edge(self, console) -> None:
        document = make_report(unique_index())
        document["transaction"].update(
            direction="out",
            instrument="wire",
            account_id="ACC-FROM",
            counterparty={"name": "B", "account_id": "ACC-TO", "country": "US"},
        )
        with console.sessions() as session:
            store_reports(session, [document])
            session.commit()
        answer = console.browser("investigator").client.get(
            "/console/trace/graph.json", params={"account_id": "ACC-FROM"}
        )
        elements = answer.json()["elements"]
        nodes = {e["data"]["id"] for e in elements if "source" not in e["data"]}
        edges = [e["data"] for e in elements if "source" in e["data"]]
        assert nodes == {"ACC-FROM", "ACC-TO"}
        assert [(e["source"], e["target"]) for e in edges] == [("ACC-FROM", "ACC-TO")]
        assert edges[0]["label"].endswith(" USD")
