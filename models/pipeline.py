"""The scikit-learn pipeline: peer baselines, a calibrated detector and a typology head.

``make_pipeline()`` returns::

    Pipeline([
        ("peers", PeerRatio(...)),          # log-ratio of volumes to the median of peers
        ("model", TwoStageClassifier(
            detector=CalibratedClassifierCV(HistGradientBoostingClassifier(...), "isotonic"),
            typer=HistGradientBoostingClassifier(...),   # which typology, given laundering
        )),
    ])

``y`` is the typology of each report, with ``"legit"`` for the rest. ``predict_proba`` gives
P(legit) and P(laundering) × P(typology | laundering) per typology, so the laundering score is
``1 - P(legit)`` and the typology guess is the arg-max of the other columns.

Both custom estimators follow the scikit-learn contract (parameters only in ``__init__``,
validation in ``fit``, learned state with a trailing underscore) and pass
``parametrize_with_checks`` (``tests/models/test_pipeline.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from models.features import FEATURE_COLUMNS, PEER_GROUP, PEER_VALUES

NEGATIVE_LABEL = "legit"
FloatArray = npt.NDArray[np.float64]

# The weight of the booster's margin in the score (TwoStageClassifier._positive): small enough
# to leave the calibration as it is, large enough to survive the 6 decimals scores are shown with.
TIE_BREAK = 1e-3
# Margins (log-odds) of laundering reports run from about -10 to 10; divided by this, the
# logistic still separates margins one apart at the top of that range.
MARGIN_SCALE = 4.0


class PeerRatio(TransformerMixin, BaseEstimator):
    """Appends, for some columns, the log-ratio of the value to the median of its peer group.

    "Cash deposits differ dramatically from similar businesses" (FFIEC): a group is a value of
    ``group_column`` (here NAICS sector × jurisdiction × person/entity); the median of
    ``log1p(value)`` per group is learned in ``fit``; unseen groups use the overall median.

    Parameters
    ----------
    group_column : int, str or None, default=None
        Column holding the group code; ``None`` puts every row in one group.
    value_columns : sequence of int or str, or None, default=None
        Columns to compare with their peers; ``None`` means every column.
    """

    def __init__(
        self,
        group_column: int | str | None = None,
        value_columns: Sequence[int | str] | None = None,
    ) -> None:
        self.group_column = group_column
        self.value_columns = value_columns

    def _index(self, column: int | str) -> int:
        if isinstance(column, str):
            names = list(getattr(self, "feature_names_in_", []))
            if column not in names:
                raise ValueError(f"column {column!r} is not among the input features")
            return names.index(column)
        if not 0 <= int(column) < self.n_features_in_:
            raise ValueError(f"column index {column} is out of range")
        return int(column)

    def fit(self, X: Any, y: Any = None) -> PeerRatio:  # noqa: N803 - scikit-learn naming
        """Learns the per-group medians of ``log1p(value)``."""
        X = validate_data(self, X, ensure_all_finite="allow-nan", dtype=np.float64)  # noqa: N806
        self.group_index_ = None if self.group_column is None else self._index(self.group_column)
        if self.value_columns is None:
            self.value_indices_ = np.arange(self.n_features_in_)
        else:
            self.value_indices_ = np.array(
                [self._index(column) for column in self.value_columns], dtype=np.int64
            )
        values = _log1p(X[:, self.value_indices_])
        self.global_medians_ = _nanmedian(values)
        if self.group_index_ is None:
            self.groups_ = np.empty(0, dtype=np.float64)
            self.medians_ = np.empty((0, self.value_indices_.size), dtype=np.float64)
            return self
        groups = np.nan_to_num(X[:, self.group_index_], nan=-1.0)
        self.groups_ = np.unique(groups)
        self.medians_ = (
            np.vstack([_nanmedian(values[groups == group]) for group in self.groups_])
            if self.groups_.size
            else np.empty((0, self.value_indices_.size))
        )
        return self

    def transform(self, X: Any) -> FloatArray:  # noqa: N803 - scikit-learn naming
        """Returns ``X`` with one ``<column>_vs_peers`` column per value column appended."""
        check_is_fitted(self, "global_medians_")
        X = validate_data(  # noqa: N806
            self, X, ensure_all_finite="allow-nan", dtype=np.float64, reset=False
        )
        return self.transform_array(X)

    def transform_array(self, X: FloatArray) -> FloatArray:  # noqa: N803
        """``transform`` of rows already checked: float64, in the fitted columns' order."""
        values = _log1p(X[:, self.value_indices_])
        medians = np.broadcast_to(self.global_medians_, values.shape).copy()
        if self.group_index_ is not None and self.groups_.size:
            groups = np.nan_to_num(X[:, self.group_index_], nan=-1.0)
            position = np.searchsorted(self.groups_, groups)
            position = np.clip(position, 0, self.groups_.size - 1)
            known = self.groups_[position] == groups
            medians[known] = self.medians_[position[known]]
        # Column-major like the rows scikit-learn's checks hand on (from Polars): its
        # predictor runs each tree over all the rows, one feature of consecutive rows at a time.
        out = np.empty((X.shape[0], X.shape[1] + values.shape[1]), dtype=np.float64, order="F")
        out[:, : X.shape[1]] = X
        out[:, X.shape[1] :] = values - medians
        return out

    def get_feature_names_out(self, input_features: Any = None) -> npt.NDArray[np.object_]:
        check_is_fitted(self, "global_medians_")
        names = getattr(self, "feature_names_in_", None)
        if input_features is not None:
            names = np.asarray(input_features, dtype=object)
        if names is None:
            names = np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
        appended = [f"{names[i]}_vs_peers" for i in self.value_indices_]
        return np.asarray([*names, *appended], dtype=object)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _log1p(values: FloatArray) -> FloatArray:
    return np.sign(values) * np.log1p(np.abs(values))


def _nanmedian(values: FloatArray) -> FloatArray:
    if values.shape[0] == 0:
        return np.zeros(values.shape[1])
    with np.errstate(all="ignore"):
        medians = (
            np.nanmedian(values, axis=0) if np.isnan(values).any() else np.median(values, axis=0)
        )
    return np.nan_to_num(np.asarray(medians, dtype=np.float64), nan=0.0)


# Rows × tree depth up to which a booster walks all its trees at once (:class:`FlatForest`)
# rather than one scikit-learn call per tree. The walk costs ~12 ns per row, tree and level,
# scikit-learn ~6.5 µs per tree: they break even near 560 (1,650 trees of depth 9 and 138 of
# depth 16, one OpenMP thread, 2026-12-03); below this the walk is at least ~1.5× faster.
FLAT_FOREST_ROW_LEVELS = 360


class FlatForest:
    """Every tree of a fitted ``HistGradientBoosting*`` in flat arrays, walked one level at a
    time for all rows and all trees together.

    scikit-learn predicts tree after tree, at a fixed 6–16 µs per tree (quiet and loaded
    machine) whatever the number of rows. For the few rows the worker asks about per batch
    (the typology head on the alerted reports, the explanations) that fixed part is the
    whole cost: 1,650 trees, 10–27 ms (docs/benchmarks.md). The walk takes the same
    decisions as scikit-learn's ``_predict_from_raw_data`` (a missing value follows
    ``missing_go_to_left``, otherwise ``x <= num_threshold`` goes left) and adds the leaves
    in the same order, iteration after iteration onto the baseline, so the raw predictions
    are bit-identical. Numerical splits only: :meth:`of` returns ``None`` for a booster with
    categorical ones.
    """

    def __init__(self, predictors: Sequence[Sequence[Any]]) -> None:
        trees = [tree for iteration in predictors for tree in iteration]
        self.per_iteration = len(predictors[0])
        self.trees = len(trees)
        sizes = np.array([tree.nodes.size for tree in trees], dtype=np.int64)
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        nodes = np.concatenate([tree.nodes for tree in trees])
        leaf = nodes["is_leaf"].astype(bool)
        here = np.arange(nodes.size, dtype=np.int64)
        owner = np.repeat(self.roots, sizes)
        # A leaf points to itself: rows that reached one stay there while deeper trees go on.
        self.left = np.where(leaf, here, nodes["left"].astype(np.int64) + owner)
        self.right = np.where(leaf, here, nodes["right"].astype(np.int64) + owner)
        self.feature = np.where(leaf, 0, nodes["feature_idx"]).astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.value = nodes["value"].astype(np.float64)
        self.depth = int(nodes["depth"].max()) if nodes.size else 0

    @classmethod
    def of(cls, predictors: Sequence[Sequence[Any]]) -> FlatForest | None:
        if not predictors or any(
            tree.nodes["is_categorical"].any() for iteration in predictors for tree in iteration
        ):
            return None
        return cls(predictors)

    def raw_predict(self, X: FloatArray, baseline: FloatArray) -> FloatArray:  # noqa: N803
        """``_raw_predict`` of validated float64 rows: shape (rows, trees per iteration)."""
        rows = np.arange(X.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (X.shape[0], self.trees)).copy()
        for _ in range(self.depth):
            x = X[rows, self.feature[node]]
            left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(left, self.left[node], self.right[node])
        leaves = self.value[node]
        width = self.per_iteration
        raw = np.zeros((X.shape[0], width), dtype=baseline.dtype, order="F")
        raw += baseline
        for start in range(0, self.trees, width):
            raw += leaves[:, start : start + width]
        return raw


class MissingSafeBooster(HistGradientBoostingClassifier):
    """``HistGradientBoostingClassifier`` that accepts a column with no value at all, and
    predicts a few rows without a fixed cost per tree.

    scikit-learn's binning fails on a column that is entirely missing in the rows it bins
    (``ValueError: window shape cannot be larger than input array shape``). That happens on a
    user's own population: a field it never sends (``account_opened``, NAICS), or one present
    in too few rows to survive a calibration fold or the early-stopping split. Such a column
    carries no information in those rows, so it is binned as a constant: no tree can split on
    it, exactly as if it were absent, and prediction never reads it.

    Up to :data:`FLAT_FOREST_ROW_LEVELS` rows × tree depth, prediction walks a
    :class:`FlatForest` of the fitted trees (same raw predictions). The forest is built by
    ``fit`` and again on loading, never saved: the artefact holds scikit-learn's trees only.
    """

    def _bin_data(self, X: Any, sample_weight: Any, is_training_data: bool) -> Any:  # noqa: N803
        if is_training_data:
            empty = np.isnan(X).all(axis=0)
            if empty.any():
                X = X.copy()  # noqa: N806 - scikit-learn naming
                X[:, empty] = 0.0
        return super()._bin_data(X, sample_weight, is_training_data)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MissingSafeBooster:  # noqa: N803
        super().fit(X, y, sample_weight=sample_weight)
        self._flat_forest = FlatForest.of(self._predictors)
        return self

    def _raw_predict(self, X: Any, n_threads: int | None = None) -> Any:  # noqa: N803
        forest = getattr(self, "_flat_forest", None)
        if forest is None or getattr(self, "_in_fit", False):
            return super()._raw_predict(X, n_threads)
        X = self._preprocess_X(X, reset=False)  # noqa: N806 - validated once: float64 rows
        if X.shape[0] * forest.depth > FLAT_FOREST_ROW_LEVELS:
            return super()._raw_predict(X, n_threads)
        return forest.raw_predict(X, self._baseline_prediction)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_flat_forest", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        predictors = getattr(self, "_predictors", None)
        self._flat_forest = FlatForest.of(predictors) if predictors else None


class SeedAveragedClassifier(ClassifierMixin, BaseEstimator):
    """The average of ``n_estimators`` copies of a classifier fitted with different seeds.

    Each copy is ``estimator`` cloned with its own ``random_state`` (drawn from this one's);
    the copies' margins (``decision_function``, log-odds for a booster) are averaged, and
    ``predict_proba`` is the logistic (binary) or softmax (multi-class) of the average. For a
    booster with early stopping the seed picks the validation split, hence the number of trees:
    the average does not depend on one draw of it. Scoring costs ``n_estimators`` evaluations.

    Parameters
    ----------
    estimator : classifier or None, default=None
        Has ``random_state`` and ``decision_function`` (``MissingSafeBooster()`` when ``None``).
    n_estimators : int, default=5
        How many copies to fit and average.
    random_state : int, RandomState or None, default=None
        Draws the copies' seeds.
    """

    def __init__(
        self,
        estimator: Any = None,
        n_estimators: int = 5,
        random_state: Any = None,
    ) -> None:
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.random_state = random_state

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> SeedAveragedClassifier:  # noqa: N803
        """Fits ``n_estimators`` clones of ``estimator``, each with its own seed."""
        X, y = validate_data(  # noqa: N806
            self, X, y, ensure_all_finite=self._finite(), dtype=np.float64
        )
        check_classification_targets(y)
        if int(self.n_estimators) < 1:
            raise ValueError(f"n_estimators must be at least 1, got {self.n_estimators}")
        self.classes_ = np.unique(y)
        base = self._base()
        seeds = check_random_state(self.random_state).randint(
            np.iinfo(np.int32).max, size=int(self.n_estimators)
        )
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        self.estimators_ = [
            clone(base).set_params(random_state=int(seed)).fit(X, y, **_weights(weights))
            for seed in seeds
        ]
        return self

    def _base(self) -> Any:
        return self.estimator if self.estimator is not None else MissingSafeBooster()

    def _finite(self) -> bool | str:
        return "allow-nan" if get_tags(self._base()).input_tags.allow_nan else True

    def decision_function(self, X: Any) -> FloatArray:  # noqa: N803
        """The average of the copies' margins."""
        check_is_fitted(self, "estimators_")
        X = validate_data(  # noqa: N806
            self, X, ensure_all_finite=self._finite(), dtype=np.float64, reset=False
        )
        total = np.asarray(self.estimators_[0].decision_function(X), dtype=np.float64)
        for estimator in self.estimators_[1:]:
            total = total + np.asarray(estimator.decision_function(X), dtype=np.float64)
        return total / len(self.estimators_)

    def predict_proba(self, X: Any) -> FloatArray:  # noqa: N803
        """The logistic (two classes) or softmax of the average margin."""
        margin = self.decision_function(X)
        if margin.ndim == 1:
            positive = expit(margin)
            return np.column_stack([1.0 - positive, positive])
        return np.asarray(softmax(margin, axis=1), dtype=np.float64)

    def predict(self, X: Any) -> npt.NDArray[Any]:  # noqa: N803
        """The most probable class of each row."""
        check_is_fitted(self, "estimators_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        base = self.estimator if self.estimator is not None else MissingSafeBooster()
        tags.input_tags.allow_nan = get_tags(base).input_tags.allow_nan
        return tags


class FitAverage(ClassifierMixin, BaseEstimator):
    """The average of several complete, already fitted detection pipelines.

    Fits of one recipe that differ only in their seed (the negative subsample, the
    early-stopping split, the calibration folds) rank a population they never saw quite
    differently (docs/detection.md, "Seed spread"); their mean is steadier than any one of
    them. ``models.train.train`` fits the members (``TrainConfig.fits``); this class only
    combines them: the laundering score (``decision_score``) and the class probabilities are
    the members' means. Scoring costs one evaluation of each member.

    Parameters
    ----------
    members : list of Pipeline
        Fitted pipelines (``make_pipeline``) with the same classes, in the same order.
    """

    def __init__(self, members: Sequence[Any] = ()) -> None:
        self.members = members

    def fit(self, X: Any, y: Any = None) -> FitAverage:  # noqa: N803 - scikit-learn naming
        """Checks the members (they are fitted by ``models.train``, not here)."""
        members = list(self.members)
        if not members:
            raise ValueError("FitAverage needs at least one fitted member")
        classes = [np.asarray(member.classes_) for member in members]
        if any(not np.array_equal(classes[0], other) for other in classes[1:]):
            raise ValueError("FitAverage's members must have the same classes in the same order")
        self.classes_ = classes[0]
        return self

    @staticmethod
    def _inputs(member: Any, X: Any) -> Any:  # noqa: N803 - scikit-learn naming
        return member[:-1].transform(X) if len(member.steps) > 1 else X

    def decision_score(self, X: Any) -> FloatArray:  # noqa: N803 - scikit-learn naming
        """The members' mean laundering score per row."""
        check_is_fitted(self, "classes_")
        total = np.zeros(len(X), dtype=np.float64)
        for member in self.members:
            total += np.asarray(member[-1].decision_score(self._inputs(member, X)))
        return total / len(self.members)

    def predict_proba(self, X: Any) -> FloatArray:  # noqa: N803 - scikit-learn naming
        """The members' mean class probabilities, in ``classes_`` order."""
        check_is_fitted(self, "classes_")
        total = np.zeros((len(X), self.classes_.size), dtype=np.float64)
        for member in self.members:
            total += member.predict_proba(X)
        return total / len(self.members)

    def predict(self, X: Any) -> npt.NDArray[Any]:  # noqa: N803 - scikit-learn naming
        """The most probable class of each row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class TwoStageClassifier(ClassifierMixin, BaseEstimator):
    """A laundering detector and a typology head, as one multi-class classifier.

    ``detector`` learns "not ``negative_label``" from every row; ``typer`` learns the class
    among the positive rows only. ``predict_proba`` returns, per class, P(negative) for the
    negative class and P(positive) × P(class | positive) for the others.

    Parameters
    ----------
    detector : classifier or None, default=None
        Binary classifier (``HistGradientBoostingClassifier`` when ``None``).
    typer : classifier or None, default=None
        Multi-class classifier for the positive classes (``HistGradientBoostingClassifier``).
    negative_label : object or None, default=None
        The class meaning "nothing to report"; ``None`` takes the smallest class.
    """

    def __init__(
        self,
        detector: Any = None,
        typer: Any = None,
        negative_label: Any = None,
    ) -> None:
        self.detector = detector
        self.typer = typer
        self.negative_label = negative_label

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> TwoStageClassifier:  # noqa: N803
        """Fits the detector on all rows and the typology head on the positive rows."""
        X, y = validate_data(  # noqa: N806
            self, X, y, ensure_all_finite=self._finite(), dtype=np.float64
        )
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        if self.classes_.size < 2:
            raise ValueError("y has only one class; TwoStageClassifier needs at least two")
        negative = self.classes_[0] if self.negative_label is None else self.negative_label
        if negative not in self.classes_:
            raise ValueError(f"negative_label {negative!r} is not a class of y")
        self.negative_label_ = negative
        self.negative_index_ = int(np.flatnonzero(self.classes_ == negative)[0])
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        positive = y != negative
        detector = clone(self.detector) if self.detector is not None else _default_detector()
        detector.fit(X, positive.astype(np.int64), **_weights(weights))
        self.detector_ = detector
        self.positive_classes_ = self.classes_[self.classes_ != negative]
        if self.positive_classes_.size > 1:
            typer = clone(self.typer) if self.typer is not None else _default_typer()
            typer.fit(
                X[positive],
                y[positive],
                **_weights(None if weights is None else weights[positive]),
            )
            self.typer_: Any = typer
        else:
            self.typer_ = None
        return self

    def _finite(self) -> bool | str:
        return "allow-nan" if self._allow_nan() else True

    def _allow_nan(self) -> bool:
        # A meta-estimator (CalibratedClassifierCV) accepts what its inner estimator accepts.
        parts = [getattr(part, "estimator", None) or part for part in (self.detector, self.typer)]
        return all(part is None or get_tags(part).input_tags.allow_nan for part in parts)

    def decision_score(self, X: Any) -> FloatArray:  # noqa: N803
        """P(not ``negative_label``) per row: the laundering score."""
        check_is_fitted(self, "detector_")
        X = validate_data(  # noqa: N806
            self,
            X,
            ensure_all_finite=self._finite(),
            dtype=np.float64,
            reset=False,
        )
        return self._positive(X)

    def score_array(self, X: FloatArray) -> FloatArray:  # noqa: N803
        """``decision_score`` of rows already checked: float64, in the fitted columns' order."""
        return self._positive(X)

    def _positive(self, X: FloatArray) -> FloatArray:  # noqa: N803
        single = self._single_calibration()
        if single is None:
            proba = self.detector_.predict_proba(X)
            columns = list(self.detector_.classes_)
            if 1 not in columns:
                return np.zeros(X.shape[0])
            return np.asarray(proba[:, columns.index(1)], dtype=np.float64)
        # The booster is evaluated once: its margin is both what the calibrator maps (exactly
        # as CalibratedClassifierCV.predict_proba does for one binary calibration) and the
        # tie-break below. Evaluating it twice cost a tenth of the worker's scoring.
        booster, calibrator = single
        margin = np.asarray(booster.decision_function(X), dtype=np.float64).reshape(-1)
        calibrated = np.asarray(calibrator.predict(margin), dtype=np.float64)
        calibrated[(1.0 < calibrated) & (calibrated <= 1.0 + 1e-5)] = 1.0
        # Isotonic calibration is a step function: hundreds of subjects share a step's value,
        # so a budget's k-th score lets every one of them through and a ranking cannot order
        # them. Within a step the booster's own margin still orders them: blend it in with a
        # weight of TIE_BREAK. The score stays in [0, 1], within TIE_BREAK of the calibrated
        # probability, and strictly increases with the margin (the calibration never
        # decreases with it), so no two rows change order but the ties are broken.
        spread = 1.0 / (1.0 + np.exp(-np.clip(margin, -500.0, 500.0) / MARGIN_SCALE))
        return calibrated * (1.0 - TIE_BREAK) + TIE_BREAK * spread

    def _single_calibration(self) -> tuple[Any, Any] | None:
        """The booster and its calibrator, when the detector is a binary classifier
        calibrated once on a booster refitted on all rows
        (``CalibratedClassifierCV(ensemble=False)``, sigmoid or isotonic) — else ``None``."""
        fitted = getattr(self.detector_, "calibrated_classifiers_", None)
        if not fitted or len(fitted) != 1:
            return None
        calibrated = fitted[0]
        booster = getattr(calibrated, "estimator", None)
        calibrators = getattr(calibrated, "calibrators", None)
        if (
            booster is None
            or not hasattr(booster, "decision_function")
            or getattr(calibrated, "method", None) not in ("sigmoid", "isotonic")
            or not calibrators
            or len(calibrators) != 1
            or list(self.detector_.classes_) != [0, 1]
            or list(booster.classes_) != [0, 1]
        ):
            return None
        return booster, calibrators[0]

    def predict_proba(self, X: Any) -> FloatArray:  # noqa: N803
        """Class probabilities in ``classes_`` order (see the class docstring)."""
        check_is_fitted(self, "detector_")
        X = validate_data(  # noqa: N806
            self,
            X,
            ensure_all_finite=self._finite(),
            dtype=np.float64,
            reset=False,
        )
        return self.proba_array(X)

    def proba_array(self, X: FloatArray) -> FloatArray:  # noqa: N803
        """``predict_proba`` of rows already checked: float64, in the fitted columns' order."""
        positive = self._positive(X)
        result = np.zeros((X.shape[0], self.classes_.size), dtype=np.float64)
        result[:, self.negative_index_] = 1.0 - positive
        others = np.flatnonzero(self.classes_ != self.negative_label_)
        if self.typer_ is None:
            result[:, others[0]] = positive
            return result
        typed = self.typer_.predict_proba(X)
        position = {label: index for index, label in enumerate(self.typer_.classes_)}
        for column in others:
            label = self.classes_[column]
            if label in position:
                result[:, column] = positive * typed[:, position[label]]
        return result

    def predict(self, X: Any) -> npt.NDArray[Any]:  # noqa: N803
        """The most probable class of each row."""
        check_is_fitted(self, "detector_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan()
        return tags


class ArrayModel:
    """A fitted detection model evaluated on one float64 array of the feature columns.

    Every step of a pipeline checks and converts its input again (``validate_data``), and the
    pipeline's Polars output is built between the steps: per fit and per call, whatever the
    rows, so in a worker's small batches these conversions cost about 15 % of the batch
    (docs/benchmarks.md). Here the caller converts once; each member's steps run their own
    arithmetic (``PeerRatio.transform_array``, ``TwoStageClassifier.score_array`` /
    ``proba_array``) in the same order, so the numbers are those of the estimators' own
    methods, bit for bit. The members' means are summed and divided as ``FitAverage`` does.
    """

    def __init__(
        self,
        members: Sequence[tuple[PeerRatio | None, TwoStageClassifier]],
        *,
        average: bool,
    ) -> None:
        self.members = list(members)
        self.average = average  # a FitAverage (mean of the members), or one pipeline

    @classmethod
    def of(cls, model: Any) -> ArrayModel | None:
        """The array form of a pipeline of ``make_pipeline``'s shape (or ``FitAverage`` of
        them, alone in a pipeline), else None: the caller keeps the estimators' own path."""
        if isinstance(model, Pipeline) and len(model.steps) == 1:
            model = model.steps[0][1]
        averaged = isinstance(model, FitAverage)
        members: list[tuple[PeerRatio | None, TwoStageClassifier]] = []
        for member in list(model.members) if averaged else [model]:
            steps = [step for _, step in member.steps] if isinstance(member, Pipeline) else []
            if len(steps) == 2 and isinstance(steps[0], PeerRatio):
                peers: PeerRatio | None = steps[0]
            elif len(steps) == 1:
                peers = None
            else:
                return None
            if not isinstance(steps[-1], TwoStageClassifier) or not hasattr(steps[-1], "detector_"):
                return None
            members.append((peers, steps[-1]))
        if not members:
            return None
        return cls(members, average=averaged)

    @staticmethod
    def _inputs(peers: PeerRatio | None, X: FloatArray) -> FloatArray:  # noqa: N803
        return peers.transform_array(X) if peers is not None else X

    def model_inputs(self, X: FloatArray) -> FloatArray:  # noqa: N803
        """What the last step of a single pipeline sees (its transformed rows)."""
        peers, _ = self.members[0]
        return self._inputs(peers, X)

    def decision_score(self, X: FloatArray) -> FloatArray:  # noqa: N803
        """The laundering score per row, as the model's ``decision_score``."""
        if not self.average:
            peers, model = self.members[0]
            return model.score_array(self._inputs(peers, X))
        total = np.zeros(X.shape[0], dtype=np.float64)
        for peers, model in self.members:
            total += np.asarray(model.score_array(self._inputs(peers, X)))
        return total / len(self.members)

    def predict_proba(self, X: FloatArray) -> FloatArray:  # noqa: N803
        """Class probabilities per row, as the model's ``predict_proba``."""
        if not self.average:
            peers, model = self.members[0]
            return model.proba_array(self._inputs(peers, X))
        first = self.members[0][1]
        total = np.zeros((X.shape[0], first.classes_.size), dtype=np.float64)
        for peers, model in self.members:
            total += model.proba_array(self._inputs(peers, X))
        return total / len(self.members)


def _weights(weights: FloatArray | None) -> dict[str, Any]:
    return {} if weights is None else {"sample_weight": weights}


def _default_detector() -> Any:
    return MissingSafeBooster(random_state=0)


def _default_typer() -> Any:
    return MissingSafeBooster(random_state=0)


def model_columns() -> list[str]:
    """Columns entering the classifier: the features, then the peer ratios."""
    return [*FEATURE_COLUMNS, *(f"{name}_vs_peers" for name in PEER_VALUES)]


def make_pipeline(
    *,
    random_state: int = 0,
    max_iter: int = 300,
    learning_rate: float = 0.1,
    calibration_folds: int = 3,
    calibration: str = "isotonic",
    typer_max_iter: int = 150,
    early_stopping: bool = True,
    max_features: float = 1.0,
    boosters: int = 1,
    max_leaf_nodes: int = 31,
    min_samples_leaf: int = 40,
    l2_regularization: float = 1.0,
) -> Pipeline:
    """The detection pipeline over :data:`models.features.FEATURE_COLUMNS` (Polars input).

    ``early_stopping``, ``max_features``, ``boosters`` and the tree shape (``max_leaf_nodes``,
    ``min_samples_leaf``, ``l2_regularization``) shape the detector's booster: with
    ``boosters > 1`` the detector averages that many boosters of different seeds
    (:class:`SeedAveragedClassifier`) under one calibration.
    """
    # Codes (instrument, channel, NAICS sector) stay ordinal: native categorical support would
    # put a ColumnTransformer with a functools.partial into the artefact, one more type to trust.
    booster: Any = MissingSafeBooster(
        learning_rate=learning_rate,
        max_iter=max_iter,
        max_leaf_nodes=max_leaf_nodes,
        min_samples_leaf=min_samples_leaf,
        l2_regularization=l2_regularization,
        max_features=max_features,
        early_stopping=early_stopping,
        validation_fraction=0.1,
        n_iter_no_change=20,
        random_state=random_state,
    )
    if boosters > 1:
        booster = SeedAveragedClassifier(booster, n_estimators=boosters, random_state=random_state)
    typer = MissingSafeBooster(
        learning_rate=0.1,
        max_iter=typer_max_iter,
        max_leaf_nodes=15,
        min_samples_leaf=10,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=random_state,
    )
    # ensemble=False: one booster refitted on all rows, calibrated on out-of-fold scores; the
    # worker then evaluates one model per report instead of one per fold.
    detector = CalibratedClassifierCV(
        booster, method=calibration, cv=calibration_folds, ensemble=False
    )
    pipeline = Pipeline(
        [
            ("peers", PeerRatio(group_column=PEER_GROUP, value_columns=list(PEER_VALUES))),
            (
                "model",
                TwoStageClassifier(detector=detector, typer=typer, negative_label=NEGATIVE_LABEL),
            ),
        ]
    )
    pipeline.set_output(transform="polars")
    return pipeline
