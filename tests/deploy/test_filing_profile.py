"""The filing profile as deployed: a file mounted at AMLSCREEN_FILING_PROFILE, read by a
running API process (uvicorn, as in the compose file and the Kubernetes Deployment) and
worker; `amlscreen profile init` / `check` prepare it; every export answers 200."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import xmlschema

from services.auth.enums import Role
from services.auth.service import create_token
from services.db import transaction
from services.filings.xml import SCHEMAS, XSD_DIR
from tests.conftest import free_port
from tests.deploy.test_scrape import _env, _stop, _wait_http
from tests.fixtures.alerts import create_alerts, unique_index
from tests.fixtures.reports import make_report
from tests.services.filings.conftest import PROFILE
from tests.services.reports.formats.builders import ctr_batch

pytestmark = pytest.mark.broker


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "amlscreen.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _str(subject_name: str, ssn: str, institution: str = "US-FI-0001", **extra):
    report = make_report(
        unique_index(),
        report_type="STR",
        institution_id=institution,
        subject={
            "subject_id": f"C-{unique_index()}",
            "type": "person",
            "name": subject_name,
            "country": extra.pop("country", "US"),
            "identifiers": [{"type": "SSN", "value": ssn, "country": "US"}],
        },
        **extra,
    )
    report["suspicion"] = {"categories": ["structuring"], "narrative": "Split deposits."}
    return report


def test_profile_mounted_in_a_running_api_makes_every_export_answer(
    settings_factory, sessions, tmp_path: Path
) -> None:
    settings = settings_factory()
    profile_path = tmp_path / "etc" / "filing-profile.json"
    env = _env(settings, AMLSCREEN_FILING_PROFILE=str(profile_path))

    created = _cli(env, "profile", "init")
    assert created.returncode == 0, created.stderr
    assert profile_path.is_file()
    template_check = _cli(env, "profile", "check")
    assert template_check.returncode == 2, template_check.stdout
    assert "transmitter.tcc (placeholder)" in template_check.stdout
    # The operator fills it in (comments may stay).
    profile_path.write_text(json.dumps({"//": "filled in by the operator", **PROFILE}))
    filled_check = _cli(env, "profile", "check")
    assert "US-FI-0001\n  fincen-sar: ready\n  fincen-ctr: ready\n  goaml: ready" in (
        filled_check.stdout
    ), filled_check.stdout

    with transaction(sessions) as session:
        admin = create_token(session, role=Role.ADMIN)
        investigator = create_token(session, role=Role.INVESTIGATOR)
        us_alerts = create_alerts(session, [_str("Juan Pérez", "900-55-0001")])
        mx_alerts = create_alerts(
            session,
            [_str("Jorge Salinas", "900-55-0002", institution="MX-FI-0001", jurisdiction="MX")],
        )
        us_alert_ids = [a.id for a in us_alerts]
        mx_alert_ids = [a.id for a in mx_alerts]

    api_port = free_port()
    api = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "amlscreen.asgi:create",
            "--host",
            "127.0.0.1",
            "--port",
            str(api_port),
            "--no-access-log",
        ],
        env=env,
    )
    worker = subprocess.Popen([sys.executable, "-m", "amlscreen.cli", "worker"], env=env)
    base = f"http://127.0.0.1:{api_port}"
    try:
        _wait_http(f"{base}/healthz", api)
        as_admin = {"Authorization": f"Bearer {admin}"}
        as_investigator = {"Authorization": f"Bearer {investigator}"}

        status = httpx.get(f"{base}/v1/filing-profile/status", headers=as_admin, timeout=10)
        assert status.status_code == 200, status.text
        body = status.json()
        assert body["valid"] is True
        assert body["path"] == str(profile_path)
        assert all(e["ready"] for e in body["institutions"]["US-FI-0001"].values())
        assert body["institutions"]["US-FI-0002"]["goaml"]["ready"] is False
        forbidden = httpx.get(
            f"{base}/v1/filing-profile/status", headers=as_investigator, timeout=10
        )
        assert forbidden.status_code == 403

        # CTR: cash reports arrive as a FinCEN CTRX file, the worker stores them, the export
        # aggregates them again.
        sent = httpx.post(
            f"{base}/v1/reports?institution_id=US-FI-0001",
            content=ctr_batch(2),
            headers={**as_admin, "Content-Type": "application/xml"},
            timeout=60,
        )
        assert sent.status_code == 202, sent.text
        last = sent.json()["accepted"][-1]["report_id"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            found = httpx.get(f"{base}/v1/reports/US-FI-0001/{last}", headers=as_admin, timeout=10)
            if found.status_code == 200:
                break
            time.sleep(0.5)
        assert found.status_code == 200, found.text
        ctr = httpx.get(
            f"{base}/v1/reports/exports/fincen-ctr",
            params={"institution_id": "US-FI-0001", "from": "2026-11-27", "to": "2026-11-27"},
            headers=as_investigator,
            timeout=60,
        )
        assert ctr.status_code == 200, ctr.text
        schema = xmlschema.XMLSchema11(str(XSD_DIR / SCHEMAS["CTRX"]))
        assert list(schema.iter_errors(ctr.text)) == []
        assert 'ActivityCount="2"' in ctr.text

        for alert_ids, export in ((us_alert_ids, "fincen-sar"), (mx_alert_ids, "goaml")):
            case = httpx.post(
                f"{base}/v1/cases",
                json={"title": export, "alert_ids": alert_ids, "narrative": "Split deposits."},
                headers=as_investigator,
                timeout=30,
            )
            assert case.status_code == 201, case.text
            exported = httpx.get(
                f"{base}/v1/cases/{case.json()['id']}/exports/{export}",
                headers=as_investigator,
                timeout=60,
            )
            assert exported.status_code == 200, (export, exported.text)
    finally:
        codes = [_stop(process) for process in (worker, api)]
    assert codes[0] == 0
