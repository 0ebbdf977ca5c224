"""ISO 20022 pacs.008 (08, 09, 10): one TXN report per credit transfer."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.reports.formats import FileFormat, detect
from tests.services.reports.formats.conftest import read

SAMPLE = Path(__file__).parents[3] / "fixtures" / "intake" / "pacs008_v09.xml"


STAND_IN_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09"
    xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified"
    targetNamespace="urn:iso:std:iso:20022:tech:xsd:pacs.008.001.09">
  <xs:element name="Document">
    <xs:complexType><xs:sequence>
      <xs:element name="FIToFICstmrCdtTrf">
        <xs:complexType><xs:sequence>
          <xs:element name="GrpHdr"><xs:complexType><xs:sequence>
            <xs:any processContents="skip" maxOccurs="unbounded"/>
          </xs:sequence></xs:complexType></xs:element>
          <xs:element name="CdtTrfTxInf" maxOccurs="unbounded"><xs:complexType><xs:sequence>
            <xs:element name="PmtId"><xs:complexType><xs:sequence>
              <xs:any processContents="skip" maxOccurs="unbounded"/>
            </xs:sequence></xs:complexType></xs:element>
            <xs:element name="IntrBkSttlmAmt"><xs:complexType><xs:simpleContent>
              <xs:extension base="Capped"><xs:attribute name="Ccy" type="xs:string"/>
              </xs:extension></xs:simpleContent></xs:complexType></xs:element>
            <xs:any processContents="skip" maxOccurs="unbounded"/>
          </xs:sequence></xs:complexType></xs:element>
        </xs:sequence></xs:complexType>
      </xs:element>
    </xs:sequence></xs:complexType>
  </xs:element>
  <xs:simpleType name="Capped">
    <xs:restriction base="xs:decimal"><xs:maxInclusive value="40000"/></xs:restriction>
  </xs:simpleType>
</xs:schema>
"""


def sample(version: str = "09") -> bytes:
    return SAMPLE.read_bytes().replace(b"pacs.008.001.09", f"pacs.008.001.{version}".encode())


class TestPacs008:
    def test_an_operators_schema_is_applied(self, tmp_path: Path) -> None:
        """With AMLSCREEN_ISO20022_XSD_DIR, each transaction is validated against the
        version's schema too (here a stand-in schema that caps the amount)."""
        (tmp_path / "pacs.008.001.09.xsd").write_text(STAND_IN_XSD)
        _, errors = read(FileFormat.ISO20022, sample(), iso20022_xsd_dir=tmp_path)
        assert [e.location for e in errors] == [
            "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]/IntrBkSttlmAmt"
        ]
        assert "maxInclusive" in errors[0].message or "40000" in errors[0].message
        reports, errors = read(FileFormat.ISO20022, sample("10"), iso20022_xsd_dir=tmp_path)
        assert errors == []  # no schema for version 10 in the directory: own checks only
        assert len(reports) == 2

    def test_formats_and_codes_are_checked(self) -> None:
        content = (
            sample()
            .replace(b"8a562c67-ca16-48ba-b074-65581be6f011", b"not-a-uetr")
            .replace(b"<ChrgBr>DEBT</ChrgBr>", b"<ChrgBr>XXXX</ChrgBr>")
            .replace(b"<BICFI>BNORMXMMXXX</BICFI>", b"<BICFI>bad</BICFI>", 1)
            .replace(b"<SttlmMtd>INDA</SttlmMtd>", b"<SttlmMtd>NONE</SttlmMtd>")
        )
        _, errors = read(FileFormat.ISO20022, content)
        assert [e.location for e in errors] == [
            "/Document/FIToFICstmrCdtTrf/GrpHdr/SttlmInf/SttlmMtd"
        ]
        content = content.replace(b"<SttlmMtd>NONE</SttlmMtd>", b"<SttlmMtd>INDA</SttlmMtd>")
        _, errors = read(FileFormat.ISO20022, content)
        assert sorted(e.location for e in errors) == [
            "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]/CdtrAgt/FinInstnId/BICFI",
            "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]/PmtId/UETR",
            "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[2]/ChrgBr",
        ]

    @pytest.mark.parametrize("version", ["08", "09", "10"])
    def test_each_transfer_becomes_a_txn_report(self, version: str) -> None:
        content = sample(version)
        assert detect("xml", content[:4096]) is FileFormat.ISO20022
        reports, errors = read(FileFormat.ISO20022, content)
        assert errors == []
        first, second = reports
        assert first.report_id == "8a562c67-ca16-48ba-b074-65581be6f011"
        assert first.report_type.value == "TXN"
        assert first.institution_id == "FBBKUS44XXX"
        assert first.jurisdiction.value == "US"
        txn = first.transaction
        assert txn is not None
        assert txn.transaction_id == first.report_id
        assert (txn.amount_minor, txn.currency) == (4_500_000, "USD")
        assert (txn.direction.value, txn.instrument.value) == ("out", "wire")
        assert txn.account_id == "0012345678"
        assert txn.counterparty is not None
        assert txn.counterparty.name == "Comercializadora del Norte SA de CV"
        assert txn.counterparty.account_id == "012345678901234567"
        assert txn.counterparty.institution_id == "BNORMXMMXXX"
        assert txn.counterparty.country == "MX"
        document = first.model_dump(mode="json")
        route = document["transaction"]["route"]
        assert [(hop["role"], hop["bic"], hop["country"]) for hop in route] == [
            ("debtor_agent", "FBBKUS44XXX", "US"),
            ("intermediary_agent", "CITIUS33XXX", "US"),
            ("creditor_agent", "BNORMXMMXXX", "MX"),
        ]
        assert first.subject.type.value == "entity"
        assert [(i.type.value, i.value) for i in first.subject.identifiers] == [
            ("EIN", "741234567")
        ]
        assert document["iso20022"]["remittance"] == {"Ustrd": "Invoice 2026-0042 electronics"}
        assert document["iso20022"]["transaction"]["Purp"] == {"Cd": "GDDS"}
        assert document["iso20022"]["message"] == f"pacs.008.001.{version}"

        assert second.subject.name == "Maria Lopez"
        assert [(i.type.value, i.country) for i in second.subject.identifiers] == [("SSN", "US")]
        assert second.transaction is not None
        assert second.transaction.amount_minor == 1_250_050
        assert second.model_dump(mode="json")["iso20022"]["remittance"] == {
            "Ustrd": ["Family support", "November"]
        }

    def test_the_creditors_bank_reports_the_creditor(self) -> None:
        reports, errors = read(
            FileFormat.ISO20022, sample(), perspective="creditor", institution_id="MX-FI-0001"
        )
        assert errors == []
        assert reports[0].subject.name == "Comercializadora del Norte SA de CV"
        assert reports[0].jurisdiction.value == "MX"
        assert [(i.type.value, i.country) for i in reports[0].subject.identifiers] == [
            ("RFC", "MX")
        ]
        assert reports[0].transaction is not None
        assert reports[0].transaction.direction.value == "in"

    def test_errors_name_the_element(self) -> None:
        content = sample().replace(b"<ChrgBr>SHAR</ChrgBr>", b"", 1)
        content = content.replace(b'Ccy="USD">12500.50', b'Ccy="USD">12500.505')
        _, errors = read(FileFormat.ISO20022, content)
        locations = [error.location for error in errors]
        assert any(
            "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]" in location for location in locations
        ), errors
        assert any(
            location.startswith("/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[2]")
            for location in locations
        ), errors

    def test_version_10_is_checked_for_what_the_mapping_needs(self) -> None:
        content = sample("10").replace(
            b"<DbtrAgt><FinInstnId><BICFI>FBBKUS44XXX</BICFI></FinInstnId></DbtrAgt>", b"", 1
        )
        _, errors = read(FileFormat.ISO20022, content)
        assert [e.as_dict() for e in errors][:1] == [
            {
                "location": "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]/DbtrAgt/FinInstnId",
                "message": "required element is missing",
            }
        ]

    def test_minor_units_follow_iso_4217(self) -> None:
        content = sample().replace(b'Ccy="USD">45000.00', b'Ccy="JPY">45000.50', 1)
        content = content.replace(b"<CtrlSum>57500.50</CtrlSum>", b"")
        _, errors = read(FileFormat.ISO20022, content)
        assert len(errors) == 1
        assert errors[0].location == "/Document/FIToFICstmrCdtTrf/CdtTrfTxInf[1]"
        assert "transaction" in errors[0].message

    def test_group_header_count_is_checked(self) -> None:
        content = sample().replace(b"<NbOfTxs>2</NbOfTxs>", b"<NbOfTxs>3</NbOfTxs>")
        reports, errors = read(FileFormat.ISO20022, content)
        assert [e.location for e in errors] == ["/Document/FIToFICstmrCdtTrf/GrpHdr/NbOfTxs"]
