"""Loading versions, screening with dismissals, rescreening the store after a reload."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.alerts.orm import Alert
from services.alerts.service import raise_alerts
from services.audit.orm import AuditEvent
from services.auth.enums import Role
from services.auth.service import Principal
from services.db import transaction
from services.errors import Conflict, Forbidden, ServiceError
from services.watchlists import service as watchlist_service
from services.watchlists.formats import ListFormat
from services.watchlists.orm import WatchlistEntry, WatchlistMatch, WatchlistRescreen
from services.watchlists.service import (
    IndexHolder,
    ScreeningInput,
    counterparty_party,
    load_version,
    parse_file,
    run_rescreens,
    screen_parties,
    subject_party,
)
from tests.fixtures.alerts import alert_for, store_reports
from tests.fixtures.reports import make_report

DATA = Path(__file__).parent / "data"
INVESTIGATOR = Principal(1, Role.INVESTIGATOR, None)
REPORTER = Principal(2, Role.REPORTER, "US-FI-0001")

HEADER = "id,name,type,birth_date,country\n"
MULE = "U-1,Rogelio Benitez Cruz,person,1979-05-30,MX\n"
NEW = "U-9,Teodoro Quiñones Saldaña,person,,MX\n"


def _load(session: Session, path: Path, name: str = "unit-mules"):
    parsed = parse_file(path, ListFormat.CSV)
    return load_version(
        session, name=name, parsed=parsed, list_format=ListFormat.CSV, loaded_by="cli:test"
    )


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _report(index: int, *, name: str, counterparty: str | None = None, **subject) -> dict:
    document = make_report(index)
    document["subject"] = {
        "subject_id": subject.pop("subject_id", f"W-{index}"),
        "type": "person",
        "name": name,
        "country": "MX",
        "identifiers": [],
        **subject,
    }
    if counterparty is not None:
        document["transaction"]["counterparty"] = {"name": counterparty, "country": "MX"}
    return document


class TestVersions:
    def test_added_removed_changed_and_an_unchanged_reload(
        self, session: Session, tmp_path: Path
    ) -> None:
        first = _load(
            session, _write(tmp_path, "v1.csv", HEADER + MULE + "U-2,Ana Ruiz,person,,\n")
        )
        assert (first.version, first.created, first.entries, first.added) == (1, True, 2, 2)
        again = _load(
            session, _write(tmp_path, "v1b.csv", HEADER + MULE + "U-2,Ana Ruiz,person,,\n")
        )
        assert (again.version, again.created) == (1, False)
        amended = MULE.replace("1979-05-30", "1979-05-31")
        second = _load(session, _write(tmp_path, "v2.csv", HEADER + amended + NEW))
        assert (second.version, second.added, second.removed, second.changed) == (2, 1, 1, 1)
        rows = session.scalars(select(WatchlistEntry).order_by(WatchlistEntry.id)).all()
        current = sorted(row.entry_key for row in rows if row.removed_in is None)
        assert current == ["U-1", "U-9"]
        retired = {(row.entry_key, row.added_in, row.removed_in) for row in rows if row.removed_in}
        assert retired == {("U-1", 1, 2), ("U-2", 1, 2)}
        lists, rescreens = watchlist_service.list_watchlists(session, principal=INVESTIGATOR)
        [summary] = lists
        assert summary.watchlist.current_version == 2
        assert [v.loaded_by for v in summary.versions] == ["cli:test", "cli:test"]
        assert [job.status for job in rescreens] == ["queued", "queued"]

    def test_bad_names_and_files(self, session: Session, tmp_path: Path) -> None:
        with pytest.raises(ServiceError, match="list name"):
            _load(session, _write(tmp_path, "a.csv", HEADER + MULE), name="Bad Name")
        with pytest.raises(ServiceError, match="line 2: type must be"):
            parse_file(_write(tmp_path, "b.csv", HEADER + "1,X,robot,,\n"), ListFormat.CSV)

    def test_reporters_never_read_watchlists(self, session: Session) -> None:
        with pytest.raises(Forbidden):
            watchlist_service.list_watchlists(session, principal=REPORTER)


class TestScreening:
    def test_a_dismissed_pair_is_set_apart_and_audited(
        self, session: Session, tmp_path: Path
    ) -> None:
        _load(session, DATA / "unit.csv")
        holder = IndexHolder(refresh_s=0)
        [report] = store_reports(session, [_report(1, name="Rogelio Benitez Cruz")])
        inputs = [
            ScreeningInput(
                report.subject_key, subject_party(report.model_dump(mode="json")["subject"])
            )
        ]
        [found] = screen_parties(session, holder.get(session), inputs)
        assert [m.entry.key for m in found.strong] == ["U-1"]
        rows = watchlist_service.match_rows(
            found,
            institution_id=report.institution_id,
            report_id=report.report_id,
            found_by="worker",
            watchlist_ids=watchlist_service.watchlist_ids(session),
        )
        watchlist_service.record_matches(session, [rows])
        match = session.scalars(select(WatchlistMatch)).one()

        view = watchlist_service.dismiss_match(
            session, principal=INVESTIGATOR, match_id=match.id, reason="other person, checked ID"
        )
        assert view.dismissal is not None
        assert view.dismissal.dismissed_by == "token:1"
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "watchlist.dismiss")
        ).all()
        assert event.entity_type == "watchlist_match"
        assert event.after["dismissed"] is True
        with pytest.raises(Conflict):
            watchlist_service.dismiss_match(
                session, principal=INVESTIGATOR, match_id=match.id, reason="again"
            )

        [again] = screen_parties(session, holder.get(session), inputs)
        assert again.matches == []
        assert [m.entry.key for m in again.dismissed] == ["U-1"]
        # Another subject with the same name is not covered by this dismissal.
        other = [
            ScreeningInput("SSN-other", subject_party(report.model_dump(mode="json")["subject"]))
        ]
        assert [
            m.entry.key for m in screen_parties(session, holder.get(session), other)[0].strong
        ] == ["U-1"]

    def test_dismissal_needs_a_role_and_a_reason(self, session: Session) -> None:
        with pytest.raises(Forbidden):
            watchlist_service.dismiss_match(session, principal=REPORTER, match_id=1, reason="x")
        with pytest.raises(ServiceError, match="reason"):
            watchlist_service.dismiss_match(session, principal=INVESTIGATOR, match_id=1, reason=" ")

    def test_parties_of_a_report(self) -> None:
        document = _report(
            2,
            name="Rogelio Benitez Cruz",
            counterparty="Cambios El Sol SA de CV",
            birth_date="1979-05-30",
            identifiers=[{"type": "RFC", "value": "becr-790530-qq1", "country": "MX"}],
        )
        subject = subject_party(document["subject"])
        assert subject.birth_date == "1979-05-30"
        assert subject.identifiers == (("RFC", "BECR790530QQ1"),)
        counterparty = counterparty_party(document["transaction"]["counterparty"])
        assert counterparty is not None
        assert counterparty.kind.value == "entity"


class TestRescreen:
    def test_a_reload_that_adds_an_entry_finds_past_reports(
        self, sessions: sessionmaker[Session], tmp_path: Path
    ) -> None:
        with transaction(sessions) as session:
            store_reports(
                session,
                [
                    _report(10, name="Maria Elena Soto"),
                    _report(
                        11,
                        name="Pedro Alvarado",
                        counterparty="Teodoro Quinones Saldana",
                        subject_id="W-11",
                    ),
                    _report(
                        12,
                        name="Pedro Alvarado",
                        counterparty="TEODORO QUIÑONES SALDAÑA",
                        subject_id="W-11",
                    ),
                ],
            )
            _load(session, _write(tmp_path, "v1.csv", HEADER + MULE))
        holder = IndexHolder(refresh_s=0)
        [first] = run_rescreens(sessions, holder, chunk=2)
        assert (first.status, first.reports_done, first.matches, first.alerts) == ("done", 3, 0, 0)

        with transaction(sessions) as session:
            outcome = _load(session, _write(tmp_path, "v2.csv", HEADER + MULE + NEW))
        progress = []
        [second] = run_rescreens(sessions, holder, chunk=2, progress=progress.append)
        assert second.job_id == outcome.rescreen_id
        assert [state.reports_done for state in progress] == [2, 3]
        assert (second.matches, second.alerts) == (1, 1)
        with sessions() as session:
            [alert] = session.scalars(select(Alert)).all()
            assert alert.report_id == "R-00000011"  # the first report naming the new entry
            assert alert.rule_hits[0]["rule"] == "watchlist"
            assert alert.rule_hits[0]["forces_alert"] is True
            assert "unit-mules entry U-9" in alert.reasons[0]
            [match] = session.scalars(select(WatchlistMatch)).all()
            assert (match.role, match.entry_key, match.found_by) == (
                "counterparty",
                "U-9",
                f"rescreen:{outcome.rescreen_id}",
            )
            job = session.get(WatchlistRescreen, outcome.rescreen_id)
            assert job is not None
            assert job.finished_at is not None

        # Running again finds nothing new: no second alert, no second match row.
        with transaction(sessions) as session:
            _load(
                session,
                _write(tmp_path, "v3.csv", HEADER + MULE + NEW + "U-10,Ana Ruiz,person,,\n"),
            )
        [third] = run_rescreens(sessions, holder, chunk=100)
        assert (third.matches, third.alerts) == (0, 0)

    def test_a_strong_match_joins_the_open_alert(
        self, sessions: sessionmaker[Session], tmp_path: Path
    ) -> None:
        with transaction(sessions) as session:
            [report] = store_reports(session, [_report(20, name="Teodoro Quiñones Saldaña")])
            [alert] = raise_alerts(session, [alert_for(report)])
            alert_id = alert.id
            _load(session, _write(tmp_path, "v1.csv", HEADER + NEW))
        [done] = run_rescreens(sessions, IndexHolder(refresh_s=0))
        assert done.alerts == 1
        with sessions() as session:
            [alert] = session.scalars(select(Alert)).all()
            assert alert.id == alert_id
            assert alert.version == 2
            assert [hit["rule"] for hit in alert.rule_hits][-1] == "watchlist"
            assert alert.features["watchlist_score"] >= 0.85
