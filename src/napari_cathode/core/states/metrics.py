"""Per-class precision / recall / F1 and the confusion matrix of a state classification.

scikit-learn computes them (:func:`sklearn.metrics.precision_recall_fscore_support`,
:func:`sklearn.metrics.confusion_matrix`); this module only fixes the class order to the user's
state names and returns plain JSON.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

__all__ = ["classification_report"]


def classification_report(
    truth: Sequence[str], predicted: Sequence[str], states: Sequence[str]
) -> dict:
    """Accuracy, macro F1, per-state precision/recall/F1/support and the confusion matrix.

    Parameters
    ----------
    truth, predicted : sequence of str
        State names, one per item.
    states : sequence of str
        All state names in class order (rows/columns of the matrix).

    Returns
    -------
    dict
        ``{"n", "accuracy", "macro_f1", "per_class": {state: {precision, recall, f1,
        support}}, "confusion_matrix": {"states": [...], "rows_truth_columns_predicted":
        [[...]]}}``. Precision of a state never predicted is reported as ``None``.

    Examples
    --------
    >>> report = classification_report(["a", "b", "b"], ["a", "b", "a"], ["a", "b"])
    >>> report["accuracy"], report["per_class"]["b"]["recall"]
    (0.6666666666666666, 0.5)
    """
    states = list(states)
    truth, predicted = list(truth), list(predicted)
    if not truth:
        return {"n": 0, "accuracy": None, "macro_f1": None, "per_class": {}}
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=states, zero_division=np.nan
    )
    predicted_count = [sum(1 for p in predicted if p == s) for s in states]

    def clean(value, allowed=True):
        return None if not allowed or np.isnan(value) else float(value)

    per_class = {
        s: {
            "precision": clean(precision[i], predicted_count[i] > 0),
            "recall": clean(recall[i], support[i] > 0),
            "f1": clean(f1[i], support[i] > 0 and predicted_count[i] > 0),
            "support": int(support[i]),
        }
        for i, s in enumerate(states)
    }
    present = [v["f1"] or 0.0 for v in per_class.values() if v["support"] > 0]
    matrix = confusion_matrix(truth, predicted, labels=states)
    return {
        "n": len(truth),
        "accuracy": float(np.mean([t == p for t, p in zip(truth, predicted)])),
        "macro_f1": float(np.mean(present)) if present else None,
        "per_class": per_class,
        "confusion_matrix": {
            "states": states,
            "rows_truth_columns_predicted": matrix.astype(int).tolist(),
        },
    }
