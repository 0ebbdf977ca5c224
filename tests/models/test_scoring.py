"""Scoring: alerts from the model or forcing rules, typology guesses, reasons in plain words."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from models.features import FEATURE_COLUMNS, features_from_documents
from models.pipeline import ArrayModel, FitAverage
from models.registry import load_bundle
from models.rules import RuleConfig
from models.scoring import (
    FEATURE_GROUPS,
    TYPOLOGY_EVIDENCE,
    Scorer,
    score_file,
    supported_typologies,
)
from simulator.generate import GeneratorConfig, generate
from tests.models.test_features import report
from tests.models.test_registry import TINY, tiny_model
from tests.models.test_rules import as_entity

MONDAY = "2026-03-09"


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    return Scorer(load_bundle(tiny_model()))


def structuring_case(subject: str = "S1") -> list[dict]:
    return [
        report(
            i,
            at=f"{MONDAY}T1{i}:00:00Z",
            amount=amount,
            instrument="cash",
            branch=f"B{i}",
            subject=subject,
        )
        for i, amount in enumerate(["9500.00", "9200.00", "9800.00"], start=1)
    ]


class TestScore:
    def test_forcing_rules_alert_whatever_the_score(self, scorer):
        documents = [
            *structuring_case(),
            report(
                9,
                at=f"{MONDAY}T18:00:00Z",
                subject="S9",
                direction="out",
                counterparty={"account_id": "X", "country": "KP"},
            ),
        ]
        frame = features_from_documents(documents).sort("seq")
        strict = Scorer(scorer.bundle, threshold=1.01)
        scored = strict.score(frame)
        assert scored.alerts.tolist() == [False, True, True, True]
        assert "Structuring pattern" in scored.reasons[2][0]
        assert scored.reasons[3][0] == "Counterparty in a high-risk jurisdiction (KP)"
        assert all(scored.typologies[i] for i in (1, 2, 3))
        assert any(key.startswith("contribution.") for key in scored.top_features[3])
        assert scored.reasons[0] == []

    def test_a_legal_entitys_structuring_hit_alerts_only_on_its_score(self, scorer):
        rules = RuleConfig(
            structuring_forces_alert_entities=False, structuring_entity_min_near_share=None
        )
        strict = Scorer(scorer.bundle, threshold=1.01, rules=rules)
        business = features_from_documents([as_entity(d) for d in structuring_case()]).sort("seq")
        scored = strict.score(business)
        assert scored.alerts.tolist() == [False, False, False]
        assert [hit.rule for hit in scored.rule_hits[2]] == ["structuring"]
        assert "Structuring pattern" in scored.reasons[2][0]
        assert strict.score_rules(business)["forced"].to_list() == [False, False, False]
        person = features_from_documents(structuring_case()).sort("seq")
        assert strict.score_rules(person)["forced"].to_list() == [False, True, True]
        # By default a business whose cash deposits all sit just under the threshold forces.
        default = Scorer(scorer.bundle, threshold=1.01)
        assert default.score(business).alerts.tolist() == [False, True, True]

    def test_typologies_with_known_scores_match_the_full_model(self, scorer):
        config = GeneratorConfig(
            seed=31, n_reports=3_000, start=datetime(2026, 2, 2, tzinfo=UTC), laundering_share=0.2
        )
        frame = features_from_documents([item.report for item in generate(config)])
        scores = scorer.laundering_scores(frame)
        rows = np.flatnonzero(scores > 0.01)[:500]
        subset = frame[rows.tolist()]
        assert rows.size > 50
        # The worker passes the scores it has; the detector is not run again.
        assert scorer.typologies(subset, positive=scores[rows]) == scorer.typologies(subset)

    def test_the_threshold_decides_otherwise(self, scorer):
        frame = features_from_documents(
            [report(i, at=f"{MONDAY}T1{i}:00:00Z", amount="80.00") for i in range(4)]
        )
        scores = scorer.laundering_scores(frame)
        assert ((scores >= 0) & (scores <= 1)).all()
        everything = Scorer(scorer.bundle, threshold=0.0).score(frame)
        assert everything.alerts.all()
        assert all(len(reasons) >= 1 for reasons in everything.reasons)
        assert not Scorer(scorer.bundle, threshold=1.01).score(frame).alerts.any()


class TestExplanations:
    def test_groups_name_real_features(self):
        for group in FEATURE_GROUPS:
            assert set(group.features) <= set(FEATURE_COLUMNS), group.name

    def test_structuring_in_plain_words(self):
        frame = features_from_documents(structuring_case()).sort("seq")
        sentence = next(g for g in FEATURE_GROUPS if g.name == "structuring").sentence
        assert sentence(frame.row(2, named=True)) == (
            "3 cash deposits of $9,200–$9,800 in 7 days at 3 branches,"
            " just below the reporting threshold"
        )

    def test_every_sentence_renders(self):
        documents = [
            *structuring_case(),
            report(
                5,
                at=f"{MONDAY}T16:30:00Z",
                amount="20000.00",
                direction="out",
                counterparty={"account_id": "Q", "country": "IR"},
            ),
        ]
        row = features_from_documents(documents).sort("seq").row(3, named=True)
        for group in FEATURE_GROUPS:
            assert group.sentence(row)


class TestExplanationsAreTrue:
    """The model may lean on a group whose values are ordinary; the reasons then name the next
    group that shows its red flag, never "Activity after 1 days without any report"."""

    def test_an_ordinary_gap_is_not_named_dormancy(self, frame, monkeypatch) -> None:
        scorer = Scorer(load_bundle(tiny_model()))
        idle = FEATURE_COLUMNS.index("idle_days")
        volume = FEATURE_COLUMNS.index("usd_7d")

        def scores(rows):
            # Short gaps score high (dormancy's part is the largest), volume a little.
            matrix = rows if isinstance(rows, np.ndarray) else rows.to_numpy()
            gap = np.nan_to_num(matrix[:, idle], nan=10.0)
            return 1.0 / (1.0 + gap) * 0.9 + 0.1 * (np.nan_to_num(matrix[:, volume]) > 0)

        monkeypatch.setattr(scorer, "_scores", scores)
        rows = frame.filter(
            (pl.col("idle_days") < 5)
            & (pl.col("max_idle_days_30d").fill_null(0) < 5)
            & (pl.col("account_age_days").fill_null(1_000) >= 90)
            & (pl.col("usd_7d") > 0)
        ).head(20)
        assert rows.height
        base = scores(rows.select(FEATURE_COLUMNS).cast(pl.Float64).to_numpy())
        sentences, _ = scorer._explain(rows, base)
        assert all(sentences)
        for reasons in sentences:
            assert not any("without any report" in reason for reason in reasons), reasons

        # The same rows after a real gap, with long gaps scoring high: now dormancy speaks.
        def long_gaps_score(rows):
            matrix = rows if isinstance(rows, np.ndarray) else rows.to_numpy()
            gap = np.nan_to_num(matrix[:, idle], nan=0.0)
            return gap / (gap + 10.0)

        monkeypatch.setattr(scorer, "_scores", long_gaps_score)
        gapped = rows.with_columns(pl.lit(45.0).alias("idle_days"))
        base = long_gaps_score(gapped.select(FEATURE_COLUMNS).cast(pl.Float64).to_numpy())
        sentences, _ = scorer._explain(gapped, base)
        assert all(
            "Activity after 45 days without any report on the subject" in reasons
            for reasons in sentences
        ), sentences


class TestBacktest:
    def test_score_file_writes_one_line_per_report_in_order(self, scorer, tmp_path: Path):
        config = GeneratorConfig(
            seed=99,
            n_reports=3_000,
            start=datetime(2026, 2, 2, tzinfo=UTC),
            days=10,
            laundering_share=0.1,
        )
        source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        with source.open("wb") as handle:
            for item in generate(config):
                handle.write(orjson.dumps(item.report) + b"\n")
        summary = score_file(source, target, scorer)
        lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
        inputs = [orjson.loads(line) for line in source.read_bytes().splitlines()]
        assert summary["reports"] == len(lines) == len(inputs)
        assert [line["report_id"] for line in lines] == [doc["report_id"] for doc in inputs]
        assert set(lines[0]) >= {
            "report_id",
            "institution_id",
            "score",
            "alert",
            "reasons",
            "typology",
        }
        assert summary["alerts"] == sum(line["alert"] for line in lines)
        alerted = [line for line in lines if line["alert"]]
        assert all(line["typology"] and line["reasons"] for line in alerted)


class TestCommandLine:
    def test_score_and_evaluate_commands(self, tmp_path: Path, capsys):
        from amlscreen.cli import main  # noqa: PLC0415

        model = str(tiny_model())
        source, target = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        source.write_bytes(b"".join(orjson.dumps(doc) + b"\n" for doc in structuring_case()))
        assert (
            main(["score", str(source), str(target), "--model", model, "--threshold", "1.01"]) == 0
        )
        lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
        assert [line["alert"] for line in lines] == [False, True, True]
        assert main(["evaluate", "--seed", str(TINY.seed), "--model", model]) == 2
        assert "training seed" in capsys.readouterr().err
        tampered = tmp_path / "model.skops"
        tampered.write_bytes(Path(model).read_bytes() + b"\0")
        (tmp_path / "model.card.json").write_bytes(
            Path(model).with_name("model.card.json").read_bytes()
        )
        assert main(["score", str(source), str(target), "--model", str(tampered)]) == 2


def test_investigator_decisions_become_labels():
    from models.train import dispositions_dataset  # noqa: PLC0415

    documents = structuring_case() + [report(7, at=f"{MONDAY}T18:00:00Z", subject="S7")]
    outcomes = [
        {
            "institution_id": "US-FI-0001",
            "report_id": "R000003",
            "label": "confirmed",
            "typology": "structuring",
        },
        {
            "institution_id": "US-FI-0001",
            "report_id": "R000007",
            "label": "false_positive",
            "typology": None,
        },
    ]
    dataset = dispositions_dataset(documents, outcomes)
    assert dataset.features["report_id"].to_list() == ["R000003", "R000007"]
    assert dataset.labels == ["structuring", "legit"]
    # The confirmed report's features saw the two earlier legs of its history.
    assert dataset.features["day_near_n"][0] == 3


class TestUnknownCurrency:
    def test_a_report_without_a_rate_says_so(self, scorer, tmp_path):
        from refdata.fx import parse_rates  # noqa: PLC0415

        source = tmp_path / "in.jsonl"
        target = tmp_path / "out.jsonl"
        documents = [
            report(1, at=f"{MONDAY}T10:00:00Z", amount="9000.00", currency="CHF"),
            report(2, at=f"{MONDAY}T11:00:00Z", amount="9000.00"),
        ]
        source.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in documents))
        rates = parse_rates("USD,1\n", "only dollars")
        score_file(source, target, scorer, rates=rates)
        rows = [orjson.loads(line) for line in target.read_bytes().splitlines()]
        assert "no exchange rate" in rows[0]["reasons"][0]
        assert "CHF" in rows[0]["reasons"][0]
        assert not any("exchange rate" in reason for reason in rows[1]["reasons"])
        # With the shipped table CHF converts and no such reason appears.
        score_file(source, target, scorer)
        rows = [orjson.loads(line) for line in target.read_bytes().splitlines()]
        assert not any("exchange rate" in reason for reason in rows[0]["reasons"])


class TestSentences:
    """Reasons read as plain English whatever the counts (investigators read them as written)."""

    @staticmethod
    def _sentence(group: str, **row: float) -> str:
        (found,) = [candidate for candidate in FEATURE_GROUPS if candidate.name == group]
        return found.sentence(row)

    def test_one_of_a_kind_is_singular(self) -> None:
        assert self._sentence(
            "round_amounts", round1000_n_30d=1, round100_share_30d=0.1, round1000_share_30d=0.12
        ) == ("1 transaction in round thousands within 30 days (12% of them)")
        assert self._sentence("fan_in", cp_payers_7d=1, payers_7d=1) == (
            "Payments received from 1 account in 7 days"
        )
        assert self._sentence("fan_out", cp_payees_7d=0, payees_7d=3, countries_7d=1) == (
            "Payments to 3 different accounts in 1 country within 7 days"
        )
        # One payee: the countries, of every counterparty, are the breadth.
        assert self._sentence("fan_out", cp_payees_7d=0, payees_7d=1, countries_7d=2) == (
            "Counterparties in 2 countries within 7 days"
        )
        assert self._sentence("cash_out", cash_out_usd_7d=9000.0, cash_out_n_7d=1) == (
            "Cash withdrawals of $9,000 in 7 days (1 withdrawal)"
        )

    def test_a_group_speaks_only_where_the_report_shows_its_red_flag(self) -> None:
        (dormancy,) = [g for g in FEATURE_GROUPS if g.name == "dormancy"]
        (fan_in,) = [g for g in FEATURE_GROUPS if g.name == "fan_in"]
        (locations,) = [g for g in FEATURE_GROUPS if g.name == "locations"]
        ordinary = {"idle_days": 1.2, "max_idle_days_30d": 3.0, "account_age_days": 900.0}
        assert not dormancy.notable(ordinary)
        assert not dormancy.notable({**ordinary, "account_age_days": None})
        gap = {**ordinary, "idle_days": 45.4}
        assert dormancy.notable(gap)
        assert dormancy.sentence(gap) == "Activity after 45 days without any report on the subject"
        young = {**ordinary, "account_age_days": 12.0}
        assert dormancy.notable(young)
        assert dormancy.sentence(young) == "The account was opened 12 days earlier"
        assert dormancy.sentence({**young, "account_age_days": 1.0}) == (
            "The account was opened 1 day earlier"
        )
        assert not fan_in.notable({"cp_payers_7d": 1, "payers_7d": 2})
        assert fan_in.notable({"cp_payers_7d": 1, "payers_7d": 5})
        assert not locations.notable({"branches_7d": 1})
        assert locations.notable({"branches_7d": 3})

    def test_a_new_counterparty_is_named_only_when_it_is_new(self) -> None:
        (new_party,) = [g for g in FEATURE_GROUPS if g.name == "new_party"]
        known = {"cp_account": 1.0, "cp_repeat_n_30d": 4.0, "payees_30d": 2, "payers_30d": 1}
        assert not new_party.notable(known)
        assert not new_party.notable({"cp_account": 0.0, "cp_repeat_n_30d": 0.0})  # cash
        first = {**known, "cp_repeat_n_30d": 0.0, "payees_30d": 6, "cp_breadth_30d": 0.875}
        assert new_party.notable(first)
        assert new_party.sentence(first) == (
            "No earlier payment with this counterparty in 30 days"
            " (1 payer and 6 payees over 8 payments with an account)"
        )
        assert new_party.sentence({"cp_repeat_n_30d": 0.0, "payers_30d": 1}) == (
            "No earlier payment with this counterparty in 30 days"
        )

    def test_many_are_plural(self) -> None:
        assert self._sentence(
            "round_amounts", round1000_n_30d=4, round100_share_30d=0.3, round1000_share_30d=0.2
        ) == ("4 transactions in round thousands within 30 days (30% of them)")
        assert self._sentence("fan_in", cp_payers_7d=2, payers_7d=5) == (
            "Payments received from 5 different accounts in 7 days"
        )


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    config = GeneratorConfig(
        seed=7, n_reports=1_500, start=datetime(2026, 3, 2, tzinfo=UTC), days=10
    )
    return features_from_documents([item.report for item in generate(config)])


class TestArrayPath:
    """The scorer converts a batch's features once (``ArrayModel``) and gets the numbers the
    estimators' own methods give, bit for bit."""

    def test_a_single_pipeline_gives_its_own_numbers(self, scorer, frame) -> None:
        pipeline = scorer.bundle.pipeline
        arrays = ArrayModel.of(pipeline)
        assert arrays is not None
        matrix = frame.select(FEATURE_COLUMNS).cast(pl.Float64).to_numpy()
        inputs = frame.select(FEATURE_COLUMNS)
        expected = pipeline[-1].decision_score(pipeline[:-1].transform(inputs))
        assert np.array_equal(arrays.decision_score(matrix), expected)
        assert np.array_equal(arrays.predict_proba(matrix), pipeline.predict_proba(inputs))

    def test_an_average_gives_its_own_numbers(self, scorer, frame) -> None:
        pipeline = scorer.bundle.pipeline
        average = Pipeline([("fits", FitAverage([pipeline, pipeline]).fit(None))])
        arrays = ArrayModel.of(average)
        assert arrays is not None
        assert len(arrays.members) == 2
        matrix = frame.select(FEATURE_COLUMNS).cast(pl.Float64).to_numpy()
        inputs = frame.select(FEATURE_COLUMNS)
        fits = average[-1]
        assert np.array_equal(arrays.decision_score(matrix), fits.decision_score(inputs))
        assert np.array_equal(arrays.predict_proba(matrix), fits.predict_proba(inputs))

    def test_the_scorer_scores_alike_with_and_without_it(self, scorer, frame) -> None:
        fast = Scorer(scorer.bundle, threshold=0.05)
        slow = Scorer(scorer.bundle, threshold=0.05)
        slow._arrays = None  # noqa: SLF001 - the estimators' own path, for comparison
        assert fast._arrays is not None  # noqa: SLF001
        for start in range(0, frame.height, 400):
            batch = frame[start : start + 400]
            one, other = fast.score(batch), slow.score(batch)
            assert np.array_equal(one.scores, other.scores)
            assert one.alerts.any()
            assert one.typologies == other.typologies
            assert one.reasons == other.reasons
            assert one.top_features == other.top_features

    def test_another_shape_keeps_the_estimators_path(self) -> None:
        other = Pipeline([("model", LogisticRegression())])
        assert ArrayModel.of(other) is None

    def test_an_infinite_feature_is_refused_as_before(self, scorer, frame) -> None:
        broken = frame[:3].with_columns(pl.lit(float("inf")).alias("usd"))
        with pytest.raises(ValueError, match="[Ii]nfinity"):
            scorer.laundering_scores(broken)


class TestTypologyGuess:
    """A guess named after a red flag the report does not show gives way to the next one."""

    NAMES = ["fan_in", "rapid_movement", "round_amounts", "dormant_reactivation"]

    def test_a_guess_the_report_contradicts_gives_way(self) -> None:
        proba = np.array([[0.1, 0.2, 0.6, 0.1]])
        plain = {"round1000_n_30d": 0, "round100_share_30d": 0.0, "round1000_share_30d": 0.0}
        assert supported_typologies(self.NAMES, proba, [plain]) == ["rapid_movement"]
        rounded = {**plain, "round1000_n_30d": 2}
        assert supported_typologies(self.NAMES, proba, [rounded]) == ["round_amounts"]

    def test_a_new_account_was_never_dormant(self) -> None:
        proba = np.array([[0.1, 0.2, 0.0, 0.7]])
        young = {"idle_days": 2.0, "max_idle_days_30d": 3.0, "account_age_days": 10.0}
        assert supported_typologies(self.NAMES, proba, [young]) == ["rapid_movement"]
        back = {**young, "idle_days": 200.0}
        assert supported_typologies(self.NAMES, proba, [back]) == ["dormant_reactivation"]

    def test_a_configured_high_risk_country_the_features_do_not_know_still_counts(self) -> None:
        # The rule's list is the operator's: a cross-border transfer is enough for the guess.
        names = ["fan_in", "high_risk_jurisdiction"]
        row = {"cp_payers_7d": 5, "payers_7d": 5, "hrc_n_30d": 0, "xb_n_30d": 1}
        proba = np.array([[0.3, 0.7]])
        assert supported_typologies(names, proba, [row]) == ["high_risk_jurisdiction"]
        assert supported_typologies(names, proba, [{**row, "xb_n_30d": 0}]) == ["fan_in"]

    def test_nothing_supported_keeps_the_most_probable(self) -> None:
        names = ["fan_in", "round_amounts"]
        row = {"cp_payers_7d": 1, "payers_7d": 1, "round1000_n_30d": 0}
        row |= {"round100_share_30d": 0.0, "round1000_share_30d": 0.0}
        assert supported_typologies(names, np.array([[0.3, 0.7]]), [row]) == ["round_amounts"]

    def test_the_scorer_guesses_only_what_the_reports_show(self, scorer, frame) -> None:
        scored = scorer.score(frame)
        rows = frame.to_dicts()
        guessed = [(i, t) for i, t in enumerate(scored.typologies) if t is not None]
        assert guessed
        for index, typology in guessed:
            shown = TYPOLOGY_EVIDENCE.get(typology)
            assert shown is None or shown(rows[index]), (typology, index)
