"""Intake throughput of each file format, and the memory a large file takes.

    .venv/bin/python bench/intake_bench.py --size-mb 4 --runs 3 --large-mb 50

For each format (FinCEN CTRX, FinCEN SARX, ISO 20022 pacs.008, goAML, CSV) a file of about
``--size-mb`` is generated, then converted ``--runs`` times by the same code as
``POST /v1/reports`` / ``/v1/reports/files`` and the format topics (``convert``: parse,
validate against the schema where there is one, map, validate as wire format v1); the median
gives reports/s and MB/s. ``json`` is the reference: the same number of wire-format JSON
messages validated as the worker decodes ``aml.reports`` (``decode_report``).

``--large-mb N``: each format again as an N MB file, through ``ingest_file`` (conversion,
spooling and chunked publishing to a publisher that drops the records) in a child process of
its own, which reports its peak resident memory (VmHWM) before and after: bounded memory
means the difference stays far below the file size.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import IO

import orjson

from refdata.wire import ReportV1
from services.auth.enums import Role
from services.auth.service import Principal
from services.filings import fincen
from services.filings.profile import FilingProfile
from services.reports.decode import decode_report
from services.reports.formats import FileFormat, IntakeContext, convert
from services.reports.intake import file_context, ingest_file

ROOT = Path(__file__).resolve().parents[1]
PACS008 = ROOT / "tests" / "fixtures" / "intake" / "pacs008_v09.xml"
PROFILE = {
    "transmitter": {
        "name": "Bench Filing Services",
        "tcc": "PTCC1234",
        "tin": "458985215",
        "address": {"street": "1 Main St", "city": "Vienna", "state": "VA", "zip": "22113"},
        "phone": "703-555-0100",
        "contact_name": "Filing Desk",
    },
    "institutions": {
        "US-FI-0001": {
            "name": "First Border Bank",
            "tin": "12-5478965",
            "regulator_code": "4",
            "address": {"street": "10 Elm St", "city": "El Paso", "state": "TX", "zip": "79901"},
            "contact_office": "BSA Office",
            "contact_phone": "915-555-0199",
        }
    },
}
CSV_HEADER = (
    "report_id,report_type,institution_id,jurisdiction,filed_at,subject.subject_id,"
    "subject.type,subject.name,subject.country,subject.identifiers,transaction.transaction_id,"
    "transaction.timestamp,transaction.amount,transaction.currency,transaction.instrument,"
    "transaction.direction,transaction.channel,transaction.account_id\n"
)


def write_fincen(out: IO[bytes], target_bytes: int, form: str) -> None:
    """A CTRX (two cash-in details per person) or SARX (one subject) batch of about the size."""
    profile = FilingProfile.model_validate(PROFILE)
    institution = profile.institutions["US-FI-0001"]
    assert profile.transmitter is not None
    per_activity = 6_700 if form == "CTRX" else 6_000
    count = max(1, target_bytes // per_activity)
    subjects = [
        fincen.SubjectData(
            subject_key=f"K{i}",
            document={
                "subject_id": f"C-{i}",
                "type": "person",
                "name": f"Juan Pérez {i}",
                "country": "US",
                "identifiers": [{"type": "SSN", "value": f"9{i:08d}"}],
            },
            accounts=(f"ACC-{i}",),
        )
        for i in range(count)
    ]
    if form == "CTRX":
        ctr = [
            fincen.CtrActivity(
                institution_id="US-FI-0001",
                institution=institution,
                filing_date=date(2026, 11, 28),
                business_day=date(2026, 11, 27),
                subject=subject,
                cash_in_usd=12_000,
                cash_out_usd=0,
                cash_in_accounts=[f"ACC-{i}"],
                cash_out_accounts=[],
                details=[fincen.CtrDetail("55", 6000), fincen.CtrDetail("55", 6000)],
                transaction_count=2,
            )
            for i, subject in enumerate(subjects)
        ]
        content, _ = fincen.build_ctr_batch(profile.transmitter, ctr)
    else:
        sar = [
            fincen.SarActivity(
                institution_id="US-FI-0001",
                institution=institution,
                filing_date=date(2026, 11, 28),
                subjects=[subject],
                branch_ids=[],
                from_date=date(2026, 11, 1),
                to_date=date(2026, 11, 20),
                total_usd=9500,
                classifications=[(1, 114)],
                other_text=None,
                narrative=f"Deposits split below the threshold, case {i}. " * 20,
            )
            for i, subject in enumerate(subjects)
        ]
        content, _ = fincen.build_sar_batch(profile.transmitter, sar)
    out.write(content)


def write_pacs008(out: IO[bytes], target_bytes: int) -> None:
    text = PACS008.read_text()
    head, rest = text.split("<CdtTrfTxInf>", 1)
    block = "<CdtTrfTxInf>" + rest.split("</CdtTrfTxInf>", 1)[0] + "</CdtTrfTxInf>\n"
    count = max(1, target_bytes // len(block))
    head = head.replace("<NbOfTxs>2</NbOfTxs>", f"<NbOfTxs>{count}</NbOfTxs>")
    head = head.replace("<CtrlSum>57500.50</CtrlSum>", "")
    out.write(head.encode())
    for _ in range(count):
        out.write(block.replace("8a562c67-ca16-48ba-b074-65581be6f011", str(uuid.uuid4())).encode())
    out.write(b"</FIToFICstmrCdtTrf>\n</Document>\n")


GOAML_TRANSACTION = """  <transaction>
    <transactionnumber>T-{n}</transactionnumber>
    <internal_ref_number>R-{n}</internal_ref_number>
    <transaction_description>cash deposit/credit via branch</transaction_description>
    <date_transaction>2026-11-27T10:00:00</date_transaction>
    <transmode_code>K</transmode_code>
    <amount_local>150000.00</amount_local>
    <t_from_my_client><from_funds_code>K</from_funds_code>
      <from_person><first_name>Ana</first_name><last_name>Ruiz {n}</last_name></from_person>
      <from_country>MX</from_country></t_from_my_client>
    <t_to_my_client><to_funds_code>A</to_funds_code>
      <to_account><institution_code>MX-RE-77</institution_code><account>MX-{n}</account>
        <currency_code>MXN</currency_code><client_number>C-{n}</client_number>
        <signatory><is_primary>true</is_primary><t_person><first_name>Ana</first_name>
        <last_name>Ruiz {n}</last_name></t_person></signatory></to_account>
      <to_country>MX</to_country></t_to_my_client>
  </transaction>
"""


def write_goaml(out: IO[bytes], target_bytes: int) -> None:
    out.write(
        b"<?xml version='1.0' encoding='UTF-8'?>\n<report><rentity_id>MX-RE-77</rentity_id>"
        b"<submission_code>E</submission_code><report_code>ROR</report_code>"
        b"<entity_reference>BENCH</entity_reference>"
        b"<submission_date>2026-11-28T10:00:00</submission_date>"
        b"<currency_code_local>MXN</currency_code_local><location><address_type>B"
        b"</address_type><address>Av. 1</address><city>Juarez</city><country_code>MX"
        b"</country_code></location>\n"
    )
    count = max(1, target_bytes // len(GOAML_TRANSACTION))
    for n in range(count):
        out.write(GOAML_TRANSACTION.format(n=n).encode())
    out.write(b"<report_indicators><indicator>OTHER</indicator></report_indicators></report>\n")


def write_csv(out: IO[bytes], target_bytes: int) -> None:
    out.write(CSV_HEADER.encode())
    row = (
        "R-{n},LVTR,US-FI-0001,US,2026-11-28T10:00:00Z,C-{n},person,Ana Ruiz {n},US,"
        "SSN:9{n:08d}:US,T-{n},2026-11-28T09:00:00Z,12000.00,USD,cash,in,branch,ACC-{n}\n"
    )
    count = max(1, target_bytes // len(row.format(n=0)))
    for n in range(count):
        out.write(row.format(n=n).encode())


WRITERS: dict[str, Callable[[IO[bytes], int], None]] = {
    "fincen-ctrx": lambda out, size: write_fincen(out, size, "CTRX"),
    "fincen-sarx": lambda out, size: write_fincen(out, size, "SARX"),
    "iso20022": write_pacs008,
    "goaml": write_goaml,
    "csv": write_csv,
}
FORMATS = {
    "fincen-ctrx": FileFormat.FINCEN,
    "fincen-sarx": FileFormat.FINCEN,
    "iso20022": FileFormat.ISO20022,
    "goaml": FileFormat.GOAML,
    "csv": FileFormat.CSV,
}
CONTEXT = IntakeContext(institution_id="US-FI-0001")


def generate(name: str, size_mb: float, directory: Path) -> Path:
    path = directory / f"{name}-{size_mb:g}MB.{'csv' if name == 'csv' else 'xml'}"
    if not path.exists():
        with path.open("wb") as out:
            WRITERS[name](out, int(size_mb * 1024 * 1024))
    return path


def time_convert(name: str, content: bytes) -> tuple[int, float]:
    reports: list[ReportV1] = []
    started = time.perf_counter()
    errors = convert(FORMATS[name], io.BytesIO(content), CONTEXT, reports.append)
    elapsed = time.perf_counter() - started
    assert not errors, errors[:3]
    return len(reports), elapsed


def time_json(messages: Sequence[bytes]) -> float:
    started = time.perf_counter()
    for message in messages:
        decoded = decode_report(message, max_bytes=1 << 20)
        assert isinstance(decoded, ReportV1)
    return time.perf_counter() - started


class _Dropping:
    def publish(self, records: Sequence[tuple[bytes, bytes]]) -> None:
        pass


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). ru_maxrss would not do: Linux carries
    the parent's peak over fork and exec, and the parent generated the file."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_large(name: str, path: Path) -> dict[str, float]:
    """In a child process: ingest_file over the file; peak RSS before and after."""
    # Warm the schema caches and imports so that ``before`` holds them.
    time_convert(name, generate_small(name))
    before = peak_rss_mb()
    kind = "csv" if name == "csv" else "xml"
    started = time.perf_counter()
    with path.open("rb") as source:
        result = ingest_file(
            source,
            kind,
            principal=Principal(token_id=0, role=Role.ADMIN, institution_id=None),
            context=file_context(FilingProfile(), institution_id="US-FI-0001"),
            publisher=_Dropping(),
        )
    elapsed = time.perf_counter() - started
    after = peak_rss_mb()
    return {
        "reports": result.reports,
        "seconds": elapsed,
        "file_mb": path.stat().st_size / 1024 / 1024,
        "rss_before_mb": before,
        "rss_peak_mb": after,
    }


def generate_small(name: str) -> bytes:
    buffer = io.BytesIO()
    WRITERS[name](buffer, 20_000)
    return buffer.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--large-mb", type=float, default=0.0)
    parser.add_argument("--formats", default=",".join(WRITERS))
    parser.add_argument("--dir", help="where generated files are kept (default: a temp dir)")
    parser.add_argument("--measure", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure_large(args.measure[0], Path(args.measure[1]))))  # noqa: T201
        return 0
    names = args.formats.split(",")
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="intake-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    print(f"files in {directory}; started {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")  # noqa: T201
    print(f"{'format':<12} {'MB':>6} {'reports':>8} {'reports/s':>10} {'MB/s':>7}  runs (s)")  # noqa: T201
    csv_reports: list[bytes] = []
    for name in names:
        path = generate(name, args.size_mb, directory)
        content = path.read_bytes()
        times = []
        count = 0
        for _ in range(args.runs):
            count, elapsed = time_convert(name, content)
            times.append(elapsed)
        median = statistics.median(times)
        size = len(content) / 1024 / 1024
        print(  # noqa: T201
            f"{name:<12} {size:6.1f} {count:8d} {count / median:10.0f} {size / median:7.2f}  "
            + " ".join(f"{t:.2f}" for t in times)
        )
        if name == "csv":
            reports: list[ReportV1] = []
            convert(FileFormat.CSV, io.BytesIO(content), CONTEXT, reports.append)
            csv_reports = [orjson.dumps(r.model_dump(mode="json")) for r in reports]
    if csv_reports:
        times = [time_json(csv_reports) for _ in range(args.runs)]
        median = statistics.median(times)
        size = sum(map(len, csv_reports)) / 1024 / 1024
        print(  # noqa: T201
            f"{'json (ref)':<12} {size:6.1f} {len(csv_reports):8d} "
            f"{len(csv_reports) / median:10.0f} {size / median:7.2f}  "
            + " ".join(f"{t:.2f}" for t in times)
        )
    if args.large_mb:
        print(f"\nlarge files (~{args.large_mb:g} MB) through ingest_file, one child process each")  # noqa: T201
        for name in names:
            path = generate(name, args.large_mb, directory)
            done = subprocess.run(
                [sys.executable, __file__, "--measure", name, str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            print(  # noqa: T201
                f"{name:<12} {figures['file_mb']:6.1f} MB  {figures['reports']:8d} reports"
                f"  {figures['seconds']:7.1f} s  {figures['reports'] / figures['seconds']:7.0f}"
                f" reports/s  peak RSS {figures['rss_peak_mb']:6.1f} MB"
                f" (before {figures['rss_before_mb']:5.1f} MB)"
            )
    print(f"finished {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
