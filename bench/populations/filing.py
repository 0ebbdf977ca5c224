"""What the institutions send: transactions become wire-format v1 reports, reportable cash
becomes LVTR (US CTR rules, Mexican ROR rule), and the institutions' own monitoring files STRs
on some launderers and, defensively, on some legitimate customers.

* A single cash transaction above the threshold is sent as an ``LVTR`` report instead of a
  ``TXN`` one (the institution's feed marks it as it goes).
* US: cash in and cash out are aggregated separately per customer and business day (weekend
  activity counts on the next business day); several transactions that only together exceed
  $10,000 stay ``TXN`` and the institution files one extra aggregated ``LVTR`` days later.
* Mexico: each cash operation at or above the MXN equivalent of USD 7,500 is an ``LVTR``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bench.populations.core import Party, Txn, chance, to_decimal
from bench.populations.population import HIGH_RISK, SECRECY, Population

US_CTR_THRESHOLD = 10_000.0  # more than this, in one business day (31 CFR 1010.311/313)
MX_ROR_THRESHOLD = 7_500.0  # at least this US-dollar equivalent, per cash operation

_CATEGORIES_US = {
    "structuring": ("structuring",),
    "funnel_account": ("funnel_account",),
    "rapid_movement": ("suspicious_eft",),
    "fan_in": ("multiple_accounts", "money_laundering"),
    "fan_out": ("suspicious_eft",),
    "round_tripping": ("no_apparent_economic_purpose",),
    "high_risk_jurisdiction": ("high_risk_jurisdiction",),
    "dormant_reactivation": ("out_of_pattern",),
    "cash_intensive_anomaly": ("unusual_cash_activity",),
    "round_amounts": ("other",),
    "tbml_third_party": ("tbml_bmpe",),
}
_CATEGORIES_MX = {
    "structuring": ("fraccionamiento",),
    "funnel_account": ("operacion_inusual",),
    "rapid_movement": ("transferencias_inusuales",),
    "fan_in": ("operacion_inusual", "terceros"),
    "fan_out": ("transferencias_inusuales",),
    "round_tripping": ("operacion_inusual",),
    "high_risk_jurisdiction": ("jurisdiccion_alto_riesgo",),
    "dormant_reactivation": ("cambio_de_perfil",),
    "cash_intensive_anomaly": ("efectivo_inusual",),
    "round_amounts": ("operacion_inusual",),
    "tbml_third_party": ("pagos_de_terceros", "comercio_exterior"),
}
_NARRATIVES = (
    "Activity reviewed after an internal monitoring alert; pattern not consistent with the "
    "customer's stated occupation or business.",
    "Customer could not explain the source of funds when asked at the branch.",
    "Volume and frequency exceed the expected profile recorded at onboarding.",
    "Reviewed as part of periodic enhanced due diligence; referred by the branch manager.",
    "Se detecto actividad inusual respecto del perfil transaccional del cliente.",
)


@dataclass(slots=True)
class Report:
    filed_at: datetime
    timestamp: datetime
    party: Party
    doc: dict[str, Any]
    typology: str | None


def transaction_doc(txn: Txn, transaction_id: str | None = None) -> dict[str, Any]:
    location: dict[str, str] = {"country": txn.country}
    if txn.branch is not None:
        location.update(region=txn.branch.region, branch_id=txn.branch.branch_id)
    doc: dict[str, Any] = {
        "transaction_id": transaction_id or txn.transaction_id,
        "timestamp": _iso(txn.timestamp),
        "amount": str(txn.amount),
        "currency": txn.currency,
        "instrument": txn.instrument,
        "direction": txn.direction,
        "channel": txn.channel,
        "account_id": txn.party.account_id,
        "location": location,
    }
    if txn.counterparty is not None:
        doc["counterparty"] = txn.counterparty.as_wire()
    return doc


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _envelope(party: Party, report_type: str, filed_at: datetime) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "report_id": "",
        "report_type": report_type,
        "institution_id": party.institution.institution_id,
        "jurisdiction": party.institution.country,
        "filed_at": _iso(filed_at),
        "subject": party.subject_wire(),
    }


def _business_day(txn: Txn) -> date:
    offset = (txn.branch or txn.party.home).utc_offset
    local = (txn.timestamp + timedelta(hours=offset)).date()
    while local.weekday() >= 5:
        local += timedelta(days=1)
    return local


class Filer:
    """Turns a population's transactions into the reports its institutions send."""

    def __init__(self, pop: Population, rng: random.Random) -> None:
        self.pop = pop
        self.rng = rng
        start = pop.calendar.utc(0, 0, 0)
        self.start = start
        self.end = start + timedelta(days=pop.days)

    def reports(self) -> list[Report]:
        txns = [txn for txn in self.pop.txns if self._reported(txn)]
        txns.sort(key=lambda txn: txn.timestamp)
        aggregated = self._mark_large_cash(txns)
        reports = [self._txn_report(txn) for txn in txns]
        reports.extend(aggregated)
        reports.extend(self._suspicious(txns))
        arrived = [report for report in reports if report.filed_at < self.end]
        arrived.sort(key=lambda report: (report.filed_at, report.timestamp))
        return arrived

    def _reported(self, txn: Txn) -> bool:
        joins = self.start + timedelta(days=txn.party.institution.joins_on_day)
        return joins <= txn.timestamp < self.end

    def _mark_large_cash(self, txns: list[Txn]) -> list[Report]:
        groups: dict[tuple[tuple[str, str], date, str], list[Txn]] = defaultdict(list)
        for txn in txns:
            if txn.instrument != "cash":
                continue
            if txn.party.institution.country == "MX":
                if txn.usd >= MX_ROR_THRESHOLD and not self._missed(txn):
                    txn.report_type = "LVTR"
                continue
            groups[(txn.party.key, _business_day(txn), txn.direction)].append(txn)
        aggregated = []
        for group in groups.values():
            if sum(txn.usd for txn in group) <= US_CTR_THRESHOLD:
                continue
            singles = [txn for txn in group if txn.usd > US_CTR_THRESHOLD]
            for txn in singles:
                if not self._missed(txn):
                    txn.report_type = "LVTR"
            if not singles and not self._missed(group[0]):
                aggregated.append(self._aggregate(group))
        return aggregated

    def _missed(self, txn: Txn) -> bool:
        return chance(self.rng, txn.party.institution.lvtr_miss_rate)

    def _aggregate(self, group: list[Txn]) -> Report:
        last = max(group, key=lambda txn: txn.timestamp)
        currencies = {txn.currency for txn in group}
        currency = currencies.pop() if len(currencies) == 1 else "USD"
        rate = self.pop.world.fx[currency]
        total = sum(float(txn.amount) / self.pop.world.fx[txn.currency] for txn in group) * rate
        filed_at = last.timestamp + timedelta(days=self.rng.uniform(1, 12))
        doc = _envelope(last.party, "LVTR", filed_at)
        transaction = transaction_doc(last, self.pop.ids.transaction_id())
        transaction["amount"] = str(to_decimal(total, currency))
        transaction["currency"] = currency
        transaction["channel"] = "branch"
        transaction.pop("counterparty", None)
        home = last.party.home
        transaction["location"] = {
            "country": home.country,
            "region": home.region,
            "branch_id": home.branch_id,
        }
        doc["transaction"] = transaction
        labels = [txn.typology for txn in group if txn.typology]
        return Report(filed_at, last.timestamp, last.party, doc, labels[0] if labels else None)

    def _txn_report(self, txn: Txn) -> Report:
        low, high = txn.party.institution.feed_delay_hours
        filed_at = txn.timestamp + timedelta(hours=self.rng.uniform(low, high))
        doc = _envelope(txn.party, txn.report_type, filed_at)
        doc["transaction"] = transaction_doc(txn)
        return Report(filed_at, txn.timestamp, txn.party, doc, txn.typology)

    def _suspicious(self, txns: list[Txn]) -> list[Report]:
        by_party: dict[tuple[str, str], list[Txn]] = defaultdict(list)
        for txn in txns:
            by_party[txn.party.key].append(txn)
        window_share = self.pop.days / 60
        reports = []
        for party in self.pop.parties:
            own = by_party.get(party.key)
            if not own:
                continue
            if party.typology is not None:
                scheme = [txn for txn in own if txn.typology]
                if scheme and chance(self.rng, party.institution.str_detection_rate):
                    reports.append(self._str(party, scheme, party.typology))
                continue
            probability = party.institution.defensive_str_rate * party.str_risk * window_share
            for _ in range(2):
                if chance(self.rng, min(0.9, probability)):
                    reports.append(self._str(party, own, None))
        return reports

    def _str(self, party: Party, activity: list[Txn], typology: str | None) -> Report:
        rng = self.rng
        if typology is None:
            basis = max(activity, key=lambda txn: txn.usd * rng.uniform(0.5, 1.5))
            categories = self._defensive_categories(basis)
        else:
            basis = rng.choice(activity)
            table = _CATEGORIES_MX if party.institution.country == "MX" else _CATEGORIES_US
            categories = list(table[typology])
            if chance(rng, 0.25):
                categories = [rng.choice(("money_laundering", "other", "operacion_inusual"))]
        seen = [txn for txn in activity if txn.timestamp <= basis.timestamp] or [basis]
        first = min(txn.timestamp for txn in seen)
        filed_at = basis.timestamp + timedelta(days=rng.uniform(3, 30))
        doc = _envelope(party, "STR", filed_at)
        doc["suspicion"] = {
            "categories": categories,
            "narrative": rng.choice(_NARRATIVES),
            "activity_from": _iso(first),
            "activity_to": _iso(basis.timestamp),
        }
        if chance(rng, 0.5):
            doc["transaction"] = transaction_doc(basis)
        return Report(filed_at, basis.timestamp, party, doc, typology)

    def _defensive_categories(self, basis: Txn) -> list[str]:
        mx = basis.party.institution.country == "MX"
        options: tuple[str, ...]
        if basis.instrument == "cash":
            options = (
                ("efectivo_inusual", "fraccionamiento")
                if mx
                else ("unusual_cash_activity", "structuring", "structuring")
            )
        elif basis.counterparty is not None and basis.counterparty.country in (
            *HIGH_RISK,
            *SECRECY,
        ):
            options = ("jurisdiccion_alto_riesgo",) if mx else ("high_risk_jurisdiction",)
        elif basis.instrument == "wire":
            options = ("transferencias_inusuales",) if mx else ("suspicious_eft", "other")
        else:
            options = ("operacion_inusual",) if mx else ("other", "out_of_pattern")
        return [self.rng.choice(options)]
