"""The worker protocol: result.json is always written, failures are per artifact."""

from __future__ import annotations

import json
from pathlib import Path

from converters import REQUEST_FILE, WorkerRequest
from tests.factories.onnx_models import linear_model
from tests.frameworks.test_cases import run_worker


def _job(tmp_path: Path, **fields) -> Path:
    (tmp_path / "input").mkdir(exist_ok=True)
    base = {"source": "input/model.onnx", "filename": "model.onnx", "framework": "onnx"}
    request = WorkerRequest(**{**base, "targets": ("onnx",), **fields})
    (tmp_path / REQUEST_FILE).write_text(request.to_json())
    return tmp_path


def _result(job: Path) -> dict:
    proc = run_worker(job, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads((job / "result.json").read_text())


def test_onnx_upload_yields_a_validated_artifact(tmp_path: Path) -> None:
    linear_model(tmp_path / "input" / "model.onnx")
    result = _result(_job(tmp_path, atol=1e-6, rtol=0))
    assert result["signature"]["inputs"][0] == {
        "name": "x",
        "dtype": "float32",
        "shape": ["batch", 4],
    }
    (art,) = result["artifacts"]
    assert art["status"] == "passed" and art["path"] == "out/onnx/model.onnx"
    assert (tmp_path / art["path"]).read_bytes() == (tmp_path / "input/model.onnx").read_bytes()
    assert art["validation"]["tolerance"] == {"atol": 1e-6, "rtol": 0}
    assert art["converter"]["opset"] == 17 and "onnx" in art["converter"]["versions"]
    assert json.loads((tmp_path / "progress.json").read_text())["stage"] == "done"


def test_unloadable_source_gives_top_level_error(tmp_path: Path) -> None:
    (tmp_path / "input").mkdir()
    (tmp_path / "input" / "model.onnx").write_bytes(b"\x08\x07garbage")
    result = _result(_job(tmp_path))
    assert result["error"] and result["artifacts"] == []


def test_missing_request_still_writes_result(tmp_path: Path) -> None:
    result = _result(tmp_path)
    assert "request.json" in result["error"]


def test_paths_outside_the_job_folder_are_refused(tmp_path: Path) -> None:
    job = tmp_path / "job"
    job.mkdir()
    linear_model(tmp_path / "outside.onnx")
    result = _result(_job(job, source="../outside.onnx"))
    assert "outside the job folder" in result["error"]


def test_external_data_leaving_the_model_folder_is_refused(tmp_path: Path) -> None:
    import onnx

    path = linear_model(tmp_path / "input" / "model.onnx")
    model = onnx.load(str(path))
    weight = model.graph.initializer[0]
    weight.data_location = onnx.TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    weight.ClearField("raw_data")
    onnx.save(model, str(path))
    result = _result(_job(tmp_path))
    assert "outside the model's folder" in result["error"]


def test_unknown_target_is_a_per_artifact_error(tmp_path: Path) -> None:
    linear_model(tmp_path / "input" / "model.onnx")
    result = _result(_job(tmp_path, targets=["onnx", "pmml"]))
    by_format = {a["format"]: a for a in result["artifacts"]}
    assert by_format["onnx"]["status"] == "passed"
    assert by_format["pmml"]["status"] == "error"
    assert "no converter for onnx->pmml" in by_format["pmml"]["error"]


def test_invalid_onnx_graph_fails_the_checker(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "missing"], ["y"])],
        "bad",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    (tmp_path / "input").mkdir()
    onnx.save(helper.make_model(graph), str(tmp_path / "input" / "model.onnx"))
    result = _result(_job(tmp_path))
    assert "ONNX checker" in result["error"]


def test_external_data_travels_with_the_model_as_a_folder_artifact(tmp_path: Path) -> None:
    import onnx

    path = linear_model(tmp_path / "input" / "model.onnx", n_in=64, n_out=32)
    model = onnx.load(str(path))
    onnx.save(
        model, str(path), save_as_external_data=True, location="model.onnx.data", size_threshold=0
    )
    assert (tmp_path / "input" / "model.onnx.data").exists()
    result = _result(_job(tmp_path))
    (art,) = result["artifacts"]
    assert art["status"] == "passed", art["error"]
    assert art["path"] == "out/onnx"
    assert sorted(p.name for p in (tmp_path / "out/onnx").iterdir()) == [
        "model.onnx",
        "model.onnx.data",
    ]
