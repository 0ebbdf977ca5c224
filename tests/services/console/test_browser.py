"""The console end to end, in a real headless browser, against ``amlscreen up``.

``amlscreen up`` runs the embedded broker, the API and a worker with a model; ``amlscreen
simulate`` streams generated reports to it over HTTP; Debian's chromium, driven by Playwright,
then does what the users do: an investigator closes one alert and sends another to the filing
decision, a supervisor files it, a case is built and its SAR downloaded (and validated against
FinCEN's schema), a trace is opened, expanded and an asset registered from it, a posting is
refused to its maker and approved by a second supervisor, the programme report is read, and
an auditor's and a reporter's views hide what they may not do. Every page is screenshotted
(``tmp_path`` and, when ``AMLSCREEN_SCREENSHOT_DIR`` is set, there too: CI keeps them).

Requests to any host but the app are blocked and recorded: the console must work offline.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import xmlschema

from tests.amlscreen.test_up import _env, _eventually, _start_up
from tests.conftest import BACKENDS, _create_postgres_database, _drop_postgres_database
from tests.models.test_registry import tiny_model
from tests.services.filings.conftest import PROFILE, XSD

pytestmark = pytest.mark.broker

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPORTS = 3000
WAIT_S = 180


@dataclass
class Stack:
    base: str
    env: dict[str, str]
    admin: str
    tokens: dict[str, str] = field(default_factory=dict)

    def api(self, path: str, **params: Any) -> Any:
        answer = httpx.get(
            f"{self.base}{path}",
            params=params or None,
            headers={"Authorization": f"Bearer {self.admin}"},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()

    def token(self, role: str, institution: str | None = None) -> str:
        command = [sys.executable, "-m", "amlscreen.cli", "token", "create", "--role", role]
        if institution:
            command += ["--institution", institution]
        done = subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=60, check=True
        )
        return done.stdout.strip()


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """``amlscreen up`` on free ports with a database of its own, fed by ``amlscreen simulate``."""
    data_dir = tmp_path_factory.mktemp("up")
    extra = {
        "AMLSCREEN_MODEL_PATH": str(tiny_model()),
        # Alerts are per subject episode: the tiny model's threshold leaves fewer than the two
        # pages of queue the tests walk through, an alert budget raises the volume to that
        # (down to a floor below the service's default, which keeps a quiet window's allowance;
        # spent as reports arrive: the service's ranked default opens alerts only at the
        # budget's recomputes, and holds back what the end of a short stream leaves).
        "AMLSCREEN_ALERT_BUDGET_PER_DAY": "10",
        "AMLSCREEN_ALERT_BUDGET_FLOOR": "0.05",
        "AMLSCREEN_ALERT_BUDGET_SPENDING": "threshold",
    }
    database = None
    if request.param == "postgresql":
        database, url = _create_postgres_database()
        extra["AMLSCREEN_DATABASE_URL"] = url
    env = _env(data_dir, **extra)
    process, output = _start_up(env)
    try:
        line = output.wait_for(lambda text: "admin token" in text, timeout=WAIT_S)
        base = f"http://127.0.0.1:{env['AMLSCREEN_API_PORT']}"
        _eventually(lambda: httpx.get(f"{base}/readyz", timeout=5).raise_for_status())
        up = Stack(base=base, env=env, admin=line.split()[-1])
        subprocess.run(
            [
                sys.executable, "-m", "amlscreen.cli", "simulate", "--seed", "11",
                "--reports", str(REPORTS), "--days", "20", "--http", base,
                "--token", up.admin, "--quiet",
            ],
            env=env, check=True, timeout=WAIT_S,
        )  # fmt: skip
        _eventually(lambda: _all_processed(up), timeout=WAIT_S)
        for name, role in (
            ("investigator", "investigator"),
            ("supervisor", "supervisor"),
            ("supervisor2", "supervisor"),
            ("auditor", "auditor"),
        ):
            up.tokens[name] = up.token(role)
        yield up
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=90)
        if database is not None:
            _drop_postgres_database(database)
    assert code == 0


def _all_processed(up: Stack) -> None:
    """Every report is stored and screened (the last one sent is the newest)."""
    alerts = up.api("/v1/alerts", limit=1)
    assert alerts["items"], "the stream raised no alert yet"
    programme = up.api("/v1/programme-report", **_today())
    received = sum(programme["total"]["reports_received"].values())
    assert received == REPORTS, received


def _today() -> dict[str, str]:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    return {"from": today, "to": today}


class Shots:
    """Screenshots of every page, kept as test artefacts."""

    def __init__(self, folder: Path, backend: str) -> None:
        self.folder = folder
        self.backend = backend
        self.keep = os.environ.get("AMLSCREEN_SCREENSHOT_DIR")

    def __call__(self, page: Any, name: str) -> None:
        path = self.folder / f"{self.backend}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if self.keep:
            Path(self.keep).mkdir(parents=True, exist_ok=True)
            shutil.copy(path, Path(self.keep) / path.name)


@dataclass
class Web:
    browser: Any
    stack: Stack
    shots: Shots
    offsite: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def user(self, who: str, token: str | None = None) -> Any:
        """A browser context of its own (cookies) signed in as ``who``."""
        context = self.browser.new_context(viewport={"width": 1366, "height": 900})
        host = urlparse(self.stack.base).netloc

        def guard(route: Any) -> None:
            if urlparse(route.request.url).netloc == host:
                route.continue_()
            else:
                self.offsite.append(route.request.url)
                route.abort()

        context.route("**/*", guard)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{who}: {error}"))
        page.goto(f"{self.stack.base}/console/login")
        page.fill("#token", token or self.stack.tokens[who])
        page.click("button[type=submit]")
        page.wait_for_load_state()
        return page


@pytest.fixture(scope="module")
def web(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Web]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test does)")
    from playwright.sync_api import sync_playwright

    backend = "postgresql" if "AMLSCREEN_DATABASE_URL" in stack.env else "sqlite"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield Web(browser, stack, Shots(tmp_path_factory.mktemp("screenshots"), backend))
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def _nothing_left_the_machine(web: Web) -> Iterator[None]:
    yield
    assert web.offsite == [], "the console must not load anything from other hosts"
    assert web.errors == [], "no script error on any page"


def _new_alerts(stack: Stack, count: int, **filters: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = stack.api("/v1/alerts", status="NEW", limit=200, **filters)[
        "items"
    ]
    free = [item for item in items if item["case_id"] is None]
    assert len(free) >= count, free
    return free[:count]


def _move(page: Any, label: str, **fields: str) -> None:
    """Opens the move ``label`` on an alert or case page, fills it in and submits it."""
    move = page.locator("details.move", has=page.locator("summary", has_text=label)).first
    move.locator("summary").click()
    for name, value in fields.items():
        control = move.locator(f"[name={name}]")
        if control.evaluate("node => node.tagName") == "SELECT":
            control.select_option(value)
        else:
            control.fill(value)
    move.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".notice").inner_text() == "Status changed.", page.content()[:2000]


def _status(page: Any) -> str:
    return str(page.locator("h1 .badge.status").first.inner_text())


class TestInvestigation:
    def test_sign_in_and_the_queue(self, web: Web) -> None:
        page = web.user("investigator")
        assert page.url.endswith("/console/alerts")
        rows = page.locator("tbody tr a[href^='/console/alerts/']")
        assert rows.count() == 50, "a full first page"
        web.shots(page, "01-queue")
        page.select_option("#f-band", "high")
        page.select_option("#f-sort", "-score")
        page.click("form.filters button[type=submit]")
        page.wait_for_function("() => location.search.includes('band=high')")
        scores = [float(s) for s in page.locator("#queue tbody td.num").all_inner_texts()]
        assert scores == sorted(scores, reverse=True)
        assert all(score >= 0.9 for score in scores)
        web.shots(page, "02-queue-filtered")
        page.goto(f"{web.stack.base}/console/alerts")
        page.click("a[rel=next]")
        page.wait_for_load_state()
        assert page.locator("tbody tr a[href^='/console/alerts/']").count() > 0
        page.context.close()

    def test_work_an_alert_from_new_to_closed(self, web: Web) -> None:
        # The lowest score: a false-positive closure of a high score may need a second person.
        (alert,) = _new_alerts(web.stack, 1, sort="score")
        page = web.user("investigator")
        page.goto(f"{web.stack.base}/console/alerts/{alert['id']}")
        assert page.locator("#why + ul li").count() > 0, "the reasons in plain words"
        assert page.locator("svg.chart rect").count() >= 3, "the baseline and peers chart"
        web.shots(page, "03-alert")
        _move(page, "Start triage")
        _move(page, "Investigate")
        _move(
            page,
            "Close",
            disposition="FALSE_POSITIVE",
            rationale="Known payroll pattern of the employer",
            evidence="KYC file 2026-117",
        )
        assert _status(page) == "closed"
        assert "false positive" in page.locator("#facts + dl").inner_text()
        assert "KYC file 2026-117" in page.locator("#evidence + ul").inner_text()
        page.fill("#note-text", "Closed after the call with the branch.")
        page.click("#notes button[type=submit]")
        page.locator(".note", has_text="Closed after the call with the branch.").wait_for()
        web.shots(page, "04-alert-closed")
        page.context.close()

    def test_file_through_a_second_users_decision(self, web: Web) -> None:
        (alert,) = _new_alerts(web.stack, 1)
        url = f"{web.stack.base}/console/alerts/{alert['id']}"
        page = web.user("investigator")
        page.goto(url)
        _move(page, "Start triage")
        _move(page, "Investigate")
        _move(page, "Escalate (suspicion determined)", rationale="Funnel pattern confirmed")
        _move(page, "Send for the filing decision")
        assert _status(page) == "pending filing decision"
        assert page.locator("details.move summary", has_text="File").count() == 0
        web.shots(page, "05-alert-pending-decision")
        page.context.close()
        supervisor = web.user("supervisor")
        supervisor.goto(url)
        _move(supervisor, "File", filing_reference="BSA-31000012345678")
        assert _status(supervisor) == "filed"
        web.shots(supervisor, "06-alert-filed")
        supervisor.context.close()
        assert web.stack.api(f"/v1/alerts/{alert['id']}")["status"] == "FILED"

    def test_build_a_case_and_download_its_sar(self, web: Web, tmp_path: Path) -> None:
        alerts = _new_alerts(web.stack, 2, jurisdiction="US")
        page = web.user("investigator")
        page.goto(f"{web.stack.base}/console/alerts?status=NEW&jurisdiction=US")
        for alert in alerts:
            page.check(f"#sel-{alert['id']}")
        page.click("button[formaction='/console/cases/new']")
        page.wait_for_load_state()
        page.fill("#case-title", "Funnel account at the border")
        page.fill("#case-narrative", "Two linked subjects moved funds through one account.")
        page.click("button:has-text('Create the case')")
        page.wait_for_load_state()
        assert page.locator(".notice").inner_text() == "Case created."
        case_url = page.url.split("?")[0]
        page.fill(
            "#case-narrative", "Two linked subjects moved $24,000 through one account in May."
        )
        page.click("button:has-text('Save the narrative')")
        page.wait_for_load_state()
        assert "$24,000" in page.locator("#case-narrative").input_value()
        web.shots(page, "07-case")
        page.click("#download-sar")
        page.wait_for_load_state()
        checklist = page.locator("ul.checklist li")
        assert checklist.count() >= 1, "without a filing profile: what the SAR lacks"
        assert "profile." in checklist.first.inner_text()
        web.shots(page, "08-sar-missing-checklist")
        _write_profile(web.stack, {alert["institution_id"] for alert in alerts})
        page.goto(case_url)
        with page.expect_download() as waiting:
            page.click("#download-sar")
        saved = tmp_path / waiting.value.suggested_filename
        waiting.value.save_as(saved)
        xmlschema.XMLSchema11(str(XSD / "EFL_SARXBatchSchema.xsd")).validate(str(saved))
        page.goto(case_url)
        assert page.locator("#timeline + table", has_text="filing.export").count() == 1
        web.shots(page, "09-case-after-download")
        page.context.close()


def _write_profile(stack: Stack, institutions: set[str]) -> None:
    """A filing profile naming the case's institutions (the console re-reads it when it changes)."""
    profile = json.loads(json.dumps(PROFILE))
    template = profile["institutions"]["US-FI-0001"]
    for institution in institutions:
        profile["institutions"].setdefault(institution, template)
    target = Path(stack.env["AMLSCREEN_DATA_DIR"]) / "filing-profile.json"
    target.write_text(json.dumps(profile))


def _transfer_alert(stack: Stack) -> dict[str, Any]:
    """A US alert whose report is an outgoing transfer to another account."""
    for item in stack.api("/v1/alerts", jurisdiction="US", limit=500)["items"]:
        report = stack.api(f"/v1/alerts/{item['id']}")["report"]
        transaction = (report or {}).get("document", {}).get("transaction") or {}
        counterparty = transaction.get("counterparty") or {}
        if transaction.get("direction") == "out" and counterparty.get("account_id"):
            return {"alert": item, "account": transaction["account_id"]}
    raise AssertionError("the stream has no outgoing transfer with an alert")


class TestForfeiture:
    def test_trace_expand_register_and_approve_by_a_second_supervisor(self, web: Web) -> None:
        origin = _transfer_alert(web.stack)
        maker = web.user("supervisor")
        maker.goto(f"{web.stack.base}/console/trace?account_id={origin['account']}&max_hops=2")
        maker.wait_for_selector("#graph[data-ready=true]")
        cy = "window.amlscreenTrace"
        assert maker.evaluate(f"{cy}.edges().length") >= 1
        assert maker.evaluate(f"{cy}.edges()[0].data('label')"), "amounts on the edges"
        before = maker.evaluate(f"{cy}.zoom()")
        maker.click("#zoom-in")
        assert maker.evaluate(f"{cy}.zoom()") > before
        pan = maker.evaluate(f"{cy}.pan()")
        box = maker.locator("#graph").bounding_box()
        maker.mouse.move(box["x"] + 8, box["y"] + 8)
        maker.mouse.down()
        maker.mouse.move(box["x"] + 120, box["y"] + 80, steps=5)
        maker.mouse.up()
        assert maker.evaluate(f"{cy}.pan()") != pan, "dragging the background pans"
        maker.click("#zoom-fit")
        target = maker.evaluate(
            f"(() => {{ const n = {cy}.nodes('[?cut]')[0] || {cy}.nodes('[!origin]')[0];"
            " const p = n.renderedPosition(); return {id: n.id(), x: p.x, y: p.y}; })()"
        )
        maker.mouse.click(box["x"] + target["x"], box["y"] + target["y"])
        maker.wait_for_selector("#node-panel:not([hidden])")
        assert target["id"] in maker.locator("#node-facts").inner_text()
        nodes = maker.evaluate(f"{cy}.nodes().length")
        maker.click("#expand-node")
        maker.wait_for_selector("#graph[data-expanded='1']")
        assert maker.evaluate(f"{cy}.nodes().length") >= nodes
        assert "Expanded:" in maker.locator("#node-facts").inner_text()
        web.shots(maker, "10-trace")
        register = maker.locator("#holdings + table form").first
        if register.locator("select[name=jurisdiction]").count():
            register.locator("select[name=jurisdiction]").select_option("US")
        register.locator("button[type=submit]").click()
        maker.wait_for_load_state()
        assert maker.locator(".notice").inner_text() == "Asset registered."
        asset_url = maker.url.split("?")[0]
        assert "account funds" in maker.locator("#facts + dl").inner_text()
        for label, fields in (
            ("seized", {"seizing_authority": "federal"}),
            ("noticed", {}),
            ("forfeited admin", {}),
        ):
            step = maker.locator("details.move", has=maker.locator("summary", has_text=label)).first
            step.locator("summary").click()
            for name, value in fields.items():
                step.locator(f"[name={name}]").select_option(value)
            step.locator("button[type=submit]").click()
            maker.wait_for_load_state()
            assert maker.locator(".notice").inner_text() == "Asset status changed."
        web.shots(maker, "11-asset-forfeited")
        maker.goto(f"{web.stack.base}/console/ledger")
        row = maker.locator("#pending-title ~ table tbody tr[id^=entry-]").first
        seq = int(str(row.get_attribute("id")).split("-")[1])
        assert row.locator("button").count() == 0, "the maker is offered no decision"
        assert "Your posting" in row.inner_text()
        web.shots(maker, "12-ledger-maker")
        csrf = maker.locator("input[name=csrf_token]").first.get_attribute("value")
        maker.evaluate(
            """([seq, csrf]) => {
                const form = document.createElement('form');
                form.method = 'post';
                form.action = `/console/ledger/${seq}/approve`;
                for (const [name, value] of [['csrf_token', csrf], ['idempotency_key', 'forged']]) {
                    const input = document.createElement('input');
                    input.type = 'hidden'; input.name = name; input.value = value;
                    form.appendChild(input);
                }
                document.body.appendChild(form);
                form.submit();
            }""",
            [seq, csrf],
        )
        maker.wait_for_selector("p.error")
        assert "maker-checker" in maker.locator("p.error").inner_text()
        web.shots(maker, "13-ledger-maker-refused")
        maker.context.close()

        checker = web.user("supervisor2")
        checker.goto(f"{web.stack.base}/console/ledger")
        checker.click(f"#approve-{seq}")
        checker.wait_for_load_state()
        assert checker.locator(".notice").inner_text() == "Posting approved."
        assert checker.locator(f"#entry-{seq}").count() == 0, "no longer awaiting approval"
        web.shots(checker, "14-ledger-approved")
        checker.goto(asset_url)
        assert checker.locator(f"#entry-{seq}").inner_text().count("posted") >= 1
        web.shots(checker, "15-asset-posted")
        checker.context.close()


class TestReadersAndReports:
    def test_programme_report(self, web: Web) -> None:
        page = web.user("supervisor2")
        page.goto(f"{web.stack.base}/console/programme")
        figures = web.stack.api("/v1/programme-report", **_today())["total"]
        total = page.locator("#fig-ALL + div dl").inner_text()
        assert f"{sum(figures['reports_received'].values()):,}" in total
        assert f"{figures['alerts_raised']:,}" in total
        assert page.locator("svg.chart").count() >= 2
        web.shots(page, "16-programme")
        with page.expect_download() as waiting:
            page.click("a:has-text('Download CSV')")
        assert waiting.value.suggested_filename.endswith(".csv")
        page.context.close()

    def test_an_auditor_reads_everything_and_changes_nothing(self, web: Web) -> None:
        (alert,) = _new_alerts(web.stack, 1)
        page = web.user("auditor")
        nav = page.locator("nav[aria-label=Main]").inner_text()
        assert "Audit trail" in nav
        page.goto(f"{web.stack.base}/console/alerts")
        assert page.locator("button:has-text('Assign selected')").count() == 0
        page.goto(f"{web.stack.base}/console/alerts/{alert['id']}")
        assert page.locator("#act").count() == 0, "no moves offered"
        assert page.locator("#note-text").count() == 0
        web.shots(page, "17-auditor-alert")
        page.goto(f"{web.stack.base}/console/ledger")
        assert page.locator("button:has-text('Approve')").count() == 0
        page.goto(f"{web.stack.base}/console/audit?action=alert.transition")
        assert page.locator("tbody tr", has_text="alert.transition").count() >= 1
        web.shots(page, "18-audit-trail")
        answer = page.request.post(
            f"{web.stack.base}/console/alerts/{alert['id']}/transition",
            form={
                "csrf_token": str(
                    page.locator("input[name=csrf_token]").first.get_attribute("value")
                ),
                "to": "TRIAGE",
                "version": str(alert["version"]),
            },
        )
        assert answer.status == 403
        assert web.stack.api(f"/v1/alerts/{alert['id']}")["status"] == "NEW"
        page.context.close()

    def test_a_reporter_sees_its_reports_and_nothing_concluded(self, web: Web) -> None:
        alert = web.stack.api("/v1/alerts", limit=1)["items"][0]
        token = web.stack.token("reporter", alert["institution_id"])
        page = web.user("reporter", token)
        assert page.url.endswith("/console/reports")
        assert page.locator("nav[aria-label=Main] a").all_inner_texts() == ["Our reports"]
        page.fill("#report_id", alert["report_id"])
        page.click("button:has-text('Look up')")
        page.wait_for_load_state()
        text = page.locator("main").inner_text().lower()
        assert alert["report_id"].lower() in text
        assert "processed" in text
        for concluded in ("score", "alert", "typology", "case", str(alert["score"])[:5]):
            assert concluded not in text, concluded
        web.shots(page, "19-reporter")
        page.goto(f"{web.stack.base}/console/alerts")
        assert "Not allowed" in page.locator("h1").inner_text()
        web.shots(page, "20-reporter-refused")
        page.context.close()

    def test_api_docs_work_offline(self, web: Web) -> None:
        page = web.browser.new_page()
        host = urlparse(web.stack.base).netloc

        def guard(route: Any) -> None:
            if urlparse(route.request.url).netloc == host:
                route.continue_()
            else:
                web.offsite.append(route.request.url)
                route.abort()

        page.route("**/*", guard)
        page.goto(f"{web.stack.base}/docs")
        page.wait_for_selector(".swagger-ui .info .title")
        page.get_by_text("/v1/programme-report", exact=True).first.wait_for()
        web.shots(page, "21-api-docs")
        page.close()
