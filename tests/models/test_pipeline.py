"""The pipeline's custom estimators follow the scikit-learn contract; the score breaks the
calibration's ties; a booster predicts a few rows through its flat forest, bit-identically."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.pipeline import (
    FLAT_FOREST_ROW_LEVELS,
    MARGIN_SCALE,
    TIE_BREAK,
    FitAverage,
    FlatForest,
    MissingSafeBooster,
    PeerRatio,
    SeedAveragedClassifier,
    TwoStageClassifier,
)


@parametrize_with_checks(
    [
        PeerRatio(),
        PeerRatio(group_column=0, value_columns=[0]),
        TwoStageClassifier(),
        TwoStageClassifier(
            detector=LogisticRegression(), typer=DecisionTreeClassifier(random_state=0)
        ),
        MissingSafeBooster(max_iter=10),
        SeedAveragedClassifier(n_estimators=2, random_state=0),
        SeedAveragedClassifier(
            HistGradientBoostingClassifier(max_iter=10, max_features=0.5),
            n_estimators=3,
            random_state=0,
        ),
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


class TestCalibratedTies:
    """Isotonic calibration gives hundreds of rows one value; the score orders them anyway."""

    @staticmethod
    def _fitted() -> tuple[TwoStageClassifier, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(7)
        X = rng.normal(size=(4_000, 4))  # noqa: N806 - scikit-learn naming
        y = np.where(
            X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.7, size=4_000) > 1.8, "a", "legit"
        )
        booster = HistGradientBoostingClassifier(max_iter=40, random_state=0)
        detector = CalibratedClassifierCV(booster, method="isotonic", cv=3, ensemble=False)
        model = TwoStageClassifier(detector=detector, negative_label="legit").fit(X, y)
        return model, X, y

    def test_rows_sharing_a_calibration_step_are_ordered_by_the_booster(self) -> None:
        model, X, _ = self._fitted()  # noqa: N806
        calibrated = model.detector_.predict_proba(X)[:, 1]
        margin = model.detector_.calibrated_classifiers_[0].estimator.decision_function(X)
        scores = model.decision_score(X)
        # The calibration alone ties many rows; the score does not tie rows of different margin.
        assert len(np.unique(calibrated)) < len(X) / 20
        distinct = np.unique(margin)
        assert len(np.unique(scores)) == len(distinct)
        # Strictly increasing with the margin, and never more than TIE_BREAK from the calibration.
        order = np.argsort(margin, kind="stable")
        steps = np.diff(scores[order])[np.diff(margin[order]) > 0]
        assert (steps > 0).all()
        assert np.abs(scores - calibrated).max() <= TIE_BREAK
        assert ((scores >= 0) & (scores <= 1)).all()

    def test_the_ties_are_broken_at_the_precision_scores_are_shown_with(self) -> None:
        model, X, _ = self._fitted()  # noqa: N806
        scores = model.decision_score(X)
        top = np.sort(scores)[-200:]
        calibrated_top = np.sort(model.detector_.predict_proba(X)[:, 1])[-200:]
        assert len(np.unique(np.round(top, 6))) > 4 * len(np.unique(np.round(calibrated_top, 6)))

    def test_the_booster_is_evaluated_once_and_the_calibration_is_scikit_learns(self) -> None:
        model, X, _ = self._fitted()  # noqa: N806
        booster = model.detector_.calibrated_classifiers_[0].estimator
        margin = booster.decision_function(X)
        calibrated = model.detector_.predict_proba(X)[:, 1]
        spread = 1.0 / (1.0 + np.exp(-margin / MARGIN_SCALE))
        expected = calibrated * (1.0 - TIE_BREAK) + TIE_BREAK * spread
        calls = []
        original = type(booster).decision_function

        def counted(self, data):  # noqa: ANN001, ANN202
            calls.append(len(data))
            return original(self, data)

        type(booster).decision_function = counted
        try:
            scores = model.decision_score(X)
        finally:
            type(booster).decision_function = original
        assert calls == [len(X)]
        assert np.array_equal(scores, expected)


class TestSeedAveraged:
    """The average of boosters fitted with different seeds (early-stopping splits)."""

    @staticmethod
    def _data() -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(3)
        X = rng.normal(size=(3_000, 4))  # noqa: N806 - scikit-learn naming
        X[:, 3] = np.nan  # a column with no value at all (MissingSafeBooster)
        y = (X[:, 0] - X[:, 1] + rng.normal(size=3_000) > 1.0).astype(np.int64)
        return X, y

    def test_the_margin_is_the_mean_of_copies_with_different_seeds(self) -> None:
        X, y = self._data()  # noqa: N806
        booster = MissingSafeBooster(
            max_iter=200, early_stopping=True, validation_fraction=0.1, n_iter_no_change=5
        )
        model = SeedAveragedClassifier(booster, n_estimators=4, random_state=0).fit(X, y)
        seeds = {copy.random_state for copy in model.estimators_}
        assert len(seeds) == 4
        # The seed moves the early-stopping split, hence the number of trees.
        assert len({copy.n_iter_ for copy in model.estimators_}) > 1
        margins = np.mean([copy.decision_function(X) for copy in model.estimators_], axis=0)
        np.testing.assert_allclose(model.decision_function(X), margins)
        np.testing.assert_allclose(model.predict_proba(X)[:, 1], 1 / (1 + np.exp(-margins)))

    def test_reproducible_from_its_random_state(self) -> None:
        X, y = self._data()  # noqa: N806
        first = SeedAveragedClassifier(n_estimators=2, random_state=5).fit(X, y)
        again = SeedAveragedClassifier(n_estimators=2, random_state=5).fit(X, y)
        np.testing.assert_array_equal(first.decision_function(X), again.decision_function(X))


class TestFlatForest:
    """A few rows are predicted by walking every tree at once: scikit-learn's numbers, exactly."""

    @staticmethod
    def _data(classes: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(11)
        X = rng.normal(size=(3_000, 6))  # noqa: N806 - scikit-learn naming
        X[rng.random(X.shape) < 0.15] = np.nan  # missing values go the way each split learned
        score = np.nan_to_num(X[:, 0]) + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
        y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
        return X, y

    @staticmethod
    def _per_tree(booster: MissingSafeBooster, X: np.ndarray) -> np.ndarray:  # noqa: N803
        return HistGradientBoostingClassifier._raw_predict(booster, X)

    def test_multiclass_and_binary_are_bit_identical_to_the_per_tree_prediction(self) -> None:
        for classes in (2, 5):
            X, y = self._data(classes)  # noqa: N806
            booster = MissingSafeBooster(max_iter=60, max_leaf_nodes=15, random_state=0).fit(X, y)
            forest = FlatForest.of(booster._predictors)
            assert forest is not None
            assert forest.trees == booster.n_iter_ * (1 if classes == 2 else classes)
            rows = X[:40]
            walked = forest.raw_predict(rows, booster._baseline_prediction)
            assert np.array_equal(walked, self._per_tree(booster, rows))
            small = X[: max(1, FLAT_FOREST_ROW_LEVELS // forest.depth)]
            assert np.array_equal(booster.predict_proba(small), booster._loss.predict_proba(
                self._per_tree(booster, small)
            ))  # fmt: skip

    def test_only_few_rows_take_the_walk_and_a_refit_rebuilds_it(self, monkeypatch) -> None:
        X, y = self._data(3)  # noqa: N806
        booster = MissingSafeBooster(max_iter=20, random_state=0).fit(X, y)
        walks: list[int] = []
        real = FlatForest.raw_predict

        def counted(forest, rows, baseline):
            walks.append(len(rows))
            return real(forest, rows, baseline)

        monkeypatch.setattr(FlatForest, "raw_predict", counted)
        booster.predict_proba(X[:2])
        booster.predict_proba(X)  # thousands of rows: scikit-learn's own loop
        assert walks == [2]
        first = booster._flat_forest
        booster.fit(X[::-1], y[::-1])
        assert booster._flat_forest is not first
        assert np.array_equal(booster.decision_function(X[:3]), self._per_tree(booster, X[:3]))
        assert walks == [2, 3]

    def test_categorical_splits_keep_scikit_learns_prediction(self) -> None:
        rng = np.random.default_rng(3)
        X = np.column_stack([rng.integers(0, 6, 2_000), rng.normal(size=2_000)])  # noqa: N806
        y = (X[:, 0] % 2 == 0) ^ (X[:, 1] > 1)
        booster = MissingSafeBooster(max_iter=10, categorical_features=[0]).fit(X, y)
        assert FlatForest.of(booster._predictors) is None
        assert np.array_equal(booster.decision_function(X[:3]), booster.decision_function(X)[:3])

    def test_the_walk_is_never_saved_with_the_model(self, tmp_path) -> None:
        X, y = self._data(2)  # noqa: N806
        booster = MissingSafeBooster(max_iter=10, random_state=0).fit(X, y)
        path = tmp_path / "booster.skops"
        sio.dump(booster, path)
        untrusted = sio.get_untrusted_types(file=path)
        assert not any("FlatForest" in name for name in untrusted)
        loaded = sio.load(path, trusted=untrusted)
        assert isinstance(loaded._flat_forest, FlatForest)  # rebuilt on loading
        assert np.array_equal(loaded.predict_proba(X[:2]), booster.predict_proba(X[:2]))


class TestFitAverage:
    @staticmethod
    def _member(y: np.ndarray) -> Pipeline:
        X = np.arange(y.size, dtype=float).reshape(-1, 1)  # noqa: N806
        return Pipeline([("model", LogisticRegression())]).fit(X, y)

    def test_members_with_other_classes_are_refused(self) -> None:
        first = self._member(np.array([0, 1] * 10))
        other = self._member(np.array([0, 2] * 10))
        with pytest.raises(ValueError, match="same classes in the same order"):
            FitAverage([first, other]).fit(None)

    def test_no_member_is_refused(self) -> None:
        with pytest.raises(ValueError, match="at least one fitted member"):
            FitAverage([]).fit(None)

    def test_probabilities_are_the_members_mean(self) -> None:
        first = self._member(np.array([0, 1] * 10))
        second = self._member(np.array([0] * 12 + [1] * 8))
        X = np.arange(5, dtype=float).reshape(-1, 1)  # noqa: N806
        average = FitAverage([first, second]).fit(None)
        expected = (first.predict_proba(X) + second.predict_proba(X)) / 2
        np.testing.assert_allclose(average.predict_proba(X), expected, rtol=0, atol=1e-15)
