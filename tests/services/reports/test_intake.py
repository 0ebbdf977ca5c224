"""File intake service: a large file is streamed in bounded memory, published whole or not."""

from __future__ import annotations

import tracemalloc
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.auth.enums import Role
from services.auth.service import Principal
from services.filings.profile import FilingProfile
from services.reports.intake import FileRejected, file_context, ingest_file
from tests.services.reports.formats.test_csv import HEADER, ROWS


class CountingPublisher:
    def __init__(self) -> None:
        self.records = 0
        self.calls = 0

    def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        self.records += len(records)
        self.calls += 1


def _large_csv(path: Path, rows: int) -> int:
    template = ROWS[0]
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER + "\n")
        for index in range(rows):
            out.write(
                template.replace("R-1,", f"R-{index},", 1).replace(",C-1,", f",C-{index},") + "\n"
            )
    return path.stat().st_size


def _principal() -> Principal:
    return Principal(token_id=1, role=Role.ADMIN, institution_id=None)


class TestLargeFile:
    def test_a_large_csv_is_streamed_in_bounded_memory(self, tmp_path: Path) -> None:
        path = tmp_path / "large.csv"
        size = _large_csv(path, 40_000)
        assert size > 6 * 1024 * 1024
        publisher = CountingPublisher()
        tracemalloc.start()
        try:
            with path.open("rb") as source:
                result = ingest_file(
                    source,
                    "csv",
                    principal=_principal(),
                    context=file_context(FilingProfile()),
                    publisher=publisher,
                    listed=10,
                    spool_bytes=1024 * 1024,
                )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert result.reports == publisher.records == 40_000
        assert publisher.calls == 40
        assert len(result.accepted) == 10
        # The spool keeps up to 1 MiB in memory here before it moves to disk; the rest is one
        # row, one chunk of 1,000 records and the reader's buffers: far less than the file.
        assert peak < size / 2, (peak, size)

    def test_an_error_in_the_last_row_publishes_nothing(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.csv"
        _large_csv(path, 5000)
        with path.open("a", encoding="utf-8") as out:
            out.write(ROWS[0].replace("12000.00", "abc") + "\n")
        publisher = CountingPublisher()
        with path.open("rb") as source, pytest.raises(FileRejected) as refused:
            ingest_file(
                source,
                "csv",
                principal=_principal(),
                context=file_context(FilingProfile()),
                publisher=publisher,
            )
        assert publisher.records == 0
        assert refused.value.details == [
            {
                "location": "row 5002, column transaction.amount",
                "message": refused.value.details[0]["message"],
            }
        ]
