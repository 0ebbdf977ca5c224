from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import func, select

from services.alerts.enums import AlertStatus, DeadlineKind
from services.alerts.orm import Alert, SubjectName
from services.alerts.service import alert_to_message, labelled_outcomes, raise_alerts
from tests.fixtures.alerts import alert_for, create_alert, store_reports, unique_index
from tests.fixtures.reports import make_report, make_str


class TestRaiseAlerts:
    def test_stores_alert_with_report_link_and_ctr_deadline(self, session):
        alert = create_alert(session)
        assert alert.id is not None
        assert alert.status == AlertStatus.NEW
        assert alert.version == 1
        assert alert.report_pk is not None
        assert alert.deadline_kind == DeadlineKind.US_CTR
        # Saturday 28 Nov 2026 counts on Monday 30 Nov: due 15 Dec, 23:59:59 at UTC−5.
        assert alert.deadline_at == datetime(2026, 12, 16, 4, 59, 59, tzinfo=UTC)

    def test_redelivered_report_never_creates_a_second_alert(self, session):
        (report,) = store_reports(session, [make_report(unique_index())])
        first = raise_alerts(session, [alert_for(report)])
        again = raise_alerts(session, [alert_for(report, score=0.2), alert_for(report)])
        assert [a.id for a in again] == [first[0].id]
        assert again[0].score == pytest.approx(0.91)
        count = session.scalar(
            select(func.count()).where(
                Alert.institution_id == report.institution_id, Alert.report_id == report.report_id
            )
        )
        assert count == 1

    def test_alert_without_stored_report_is_kept(self, session):
        (alert,) = raise_alerts(
            session,
            [
                alert_for(
                    store_reports(session, [make_report(unique_index())])[0],
                    report_id="NOT-STORED-1",
                    transaction_at=None,
                )
            ],
        )
        assert alert.report_pk is None
        # No transaction time and no report: the CTR clock falls back to the alert time.
        assert alert.deadline_kind == DeadlineKind.US_CTR

    def test_us_str_has_a_sar_clock_that_has_not_started(self, session):
        alert = create_alert(session, **{"report_type": "STR"}, suspicion=make_str()["suspicion"])
        assert alert.deadline_kind == DeadlineKind.US_SAR
        assert alert.deadline_at is None

    def test_mx_alert_runs_the_roi_clock_from_the_alert(self, session):
        alert = create_alert(session, jurisdiction="MX", institution_id="MX-FI-0001")
        assert alert.deadline_kind == DeadlineKind.MX_ROI
        assert alert.deadline_at == alert.created_at + timedelta(days=60)

    def test_naive_transaction_time_is_taken_as_utc(self, session):
        (report,) = store_reports(session, [make_report(unique_index())])
        (alert,) = raise_alerts(
            session, [alert_for(report, transaction_at=datetime(2026, 1, 1, 12))]
        )
        assert alert.transaction_at == datetime(2026, 1, 1, 12, tzinfo=UTC)

    def test_names_are_indexed_for_entity_resolution(self, session):
        alert = create_alert(session)
        names = session.scalars(
            select(SubjectName).where(SubjectName.subject_key == alert.subject_key)
        ).all()
        assert len(names) == 1
        number, word = names[0].name_key.split()
        assert number.isdigit()
        assert word == "subject"


class TestAlertMessage:
    def test_message_is_json_without_identifiers(self, session):
        alert = create_alert(session)
        message = orjson.loads(alert_to_message(alert))
        assert message["alert_id"] == alert.id
        assert message["schema_version"] == 1
        assert message["source"] == {"topic": "aml.reports", "partition": 0, "offset": 1}
        assert "900-00" not in alert_to_message(alert).decode()


class TestLabelledOutcomes:
    def test_filed_is_confirmed_false_positive_is_labelled_others_are_not(self, session):
        filed, fp, legit, unclear, open_ = (create_alert(session) for _ in range(5))
        filed.status = AlertStatus.FILED
        fp.status, fp.disposition = AlertStatus.CLOSED, "FALSE_POSITIVE"
        legit.status, legit.disposition = AlertStatus.CLOSED, "EXPLAINED_LEGITIMATE"
        unclear.status, unclear.disposition = AlertStatus.CLOSED, "INSUFFICIENT_EVIDENCE"
        session.flush()
        labels = {row["alert_id"]: row["label"] for row in labelled_outcomes(session)}
        assert labels[filed.id] == "confirmed"
        assert labels[fp.id] == "false_positive"
        assert labels[legit.id] == "false_positive"
        assert unclear.id not in labels
        assert open_.id not in labels
        row = next(r for r in labelled_outcomes(session) if r["alert_id"] == filed.id)
        assert row["institution_id"] == filed.institution_id
        assert row["report_id"] == filed.report_id
