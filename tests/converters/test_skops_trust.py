"""The skops allow-list: sklearn/numpy/scipy types are trusted deliberately, nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from converters import ServerPolicy, detect_framework, get_framework
from converters._skops_trust import schema_types, trusted_type, untrusted_types
from runtime.errors import InvalidUpload

pytest.importorskip("skops")


@pytest.mark.parametrize(
    ("name", "trusted"),
    [
        ("sklearn.tree._tree.Tree", True),
        ("sklearn.feature_selection._univariate_selection.f_classif", True),
        ("numpy.mean", True),
        ("scipy.sparse._csr.csr_matrix", True),
        ("numpy.load", False),
        ("numpy.lib.npyio.load", False),
        ("scipy.io.loadmat", False),
        ("sklearn.datasets.fetch_openml", False),
        ("builtins.eval", False),
        ("posix.system", False),
        ("os.system", False),
        ("sklearnx.Evil", False),
    ],
)
def test_policy(name: str, trusted: bool) -> None:
    assert trusted_type(name) is trusted


def _forest_with_scorer(path: Path) -> Path:
    """Flags sklearn.tree._tree.Tree and f_classif, which skops distrusts by default."""
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_selection import SelectKBest, f_classif
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 4))
    y = (x[:, 0] > 0).astype(int)
    model = make_pipeline(SelectKBest(f_classif, k=3), RandomForestClassifier(n_estimators=3))
    sio.dump(model.fit(x, y), path)
    return path


def test_common_sklearn_types_load(tmp_path: Path) -> None:
    path = _forest_with_scorer(tmp_path / "forest.skops")
    flagged = untrusted_types(path)
    assert "sklearn.tree._tree.Tree" in flagged
    source = get_framework("sklearn").load(path, path.name, {}, ServerPolicy())
    assert source.kind == "classifier"
    assert source.signature.output_names == ["label", "probabilities"]


def _with_os_function(path: Path) -> Path:
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    model = FunctionTransformer(func=os.getcwd).fit(np.zeros((2, 2)))
    sio.dump(model, path)
    return path


def test_foreign_type_is_refused_up_front_naming_it(tmp_path: Path) -> None:
    path = _with_os_function(tmp_path / "evil.skops")
    assert any("getcwd" in t for t in schema_types(path))
    with pytest.raises(InvalidUpload) as err:
        detect_framework(path, "evil.skops")
    assert "getcwd" in str(err.value) and "allow-list" in str(err.value)


def test_foreign_type_is_refused_in_the_worker_too(tmp_path: Path) -> None:
    path = _with_os_function(tmp_path / "evil.skops")
    with pytest.raises(InvalidUpload, match="getcwd"):
        get_framework("sklearn").load(path, path.name, {}, ServerPolicy())
