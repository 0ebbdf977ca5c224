"""Closed vocabularies of the wire format v1 (DESIGN.md §4)."""

from enum import StrEnum


class ReportType(StrEnum):
    LVTR = "LVTR"
    STR = "STR"
    TXN = "TXN"


class Jurisdiction(StrEnum):
    US = "US"
    MX = "MX"


class SubjectType(StrEnum):
    PERSON = "person"
    ENTITY = "entity"


class IdentifierType(StrEnum):
    SSN = "SSN"
    ITIN = "ITIN"
    EIN = "EIN"
    RFC = "RFC"
    CURP = "CURP"
    PASSPORT = "PASSPORT"
    OTHER = "OTHER"


class Instrument(StrEnum):
    CASH = "cash"
    WIRE = "wire"
    CHECK = "check"
    ACH = "ach"
    CARD = "card"
    MONEY_ORDER = "money_order"
    CRYPTO = "crypto"
    OTHER = "other"


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Channel(StrEnum):
    BRANCH = "branch"
    ATM = "atm"
    ONLINE = "online"
    MOBILE = "mobile"
    CORRESPONDENT = "correspondent"
    OTHER = "other"
