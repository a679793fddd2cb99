"""Detection of gradient-boosting model files and transformers checkpoints: cheap, safe
(nothing loaded in the API process), and no pickle accepted in their place."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import pytest

from converters import ServerPolicy, detect_framework, get_framework
from runtime.errors import InvalidUpload


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_boosting_heads_are_recognised_without_the_libraries(tmp_path) -> None:
    xgb = _write(tmp_path / "m.json", b'{"learner":{"attributes":{}},"version":[3,2,0]}')
    ubj = _write(tmp_path / "m.ubj", b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{}}")
    lgb = _write(tmp_path / "m.txt", b"tree\nversion=v4\nnum_class=1\n")
    cbm = _write(tmp_path / "m.cbm", b"CBM1" + bytes(64))
    assert detect_framework(xgb, "m.json") == "xgboost"
    assert detect_framework(ubj, "m.ubj") == "xgboost"
    assert detect_framework(lgb, "m.txt") == "lightgbm"
    assert detect_framework(cbm, "m.cbm") == "catboost"
    assert detect_framework(lgb, "m.txt", declared="LightGBM") == "lightgbm"


def test_other_json_and_text_are_not_claimed(tmp_path) -> None:
    other = _write(tmp_path / "config.json", json.dumps({"learners": 1}).encode())
    with pytest.raises(InvalidUpload, match="not recognised"):
        detect_framework(other, "config.json")
    text = _write(tmp_path / "notes.txt", b"trees are nice\n")
    with pytest.raises(InvalidUpload, match="not recognised"):
        detect_framework(text, "notes.txt")


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_checkpoint_zip_is_transformers_only_with_safetensors(tmp_path) -> None:
    good = _zip(
        tmp_path / "ckpt.zip",
        {
            "ckpt/config.json": b"{}",
            "ckpt/model.safetensors": b"\x00",
            "ckpt/tokenizer.json": b"{}",
        },
    )
    assert detect_framework(good, "ckpt.zip") == "transformers"
    assert detect_framework(good, "ckpt.zip", declared="hf") == "transformers"
    buf = io.BytesIO()
    pickle.dump({"weights": [1, 2]}, buf)
    pickled = _zip(
        tmp_path / "bin.zip",
        {"config.json": b"{}", "pytorch_model.bin": buf.getvalue(), "vocab.txt": b"a\n"},
    )
    with pytest.raises(InvalidUpload, match="no known model format"):
        detect_framework(pickled, "bin.zip")


def test_checkpoint_without_weights_is_refused_at_load(tmp_path) -> None:
    pytest.importorskip("transformers")
    # a sniff-passing archive whose weights file is not at the checkpoint's root
    bad = _zip(
        tmp_path / "odd.zip",
        {"config.json": b"{}", "vocab.txt": b"a\n", "sub/model.safetensors": b"\x00"},
    )
    with pytest.raises(InvalidUpload, match="no \\*.safetensors weights"):
        get_framework("transformers").load(bad, "odd.zip", {}, ServerPolicy())


def test_config_naming_custom_code_is_refused(tmp_path) -> None:
    pytest.importorskip("transformers")
    config = {
        "model_type": "custom-thing",
        "auto_map": {"AutoModel": "modeling_custom.CustomModel"},
        "architectures": ["CustomModel"],
    }
    bad = _zip(
        tmp_path / "custom.zip",
        {
            "config.json": json.dumps(config).encode(),
            "model.safetensors": b"\x00",
            "vocab.txt": b"a\n",
            "modeling_custom.py": b"raise SystemExit('must never run')\n",
        },
    )
    assert detect_framework(bad, "custom.zip") == "transformers"
    with pytest.raises(InvalidUpload, match="could not be loaded as a transformers checkpoint"):
        get_framework("transformers").load(bad, "custom.zip", {}, ServerPolicy())


def test_damaged_boosting_files_get_a_clear_refusal(tmp_path) -> None:
    pytest.importorskip("xgboost")
    pytest.importorskip("lightgbm")
    pytest.importorskip("catboost")
    cases = {
        "xgboost": _write(tmp_path / "x.json", b'{"learner": 1'),
        "lightgbm": _write(tmp_path / "l.txt", b"tree\nversion=v4\ngarbage"),
        "catboost": _write(tmp_path / "c.cbm", b"CBM1" + bytes(16)),
    }
    for framework, path in cases.items():
        with pytest.raises(InvalidUpload, match=f"(?i)could not be read as an? {framework} model"):
            get_framework(framework).load(path, path.name, {}, ServerPolicy())


def test_catboost_inside_a_skops_pipeline_is_refused_up_front(tmp_path) -> None:
    cb = pytest.importorskip("catboost")
    sio = pytest.importorskip("skops.io")
    import numpy as np
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.random.default_rng(0).standard_normal((40, 3))
    model = cb.CatBoostClassifier(iterations=2, verbose=0, allow_writing_files=False)
    path = tmp_path / "cb.skops"
    sio.dump(make_pipeline(StandardScaler(), model).fit(x, x[:, 0] > 0), path)
    with pytest.raises(InvalidUpload, match="catboost.core.CatBoostClassifier"):
        detect_framework(path, "cb.skops")


def test_boosting_types_are_trusted_only_by_their_exact_names() -> None:
    from converters._skops_trust import _resolves_inside, trusted_type

    assert trusted_type("xgboost.sklearn.XGBClassifier")
    assert not trusted_type("xgboost.core.DMatrix")
    assert not trusted_type("lightgbm.basic.Dataset")
    assert not trusted_type("xgboost.tracker.RabitTracker")
    pytest.importorskip("xgboost")
    assert _resolves_inside("xgboost.core.Booster")
