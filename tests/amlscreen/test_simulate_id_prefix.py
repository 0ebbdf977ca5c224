"""``amlscreen simulate --id-prefix``: another run into the same deployment repeats no id.

Without a prefix, ids are per-institution sequence numbers from 1 whatever the seed, so a
second run collides with the first on ``(institution_id, report_id)`` (duplicates or DLQ
conflicts) and on transaction ids (the fund-flow trace merges reports by transaction id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from amlscreen.cli import main
from amlscreen.simulate import DEFAULT_START, MAX_REPORT_ID_LENGTH, longest_report_id
from models.generator import GeneratorConfig
from refdata.wire import ReportV1

ARGS = ("--seed", "11", "--reports", "2000", "--laundering-share", "0.1")


def _run(tmp_path: Path, name: str, *extra: str) -> tuple[list[dict[str, Any]], list[Any]]:
    out = tmp_path / f"{name}.jsonl"
    assert main(["simulate", "--quiet", *ARGS, "--out", str(out), *extra]) == 0
    reports = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    labels = [
        orjson.loads(line) for line in (tmp_path / f"{name}.labels.jsonl").read_bytes().splitlines()
    ]
    return reports, labels


def _ids(reports: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(report["institution_id"], report["report_id"]) for report in reports}


def _transaction_ids(reports: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (report["institution_id"], report["transaction"]["transaction_id"])
        for report in reports
        if "transaction" in report
    }


def test_runs_with_different_prefixes_share_no_id_and_labels_follow(tmp_path, capsys) -> None:
    plain, plain_labels = _run(tmp_path, "plain")
    first, first_labels = _run(tmp_path, "first", "--id-prefix", "run1-")
    second, second_labels = _run(tmp_path, "second", "--id-prefix", "run2-")

    assert len(_ids(first)) == len(_ids(second)) == len(first) == 2000
    assert not _ids(first) & _ids(second), "two prefixed runs must not repeat a report id"
    assert not _ids(first) & _ids(plain)
    assert _transaction_ids(first)
    assert not _transaction_ids(first) & _transaction_ids(second)
    for reports, labels, prefix in (
        (first, first_labels, "run1-"),
        (second, second_labels, "run2-"),
    ):
        assert [(row["institution_id"], row["report_id"]) for row in labels] == [
            (report["institution_id"], report["report_id"]) for report in reports
        ], "the labels side file names the reports by their prefixed ids"
        assert [row["typology"] for row in labels] == [row["typology"] for row in plain_labels]
        for report, original in zip(reports, plain, strict=True):
            ReportV1.model_validate(report)
            # The prefix is the only difference from the run without one (same seed).
            assert report["report_id"] == prefix + original["report_id"]
            if "transaction" in original:
                transaction = dict(report["transaction"])
                assert transaction.pop("transaction_id") == (
                    prefix + original["transaction"]["transaction_id"]
                )
                assert transaction == {
                    key: value
                    for key, value in original["transaction"].items()
                    if key != "transaction_id"
                }
            rest = {
                key: value
                for key, value in report.items()
                if key not in ("report_id", "transaction")
            }
            assert rest == {
                key: value
                for key, value in original.items()
                if key not in ("report_id", "transaction")
            }


def test_longest_generated_id_bounds_the_real_ones(tmp_path, capsys) -> None:
    reports, _labels = _run(tmp_path, "plain")
    config = GeneratorConfig(seed=11, n_reports=2000, start=DEFAULT_START)
    longest = len(longest_report_id(config))
    assert max(len(report["report_id"]) for report in reports) <= longest
    assert max(len(t) for _institution, t in _transaction_ids(reports)) <= longest


def test_the_longest_prefix_the_wire_format_allows_is_accepted(tmp_path, capsys) -> None:
    room = MAX_REPORT_ID_LENGTH - len(
        longest_report_id(GeneratorConfig(seed=11, n_reports=2000, start=DEFAULT_START))
    )
    reports, _labels = _run(tmp_path, "long", "--id-prefix", "P" * room)
    for report in reports:
        ReportV1.model_validate(report)


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("", "at least one character"),
        ("run 2", "only letters, digits and . _ : -"),
        ("-run2", "start with a letter or a digit"),
        ("rün2", "only letters, digits"),
        ("run/2", "only letters, digits"),
        ("P" * 43, "the prefix may have at most 42"),
    ],
)
def test_a_prefix_that_makes_ids_invalid_exits_2(prefix, message, tmp_path, capsys) -> None:
    out = tmp_path / "x.jsonl"
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", *ARGS, "--out", str(out), f"--id-prefix={prefix}"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
