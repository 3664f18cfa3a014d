"""Likely wrong labels: out-of-fold probabilities from cross-validated linear heads on the frozen
features, ranked by cleanlab's confident learning (not re-implemented here)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..classes import CAT_DOG

FOLDS = 5
# Strong L2 regularisation: with 1,280 features and a few thousand photos, a flexible head also fits
# the wrong labels and hides them. Chosen on train.parquet with 5 % labels flipped (docs/DATA.md):
# C = 1 finds 93 % of the flips at 63-70 % precision, C = 0.02 finds 94 % at 87 %.
REGULARISATION_C = 0.02


def out_of_fold_probabilities(features: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    folds = StratifiedKFold(min(FOLDS, int(np.bincount(labels).min())), shuffle=True, random_state=seed)
    return cross_val_predict(LogisticRegression(C=REGULARISATION_C, max_iter=2000), features, labels, cv=folds, method="predict_proba")


def label_issues(features: np.ndarray, labels: np.ndarray, rows: np.ndarray, names: list[str], seed: int = 0,
                 classes: Sequence[str] = CAT_DOG) -> list[dict[str, Any]]:
    """One entry per photo whose label is likely wrong, most likely first: row, name, the given and
    suggested label by class name, and `score` (cleanlab's label quality: the lower, the likelier
    wrong). Any number of classes: cleanlab and the linear heads take N."""
    import cleanlab.filter
    import cleanlab.rank

    labels = np.asarray(labels).astype(int)
    probabilities = out_of_fold_probabilities(features, labels, seed)
    ranked = cleanlab.filter.find_label_issues(labels, probabilities, filter_by="prune_by_noise_rate",
                                               return_indices_ranked_by="self_confidence")
    quality = cleanlab.rank.get_label_quality_scores(labels, probabilities)
    return [{"row": int(rows[i]), "name": names[i], "given": classes[labels[i]],
             "suggested": classes[int(np.argmax(probabilities[i]))], "score": round(float(quality[i]), 4)} for i in ranked]
