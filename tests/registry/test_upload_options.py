"""Upload options are stored with the version and reach the worker's request.json,
with allow_pickle always taken from the server setting."""

from __future__ import annotations

import io

import pytest

from converters import REQUEST_FILE, ServerPolicy, WorkerRequest
from registry import JobRunner
from runtime.errors import InvalidUpload
from tests.factories.onnx_models import linear_model


def test_options_are_stored_and_merged_into_the_request(registry, tmp_path):
    data = linear_model(tmp_path / "lin.onnx").read_bytes()
    options = {"input_names": ["x"], "input_shapes": {"x": [None, 4]}}
    registry.create_version("opt", io.BytesIO(data), "lin.onnx", options=options)
    runner = JobRunner(registry)  # a fresh runner, as after a restart
    claim = runner._claim()
    assert claim is not None
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    runner._prepare(claim, job_dir)
    request = WorkerRequest.from_json((job_dir / REQUEST_FILE).read_text())
    assert request.options == options
    assert request.policy == ServerPolicy(allow_pickle=registry.settings.allow_pickle)


def test_allow_pickle_cannot_come_from_the_uploader(registry, tmp_path):
    data = linear_model(tmp_path / "lin.onnx").read_bytes()
    with pytest.raises(InvalidUpload, match="allowed options: input_names"):
        registry.create_version("opt", io.BytesIO(data), "lin.onnx", options={"allow_pickle": 1})
    assert registry.list_models().items == []
