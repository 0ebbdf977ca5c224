"""CSV upload: the documented header, one report per row, errors naming row and column."""

from __future__ import annotations

from pathlib import Path

from services.reports.formats import FileFormat
from tests.services.reports.formats.conftest import read

HEADER = (
    "report_id,report_type,institution_id,jurisdiction,filed_at,subject.subject_id,subject.type,"
    "subject.name,subject.country,subject.identifiers,transaction.transaction_id,"
    "transaction.timestamp,transaction.amount,transaction.currency,transaction.instrument,"
    "transaction.direction,transaction.channel,transaction.account_id,"
    "transaction.counterparty.name,transaction.counterparty.country,suspicion.categories,"
    "suspicion.narrative,subject.birth_date"
)
ROWS = [
    "R-1,LVTR,US-FI-0001,US,2026-11-28T10:00:00Z,C-1,person,Ana Ruiz,US,SSN:900-44-0001:US,"
    "T-1,2026-11-28T09:00:00Z,12000.00,USD,cash,in,branch,ACC-1,,,,,1980-01-02",
    "R-2,STR,US-FI-0001,US,2026-11-28T10:00:00Z,C-2,entity,Rio Bravo LLC,US,"
    "EIN:74-1234567:US;RFC:RBR010101AB1:MX,T-2,2026-11-27T09:00:00Z,9500.5,USD,wire,out,online,"
    'ACC-2,"Comercializadora, SA",MX,structuring;funnel_account,"Split ""wires""",',
]


def csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


class TestCsv:
    def test_one_report_per_row(self) -> None:
        reports, errors = read(FileFormat.CSV, b"\xef\xbb\xbf" + csv(*ROWS))
        assert errors == []
        first, second = reports
        assert first.report_id == "R-1"
        assert first.transaction is not None
        assert first.transaction.amount_minor == 1_200_000
        assert first.model_dump(mode="json")["subject"]["birth_date"] == "1980-01-02"
        assert [(i.type.value, i.country) for i in first.subject.identifiers] == [("SSN", "US")]
        assert second.suspicion is not None
        assert second.suspicion.categories == ["structuring", "funnel_account"]
        assert second.suspicion.narrative == 'Split "wires"'
        assert second.transaction is not None
        assert second.transaction.counterparty is not None
        assert second.transaction.counterparty.name == "Comercializadora, SA"
        assert [i.type.value for i in second.subject.identifiers] == ["EIN", "RFC"]

    def test_the_submitters_institution_fills_the_column(self) -> None:
        header = HEADER.replace("institution_id,jurisdiction,", "")
        row = ROWS[0].replace("US-FI-0001,US,", "")
        reports, errors = read(
            FileFormat.CSV, csv(row, header=header), institution_id="US-FI-0002", jurisdiction="US"
        )
        assert errors == []
        assert reports[0].institution_id == "US-FI-0002"

    def test_errors_name_row_and_column(self) -> None:
        bad_amount = ROWS[0].replace("12000.00", "-5").replace("R-1,", "R-3,")
        bad_currency = ROWS[0].replace(",USD,", ",XYZ,").replace("R-1,", "R-4,")
        bad_identifier = ROWS[0].replace("SSN:900-44-0001:US", "SSN").replace("R-1,", "R-5,")
        reports, errors = read(
            FileFormat.CSV, csv(ROWS[0], bad_amount, bad_currency, bad_identifier)
        )
        locations = [error.location for error in errors]
        assert locations == [
            "row 3, column transaction",
            "row 4, column transaction.currency",
            "row 5, column subject.identifiers",
        ]
        assert "positive" in errors[0].message

    def test_header_problems(self) -> None:
        _, errors = read(FileFormat.CSV, csv(header="report_id,Bad Column"))
        assert errors[0].location == "row 1, column 2"
        _, errors = read(FileFormat.CSV, csv(header="report_id,report_type"))
        assert errors[0].location == "row 1"
        assert "filed_at" in errors[0].message
        _, errors = read(FileFormat.CSV, b"")
        assert errors[0].message.startswith("empty file")

    def test_ragged_row(self) -> None:
        _, errors = read(FileFormat.CSV, csv(ROWS[0], "R-9,LVTR"))
        assert [e.location for e in errors] == ["row 3"]
        assert "2 cells" in errors[0].message


def test_the_documented_example_converts() -> None:
    guide = (Path(__file__).parents[4] / "docs" / "usage.md").read_text()
    example = guide.split("### CSV header")[1].split("```")[1].strip()
    reports, errors = read(FileFormat.CSV, example.encode())
    assert errors == []
    assert [r.report_id for r in reports] == ["R-1"]
