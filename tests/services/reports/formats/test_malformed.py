"""Malformed files: the error names the element (or row); nothing of the file is accepted."""

from __future__ import annotations

import re

from services.reports.formats import FileFormat
from tests.services.reports.formats.builders import ctr_batch
from tests.services.reports.formats.conftest import read

GOAML = b"""<?xml version="1.0" encoding="UTF-8"?>
<report>
  <rentity_id>MX-RE-77</rentity_id>
  <submission_code>E</submission_code>
  <report_code>ROR</report_code>
  <entity_reference>REF-1</entity_reference>
  <submission_date>2026-11-28T10:00:00</submission_date>
  <currency_code_local>MXN</currency_code_local>
  <location><address_type>B</address_type><address>Av. 1</address><city>Juarez</city>
    <country_code>MX</country_code></location>
  <transaction>
    <transactionnumber>T-1</transactionnumber>
    <internal_ref_number>R-1</internal_ref_number>
    <date_transaction>2026-11-27T10:00:00</date_transaction>
    <transmode_code>K</transmode_code>
    <amount_local>150000.00</amount_local>
    <t_from_my_client><from_funds_code>K</from_funds_code>
      <from_person><first_name>Ana</first_name><last_name>Ruiz</last_name></from_person>
      <from_country>MX</from_country></t_from_my_client>
    <t_to_my_client><to_funds_code>A</to_funds_code>
      <to_account><institution_code>MX-RE-77</institution_code><account>MX-1</account>
        <currency_code>MXN</currency_code><client_number>C-1</client_number>
        <signatory><is_primary>true</is_primary><t_person><first_name>Ana</first_name>
        <last_name>Ruiz</last_name></t_person></signatory></to_account>
      <to_country>MX</to_country></t_to_my_client>
  </transaction>
  <report_indicators><indicator>OTHER</indicator></report_indicators>
</report>
"""


class TestFinCEN:
    def test_a_valid_batch_reads_whole(self) -> None:
        reports, errors = read(FileFormat.FINCEN, ctr_batch(3))
        assert errors == []
        assert len(reports) == 6

    def test_a_schema_error_names_the_activity_and_element(self) -> None:
        content = re.sub(
            rb"<fc2:TransactionDateText>\d+</fc2:TransactionDateText>", b"", ctr_batch(3), count=1
        )
        reports, errors = read(FileFormat.FINCEN, content)
        assert errors, "a CTR without its transaction date must be refused"
        assert errors[0].location.startswith("/EFilingBatchXML/Activity[1]")
        assert "TransactionDateText" in errors[0].message

    def test_bad_code_names_the_detail(self) -> None:
        content = ctr_batch(2).replace(
            b"<fc2:CurrencyTransactionActivityDetailTypeCode>55<",
            b"<fc2:CurrencyTransactionActivityDetailTypeCode>77<",
        )
        _, errors = read(FileFormat.FINCEN, content)
        assert errors
        assert errors[0].location.startswith(
            "/EFilingBatchXML/Activity[1]/CurrencyTransactionActivity"
        )

    def test_duplicate_seqnum_and_wrong_counts(self) -> None:
        content = ctr_batch(2)
        seq = re.findall(rb'<fc2:Activity SeqNum="(\d+)"', content)
        content = content.replace(
            b'<fc2:Activity SeqNum="%s"' % seq[1], b'<fc2:Activity SeqNum="%s"' % seq[0]
        )
        _, errors = read(FileFormat.FINCEN, content)
        assert any("SeqNum is not unique" in e.message for e in errors), errors
        assert any(e.location.startswith("/EFilingBatchXML/Activity[2]") for e in errors)

        content = ctr_batch(2).replace(b'ActivityCount="2"', b'ActivityCount="3"')
        _, errors = read(FileFormat.FINCEN, content)
        assert [e.as_dict() for e in errors] == [
            {"location": "/EFilingBatchXML/@ActivityCount", "message": "says 3, the batch holds 2"}
        ]

    def test_entities_and_broken_xml_are_refused(self) -> None:
        bomb = (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b'<fc2:EFilingBatchXML xmlns:fc2="www.fincen.gov/base">&b;</fc2:EFilingBatchXML>'
        )
        _, errors = read(FileFormat.FINCEN, bomb)
        assert errors
        assert "refused" in errors[0].message
        _, errors = read(FileFormat.FINCEN, ctr_batch(1)[:-40])
        assert errors
        assert errors[0].location.startswith("line ")


class TestGoAML:
    def test_a_cash_deposit(self) -> None:
        (report,), errors = read(FileFormat.GOAML, GOAML)
        assert errors == []
        assert (report.report_id, report.report_type.value, report.jurisdiction.value) == (
            "R-1",
            "LVTR",
            "MX",
        )
        assert report.institution_id == "MX-RE-77"
        assert report.transaction is not None
        assert (report.transaction.direction.value, report.transaction.instrument.value) == (
            "in",
            "cash",
        )
        assert report.transaction.amount_minor == 15_000_000
        assert report.subject.subject_id == "C-1"

    def test_errors_name_the_element(self) -> None:
        _, errors = read(
            FileFormat.GOAML, GOAML.replace(b"<transmode_code>K", b"<transmode_code>ZZ")
        )
        assert [e.location for e in errors] == ["/report/transaction[1]/transmode_code"]
        _, errors = read(FileFormat.GOAML, GOAML.replace(b"<report_code>ROR</report_code>", b""))
        assert [e.location for e in errors] == ["/report/report_code"]
        _, errors = read(
            FileFormat.GOAML, GOAML.replace(b"<amount_local>150000.00", b"<amount_local>-1")
        )
        assert errors[0].location == "/report/transaction[1]"
        assert "transaction" in errors[0].message
