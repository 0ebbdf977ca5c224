"""The pipeline's custom estimators follow the scikit-learn contract."""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from models.pipeline import PeerRatio, TwoStageClassifier


@parametrize_with_checks(
    [
        PeerRatio(),
        PeerRatio(group_column=0, value_columns=[0]),
        TwoStageClassifier(),
        TwoStageClassifier(
            detector=LogisticRegression(), typer=DecisionTreeClassifier(random_state=0)
        ),
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)
