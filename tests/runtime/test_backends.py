"""PMML (pypmml) and SavedModel (TensorFlow) backends on real artifacts: the same interface."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

import runtime
from runtime.errors import DeviceUnavailable, IntegrityError, SignatureError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pmml(tmp_path_factory):
    pytest.importorskip("sklearn2pmml")
    from tests.factories.runtime_models import sklearn_pmml

    return sklearn_pmml(tmp_path_factory.mktemp("pmml") / "logreg.pmml")


@pytest.fixture(scope="module")
def savedmodel(tmp_path_factory):
    pytest.importorskip("keras")
    from tests.factories.runtime_models import keras_savedmodel

    return keras_savedmodel(tmp_path_factory.mktemp("sm") / "saved")


def test_pmml_classifier_gives_label_and_probabilities(pmml):
    path, pipe, X = pmml
    model = runtime.load_file(path)
    assert model.info.format == "pmml"
    assert model.signature.input_names == ["a", "b", "c"]
    assert model.output_names == ["label", "probabilities"]
    np.testing.assert_array_equal(model.predict(X), pipe.predict(X))
    np.testing.assert_allclose(model.predict_proba(X), pipe.predict_proba(X), rtol=1e-6)


def test_pmml_takes_dicts_and_matrices(pmml):
    path, pipe, X = pmml
    model = runtime.load_file(path)
    as_dict = {c: X[c].to_numpy() for c in X.columns}
    np.testing.assert_array_equal(model.predict(as_dict), pipe.predict(X))
    np.testing.assert_array_equal(model.predict(X.to_numpy()), pipe.predict(X))
    out = model.run(X.to_numpy(np.float32), batch_size=30)
    np.testing.assert_array_equal(out["label"], pipe.predict(X))


def test_pmml_enforces_its_signature(pmml):
    model = runtime.load_file(pmml[0])
    with pytest.raises(SignatureError, match=r"missing 'c'"):
        model.predict({"a": np.ones(2), "b": np.ones(2)})


def test_pmml_is_cpu_only(pmml):
    with pytest.raises(DeviceUnavailable, match="CPU only"):
        runtime.load_file(pmml[0], device="cuda")


def test_savedmodel_folder_matches_keras(savedmodel):
    folder, keras_model = savedmodel
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    model = runtime.load_file(folder)
    assert model.info.format == "savedmodel"
    assert len(model.signature.inputs) == 1
    np.testing.assert_allclose(model.predict(x), keras_model.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=2), model.predict(x), atol=1e-6)
    with pytest.raises(SignatureError, match="dimension 1 must be 4"):
        model.predict(np.ones((2, 3), np.float32))


def test_savedmodel_tar_is_unpacked_and_loaded(savedmodel, tmp_path):
    folder, keras_model = savedmodel
    tar_path = tmp_path / "saved.tar"
    with tarfile.open(tar_path, "w") as tar:
        for p in sorted(folder.rglob("*")):
            tar.add(p, arcname=str(p.relative_to(folder)), recursive=False)
    model = runtime.load_file(tar_path)
    assert model.info.format == "savedmodel"
    x = np.ones((1, 4), np.float32)
    np.testing.assert_allclose(model.predict(x), keras_model.predict(x, verbose=0), atol=1e-6)


def test_tar_members_leaving_the_folder_are_refused(tmp_path):
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        data = b"x"
        info = tarfile.TarInfo("../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(IntegrityError, match="not a safe artifact tar"):
        runtime.load_file(evil, format="savedmodel")
    assert not (tmp_path / "outside.txt").exists()


def test_zipmap_probabilities_become_an_array(tmp_path):
    pytest.importorskip("skl2onnx")
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 1)
    clf = LogisticRegression(max_iter=200).fit(x, y)
    path = tmp_path / "zipmap.onnx"
    path.write_bytes(to_onnx(clf, x[:1], target_opset=17).SerializeToString())  # ZipMap on
    model = runtime.load_file(path)
    proba = model.predict_proba(x[:5])
    assert isinstance(proba, np.ndarray) and proba.shape == (5, 3)
    np.testing.assert_allclose(proba, clf.predict_proba(x[:5]), atol=1e-5)
    np.testing.assert_array_equal(model.predict(x[:5]), clf.predict(x[:5]))
    np.testing.assert_allclose(
        model.predict_proba(x[:7], batch_size=3), clf.predict_proba(x[:7]), atol=1e-5
    )


@pytest.mark.slow
def test_pmml_classifier_without_probabilities_offers_the_label_only(tmp_path):
    pytest.importorskip("sklearn2pmml")
    import pandas as pd
    from sklearn.linear_model import RidgeClassifier
    from sklearn2pmml import sklearn2pmml
    from sklearn2pmml.pipeline import PMMLPipeline

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.standard_normal((60, 2)), columns=["a", "b"])
    pipe = PMMLPipeline([("clf", RidgeClassifier())]).fit(X, (X.a > 0).astype(int).rename("y"))
    path = tmp_path / "ridge.pmml"
    sklearn2pmml(pipe, str(path))

    model = runtime.load_file(path)
    assert model.signature.output_names == ["label"]
    np.testing.assert_array_equal(model.predict(X.to_dict("list")), pipe.predict(X))
    with pytest.raises(runtime.ModelportError, match="no probability output"):
        model.predict_proba(X.to_dict("list"))
