"""Upload options are stored with the version and reach the worker's request.json,
with allow_pickle always taken from the server setting."""

from __future__ import annotations

import io
import json

import pytest

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
    request = json.loads((job_dir / "request.json").read_text())
    assert request["options"] == {**options, "allow_pickle": registry.settings.allow_pickle}


def test_allow_pickle_cannot_come_from_the_uploader(registry, tmp_path):
    data = linear_model(tmp_path / "lin.onnx").read_bytes()
    with pytest.raises(InvalidUpload, match="allowed options: input_names"):
        registry.create_version("opt", io.BytesIO(data), "lin.onnx", options={"allow_pickle": 1})
    assert registry.list_models().items == []
