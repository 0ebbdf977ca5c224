"""Reading list files: OFAC's delimited and XML releases, FollowTheMoney lines, the unit's CSV."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from services.watchlists.entries import ListFormatError
from services.watchlists.formats import (
    ListFormat,
    guess_format,
    parse_date,
    parse_sdn_csv,
    parse_sdn_xml,
    read_list,
)
from services.watchlists.names import PartyKind

DATA = Path(__file__).parent / "data"


def _by_key(entries):
    return {entry.key: entry for entry in entries}


class TestSdnCsv:
    def test_directory_joins_the_four_files_on_ent_num(self) -> None:
        parsed = read_list(DATA / "sdn", ListFormat.SDN_CSV)
        assert parsed.files == ["sdn.csv", "add.csv", "alt.csv", "sdn_comments.csv"]
        entries = _by_key(parsed.entries)
        trafficker = entries["9001"]
        assert trafficker.kind is PartyKind.PERSON
        assert trafficker.name == "MENDEZ AVILA, Jose Ramon"
        assert trafficker.programs == ("SDNTK", "ILLICIT-DRUGS-EO14059")
        assert trafficker.birth_dates == ("1968-03-14", "1969-03-14")
        assert trafficker.countries == ("MX",)
        assert {(i.type, i.value) for i in trafficker.identifiers} == {
            ("RFC", "MEAR680314AB1"),
            ("CURP", "MEAR680314HSLNVM09"),
            ("PASSPORT", "G12345678"),
        }
        aliases = {(alias.name, alias.weak) for alias in trafficker.aliases}
        assert ("MENDEZ, Ramon", False) in aliases
        assert ("EL PATRON DEL VALLE", True) in aliases  # alt.csv remarks say weak
        assert ("EL GUERO", True) in aliases  # quoted a.k.a. in the remarks
        front = entries["9002"]
        assert front.kind is PartyKind.ENTITY
        assert front.aliases[0].kind == "fka"
        assert entries["9006"].kind is PartyKind.OBJECT
        assert entries["9006"].extra["vessel_flag"] == "Panama"

    def test_comments_continue_the_cut_remarks(self) -> None:
        volkov = _by_key(read_list(DATA / "sdn", ListFormat.SDN_CSV).entries)["9004"]
        assert [(i.type, i.value) for i in volkov.identifiers] == [("PASSPORT", "7512345678")]
        assert volkov.extra["linked_to"] == ["GRUPO SOKOL"]

    def test_the_sdn_csv_path_reads_its_siblings(self) -> None:
        by_path = read_list(DATA / "sdn" / "sdn.csv", ListFormat.SDN_CSV)
        by_directory = read_list(DATA / "sdn", ListFormat.SDN_CSV)
        assert by_path.content_sha256 == by_directory.content_sha256
        assert by_path.entries == by_directory.entries

    def test_sdn_csv_alone(self, tmp_path: Path) -> None:
        shutil.copy(DATA / "sdn" / "sdn.csv", tmp_path / "sdn.csv")
        entries = _by_key(read_list(tmp_path, ListFormat.SDN_CSV).entries)
        assert [alias.name for alias in entries["9001"].aliases] == ["EL GUERO"]

    def test_null_marker_and_bad_lines(self) -> None:
        [entry] = parse_sdn_csv('1,"ACME",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n')
        assert entry.programs == ()
        assert entry.remarks is None
        with pytest.raises(ListFormatError, match="sdn.csv line 2: 3 fields"):
            parse_sdn_csv('1,"ACME",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n2,"X",y\n')
        with pytest.raises(ListFormatError, match="ent_num 'abc'"):
            parse_sdn_csv('abc,"ACME",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n')


class TestSdnXml:
    def test_entries_match_the_delimited_release(self) -> None:
        entries = _by_key(read_list(DATA / "sdn.xml", ListFormat.SDN_XML).entries)
        trafficker = entries["9001"]
        assert trafficker.name == "MENDEZ AVILA, Jose Ramon"
        assert trafficker.birth_dates == ("1968-03-14", "1969-03-14")
        assert trafficker.countries == ("MX",)
        assert {(alias.name, alias.weak) for alias in trafficker.aliases} == {
            ("MENDEZ, Ramon", False),
            ("EL GUERO", True),
        }
        assert {i.type for i in trafficker.identifiers} == {"RFC", "CURP", "PASSPORT"}
        assert entries["9002"].kind is PartyKind.ENTITY
        assert entries["9002"].aliases[0].kind == "fka"

    def test_a_document_type_declaration_is_refused(self) -> None:
        hostile = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><sdnList/>'
        with pytest.raises(ListFormatError, match="document type declaration"):
            parse_sdn_xml(hostile)

    def test_not_xml(self) -> None:
        with pytest.raises(ListFormatError, match="not well-formed"):
            parse_sdn_xml(b"<sdnList><sdnEntry>")


class TestFollowTheMoney:
    def test_entities_with_their_passports_and_sanctions(self) -> None:
        entries = _by_key(read_list(DATA / "opensanctions.ftm.json", ListFormat.FTM).entries)
        assert set(entries) == {"os-1", "os-2"}
        person = entries["os-1"]
        assert person.kind is PartyKind.PERSON
        assert person.birth_dates == ("1971-02-09",)
        assert person.countries == ("RU",)
        assert person.programs == ("SDNTK",)
        assert [(i.type, i.value) for i in person.identifiers] == [("PASSPORT", "7101234567")]
        assert {(alias.name, alias.weak) for alias in person.aliases} == {
            ("Дмитрий Алексеевич Волков", False),
            ("Dima", True),
        }
        company = entries["os-2"]
        assert company.kind is PartyKind.ENTITY
        assert [(i.type, i.value) for i in company.identifiers] == [("RFC", "LVO150101AA1")]

    def test_a_line_that_is_not_an_entity(self, tmp_path: Path) -> None:
        path = tmp_path / "bad.json"
        path.write_text('{"id": "a", "schema": "Person", "properties": {}}\n[1, 2]\n')
        with pytest.raises(ListFormatError, match="line 2: not an entity"):
            read_list(path, ListFormat.FTM)


class TestUnitCsv:
    def test_columns(self) -> None:
        entries = _by_key(read_list(DATA / "unit.csv", ListFormat.CSV).entries)
        mule = entries["U-1"]
        assert mule.name == "Rogelio Benítez Cruz"
        assert {(alias.name, alias.weak) for alias in mule.aliases} == {
            ("El Contador", False),
            ("Roge", True),
        }
        assert mule.birth_dates == ("1979-05-30",)
        assert [(i.type, i.value, i.country) for i in mule.identifiers] == [
            ("RFC", "BECR790530QQ1", "MX"),
            ("CURP", "BECR790530HSLNRG04", None),
        ]
        assert mule.programs == ("mules",)
        assert entries["U-2"].kind is PartyKind.ENTITY

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("name,type\nX,person\n", "must name at least 'id' and 'name'"),
            ("id,name,colour\n1,X,red\n", "unknown column"),
            ("id,name,type\n1,X,robot\n", "line 2: type must be person or entity"),
            ("id,name,birth_date\n1,X,yesterday\n", "line 2: birth_date 'yesterday'"),
            ("id,name,identifiers\n1,X,DNA:123\n", "line 2: identifier 'DNA'"),
            ("id,name\n1,X\n1,Y\n", "entry id '1' appears twice"),
        ],
    )
    def test_errors_name_the_line(self, tmp_path: Path, text: str, message: str) -> None:
        path = tmp_path / "list.csv"
        path.write_text(text)
        with pytest.raises(ListFormatError, match=message):
            read_list(path, ListFormat.CSV)


def test_dates_and_format_guesses() -> None:
    assert parse_date("04 Apr 1957") == ["1957-04-04"]
    assert parse_date("Apr 1957") == ["1957-04"]
    assert parse_date("circa 1957") == ["1957"]
    assert parse_date("1955 to 1957") == ["1955", "1956", "1957"]
    assert parse_date("sometime") == []
    assert guess_format(DATA / "sdn") is ListFormat.SDN_CSV
    assert guess_format(DATA / "sdn.xml") is ListFormat.SDN_XML
    assert guess_format(DATA / "opensanctions.ftm.json") is ListFormat.FTM
    assert guess_format(DATA / "unit.csv") is ListFormat.CSV
