"""What a scikit-learn estimator takes and returns, beyond one float matrix.

* input kinds from the estimator's tags: ``matrix`` (``X [batch, n_features_in_]``),
  ``labels`` (1-D values of ``classes_``: ``LabelEncoder``, ``LabelBinarizer``),
  ``text`` (one string per row: ``CountVectorizer``, ``TfidfVectorizer``,
  ``HashingVectorizer``), ``dict`` (``DictVectorizer``, ``FeatureHasher``);
* output widths measured by running the fitted model on two in-domain rows, so a
  multi-output model (``MultiOutputRegressor``/``Classifier``, ``MultiTask*``, a
  regressor fitted on a 2-D target) is declared ``[batch, k]`` rather than guessed
  from attributes that wrappers do not have.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["OutputWidths", "input_kind", "label_dtype", "probe_outputs", "rebuild_for_onnx"]


def input_kind(est: Any) -> str:
    """``matrix`` | ``labels`` | ``text`` | ``dict`` (from scikit-learn's input tags)."""
    try:
        tags = est.__sklearn_tags__()
    except Exception:  # noqa: BLE001 - an estimator without tags takes a matrix
        return "matrix"
    it, tt = tags.input_tags, tags.target_tags
    if it.dict:
        return "dict"
    if it.string and not it.two_d_array:
        return "text"
    if tt.one_d_labels and not it.two_d_array and hasattr(est, "classes_"):
        return "labels"
    return "matrix"


def label_dtype(est: Any) -> str:
    """The signature dtype of a label input (the fitted ``classes_``)."""
    kind = np.asarray(est.classes_).dtype.kind
    if kind in "iub":
        return "int64"
    if kind == "f":
        return "float32"
    return "str"


@dataclass(frozen=True)
class OutputWidths:
    """Measured on two rows: width of ``predict`` (None = 1-D) and whether
    ``predict_proba`` returns one array (a list of arrays for multi-output)."""

    predict: int | None
    proba_is_array: bool


def probe_outputs(est: Any, rows: np.ndarray) -> OutputWidths | None:
    """Run the estimator on ``rows``; None when it cannot run on them."""
    try:
        pred = np.asarray(est.predict(rows)) if hasattr(est, "predict") else None
    except Exception:  # noqa: BLE001 - the probe is advisory
        return None
    width = int(pred.shape[1]) if pred is not None and pred.ndim == 2 else None
    proba_array = True
    if hasattr(est, "predict_proba"):
        try:
            proba_array = isinstance(est.predict_proba(rows), np.ndarray)
        except Exception:  # noqa: BLE001
            proba_array = False
    return OutputWidths(width, proba_array)


def rebuild_for_onnx(est: Any) -> Any:
    """An equivalent of ``est`` that skl2onnx converts as it predicts.

    skl2onnx converts ``RFE``/``RFECV`` as the feature selection alone (their
    ``transform``); their ``predict`` is the inner estimator on the selected features.
    The equivalent is the pipeline (the fitted selector, its fitted estimator): the same
    objects, nothing refit.
    """
    from sklearn.feature_selection import RFE, RFECV
    from sklearn.pipeline import Pipeline

    if isinstance(est, Pipeline):  # only the final step predicts
        *head, (name, last) = est.steps
        new = rebuild_for_onnx(last)
        if new is last:
            return est
        tail = [(f"{name}_{n}", s) for n, s in new.steps]
        return Pipeline([*head, *tail])
    if isinstance(est, RFE | RFECV) and hasattr(est, "estimator_"):
        return Pipeline([("select", est), ("estimator", est.estimator_)])
    return est
