"""scikit-learn estimators that have no inference on new data, refused at upload.

They are fitted and read in one go (``fit_predict`` / ``fit_transform`` only, or
biclustering's row/column labels): there is no ``predict`` or ``transform`` for a
converted model to compute. The check reads the ``.skops`` schema's top-level class
name only (nothing imported), so the API process can refuse such an upload before a
version exists.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from runtime.errors import InvalidUpload

__all__ = ["NO_INFERENCE", "check_inference"]

# class name -> what scikit-learn gives it instead of inference on new data
NO_INFERENCE: dict[str, str] = {
    "AgglomerativeClustering": "fit_predict",
    "DBSCAN": "fit_predict",
    "HDBSCAN": "fit_predict",
    "OPTICS": "fit_predict",
    "SpectralClustering": "fit_predict",
    "SpectralBiclustering": "row_labels_ and column_labels_ of the fitted data",
    "SpectralCoclustering": "row_labels_ and column_labels_ of the fitted data",
    "TSNE": "fit_transform",
    "MDS": "fit_transform",
    "ClassicalMDS": "fit_transform",
    "SpectralEmbedding": "fit_transform",
}


def check_inference(path: Path, filename: str) -> None:
    """Raise ``InvalidUpload`` when the ``.skops`` file's estimator cannot infer."""
    try:
        with zipfile.ZipFile(path) as zf:
            schema = json.loads(zf.read("schema.json"))
    except (KeyError, zipfile.BadZipFile, ValueError, OSError):
        return  # the trust check reports unreadable files
    top = schema.get("__class__") if isinstance(schema, dict) else None
    module = schema.get("__module__", "") if isinstance(schema, dict) else ""
    if (
        not isinstance(top, str)
        or not str(module).startswith("sklearn.")
        or top not in NO_INFERENCE
    ):
        return
    has = NO_INFERENCE[top]
    raise InvalidUpload(
        f"{filename!r} holds a {top}, which has no inference on new data: scikit-learn "
        f"gives it {has} only (no predict, transform, predict_proba or decision_function), "
        "so a converted model would have nothing to compute. Keep its fitted result as "
        "data, or upload an estimator that predicts on new rows (e.g. KMeans for clusters, "
        "PCA or Isomap for embeddings)"
    )
