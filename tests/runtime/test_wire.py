"""The wire documents: each decoder round-trips, keeps unknown fields, and refuses a
known field of the wrong type with a message that names it."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest

from runtime import (
    ArtifactDoc,
    JobDoc,
    ModelDoc,
    Problem,
    Signature,
    SourceDoc,
    ValidationReport,
    VersionDoc,
)
from runtime._wire import Finding, OutputReport, PullManifest, SetReport, UploadDoc
from runtime.errors import DocumentError, ModelportError

OUTPUT = {
    "name": "probabilities",
    "compare": "allclose",
    "dtype": "float32",
    "shape": [256, 2],
    "max_abs_diff": 8.07e-08,
    "max_rel_diff": "inf",
    "mismatches": 0,
    "samples": 512,
    "tolerance": {"atol": 0.0001, "rtol": 0.001},
    "passed": True,
    "weak": False,
    "reasons": [],
}
LABEL = {
    **OUTPUT,
    "name": "label",
    "compare": "exact",
    "dtype": "int64",
    "shape": [256],
    "max_rel_diff": 0.0,
    "tolerance": None,
}
REPORT = {
    "status": "passed",
    "passed": True,
    "weak": False,
    "summary": "passed on in-domain + batch-1, max abs diff 8.07e-08; diverges on the extreme set",
    "decided_by": ["in-domain", "batch-1"],
    "loader": "runtime.load_file",
    "tolerance": {"atol": 0.0001, "rtol": 0.001},
    "sample": {"origin": "generated", "rows": 256, "batches": [{"name": "in-domain", "rows": 256}]},
    "outputs": [LABEL, OUTPUT],
    "missing_outputs": [],
    "sets": [
        {
            "name": "in-domain",
            "role": "decides",
            "origin": "from StandardScaler",
            "rows": 256,
            "status": "passed",
            "error": None,
            "outputs": [LABEL, OUTPUT],
        },
        {
            "name": "extreme",
            "role": "reported",
            "origin": "x 1e3",
            "rows": 96,
            "status": "diverges",
            "error": None,
            "outputs": [OUTPUT],
        },
    ],
    "findings": [
        {
            "set": "extreme",
            "output": "probabilities",
            "status": "diverges",
            "mismatches": 42,
            "samples": 96,
            "max_abs_diff": "inf",
            "max_rel_diff": "nan",
            "explanation": "the PMML evaluator's softmax overflows",
        },
        {
            "set": "extreme",
            "output": None,
            "status": "error",
            "mismatches": None,
            "samples": None,
            "max_abs_diff": None,
            "max_rel_diff": None,
            "explanation": "could not run",
        },
    ],
    "recipe": {"filename": "reproduce_pmml.py", "script": "print('OK')", "versions": {}},
}
SIGNATURE = {
    "inputs": [{"name": "x", "dtype": "float32", "shape": [None, 4]}],
    "outputs": [{"name": "label", "dtype": "int64", "shape": ["batch"]}],
}
ARTIFACT = {
    "format": "onnx",
    "sha256": "ab" * 32,
    "size": 1234,
    "media_type": "application/onnx",
    "status": "passed",
    "validation": REPORT,
    "converter": {"name": "skl2onnx", "version": "1.17"},
    "signature": SIGNATURE,
    "files": None,
    "error": None,
}
SAVEDMODEL = {
    **ARTIFACT,
    "format": "savedmodel",
    "status": "weak",
    "validation": None,
    "files": [{"path": "saved_model.pb", "size": 10, "sha256": "cd" * 32}],
}
SOURCE = {"filename": "clf.skops", "sha256": "ef" * 32, "size": 999}
VERSION = {
    "name": "fraud-clf",
    "version": 3,
    "status": "ready",
    "framework": "sklearn",
    "source": SOURCE,
    "description": "a classifier",
    "tags": {"team": "risk"},
    "signature": SIGNATURE,
    "lineage": {"framework": "sklearn", "load_s": 0.1},
    "created_by": "ann",
    "created_at": "2026-12-06T09:17:18.123456+00:00",
    "updated_at": "2026-12-06T09:17:20+00:00",
    "aliases": ["production"],
    "error": None,
    "job_id": "j-1",
    "targets": ["onnx", "savedmodel"],
    "options": {"atol": 0.001},
    "artifacts": [
        {
            **ARTIFACT,
            "format": "source",
            "status": "stored",
            "validation": None,
            "signature": None,
            "converter": None,
        },
        ARTIFACT,
        SAVEDMODEL,
    ],
}
JOB = {
    "id": "j-1",
    "kind": "convert",
    "name": "fraud-clf",
    "version": 3,
    "status": "succeeded",
    "attempts": 1,
    "error": None,
    "created_at": "2026-12-06T09:17:18+00:00",
    "started_at": "2026-12-06T09:17:19+00:00",
    "finished_at": None,
    "timings": {"queue_s": 0.01, "convert_s": 1.5},
    "progress": {"done": ["onnx"]},
}
MODEL = {
    "name": "fraud-clf",
    "description": "",
    "tags": {},
    "created_at": "2026-12-06T09:17:18+00:00",
    "updated_at": "2026-12-06T09:17:20+00:00",
    "latest_version": 4,
    "version_count": 4,
    "aliases": {"production": 3},
    "alias_weights": {"production": {"3": 90, "4": 10}},
}
PROBLEM = {
    "type": "/problems/VersionNotFound",
    "title": "VersionNotFound",
    "status": 404,
    "detail": "fraud-clf has no version 9; its latest is 3",
    "instance": "/api/v1/models/fraud-clf/versions/9",
}

UPLOAD = {"name": "fraud-clf", "version": 3, "status": "pending", "job_id": "a1b2c3"}
MANIFEST = {
    "name": "fraud-clf",
    "version": 3,
    "format": "onnx",
    "filename": "fraud-clf-3.onnx",
    "sha256": "ab" * 32,
    "size": 1234,
    "framework": "sklearn",
    "signature": SIGNATURE,
    "files": None,
}

# (type, a full document, a known field, a value of the wrong type for it, its path)
CASES: list[tuple[type[Any], dict[str, Any], str, Any, str]] = [
    (VersionDoc, VERSION, "version", "three", "version"),
    (ArtifactDoc, ARTIFACT, "size", "big", "size"),
    (SourceDoc, SOURCE, "size", 1.5, "size"),
    (ValidationReport, REPORT, "decided_by", "in-domain", "decided_by"),
    (OutputReport, OUTPUT, "mismatches", True, "mismatches"),
    (SetReport, REPORT["sets"][0], "outputs", "none", "outputs"),
    (Finding, REPORT["findings"][0], "max_abs_diff", [1], "max_abs_diff"),
    (JobDoc, JOB, "timings", {"convert_s": "slow"}, "timings.convert_s"),
    (ModelDoc, MODEL, "version_count", "4", "version_count"),
    (Problem, PROBLEM, "status", "404", "status"),
    (UploadDoc, UPLOAD, "job_id", 7, "job_id"),
    (PullManifest, MANIFEST, "signature", "x", "signature"),
]
IDS = [c[0].__name__ for c in CASES]


@pytest.mark.parametrize(("cls", "data", "key", "bad", "path"), CASES, ids=IDS)
def test_a_document_round_trips_through_json(cls, data, key, bad, path):
    doc = cls.from_json(data)
    assert doc.to_json() == data
    again = json.loads(json.dumps(doc.to_json()))  # strict JSON all the way down
    assert cls.from_json(again) == doc


@pytest.mark.parametrize(("cls", "data", "key", "bad", "path"), CASES, ids=IDS)
def test_unknown_fields_are_kept_and_written_back(cls, data, key, bad, path):
    newer = {**copy.deepcopy(data), "added_by_a_newer_server": {"x": [1, 2]}}
    doc = cls.from_json(newer)
    assert doc == cls.from_json(data)  # what this reader knows is the same document
    assert doc.to_json()["added_by_a_newer_server"] == {"x": [1, 2]}
    assert doc.to_json() == newer


@pytest.mark.parametrize(("cls", "data", "key", "bad", "path"), CASES, ids=IDS)
def test_a_known_field_of_the_wrong_type_is_refused_by_name(cls, data, key, bad, path):
    with pytest.raises(DocumentError) as caught:
        cls.from_json({**data, key: bad})
    message = str(caught.value)
    assert message.startswith(cls._kind + ": ")
    assert f"{path} must be" in message
    shown = bad["convert_s"] if cls is JobDoc else bad  # a map's value is named by its key
    assert f"got {shown!r}" in message
    assert isinstance(caught.value, ModelportError) and isinstance(caught.value, ValueError)


def test_the_path_of_a_nested_field_is_named():
    bad = json.loads(json.dumps(VERSION))  # no shared sub-objects
    bad["artifacts"][1]["validation"]["sets"][1]["outputs"][0]["samples"] = "many"
    with pytest.raises(
        DocumentError,
        match=r"^version document: artifacts\[1\]\.validation"
        r"\.sets\[1\]\.outputs\[0\]\.samples must be an integer, got 'many'",
    ):
        VersionDoc.from_json(bad)


def test_a_missing_required_field_is_named_and_optional_ones_take_defaults():
    with pytest.raises(DocumentError, match="^version document: source is missing"):
        VersionDoc.from_json({k: v for k, v in VERSION.items() if k != "source"})
    older = {k: v for k, v in REPORT.items() if k not in ("sets", "findings", "recipe")}
    report = ValidationReport.from_json(older)
    assert report.sets == () and report.findings == () and report.recipe is None


def test_decoded_fields_are_typed():
    doc = VersionDoc.from_json(VERSION)
    assert doc.created_at == dt.datetime(2026, 12, 6, 9, 17, 18, 123456, tzinfo=dt.UTC)
    assert isinstance(doc.signature, Signature) and doc.signature.input_names == ["x"]
    assert doc.signature.inputs[0].shape == (None, 4)
    assert doc.ref == "fraud-clf:3" and doc.aliases == ("production",)
    onnx = doc.artifact("onnx")
    assert onnx is not None and onnx.servable
    assert doc.artifact("source") is not None and not doc.artifact("source").servable
    assert doc.artifact("pmml") is None
    report = onnx.validation
    assert report is not None
    assert report.decided_by == ("in-domain", "batch-1")
    assert [s.name for s in report.deciding_sets] == ["in-domain"]
    assert [s.name for s in report.reported_sets] == ["extreme"]
    assert report.outputs[0].exact and report.outputs[0].tolerance is None
    assert report.outputs[1].tolerance is not None and report.outputs[1].tolerance.rtol == 0.001
    assert report.findings[0].max_abs_diff == "inf" and report.findings[1].output is None
    files = doc.artifact("savedmodel").files
    assert files is not None and files[0].path == "saved_model.pb"


def test_a_split_alias_has_integer_versions_written_as_json_keys():
    model = ModelDoc.from_json(MODEL)
    assert model.alias_weights == {"production": {3: 90, 4: 10}}
    assert model.to_json()["alias_weights"] == {"production": {"3": 90, "4": 10}}
    with pytest.raises(DocumentError, match=r"alias_weights\.production key must be an integer"):
        ModelDoc.from_json({**MODEL, "alias_weights": {"production": {"three": 100}}})


def test_a_problem_keeps_its_extensions_and_names_its_kind():
    body = {**PROBLEM, "errors": [{"loc": ["body", "version"], "msg": "too big"}]}
    problem = Problem.from_json(body)
    assert problem.kind == "VersionNotFound"
    assert problem.extensions == {"errors": body["errors"]}
    assert problem.to_json() == body
    blank = Problem.from_json({})  # every member of RFC 9457 is optional
    assert blank.type == "about:blank" and blank.kind == "" and blank.status is None


@pytest.mark.parametrize("body", [[1, 2], "text", None])
def test_a_document_that_is_not_an_object_is_refused(body):
    with pytest.raises(DocumentError, match="^job: the document must be an object"):
        JobDoc.from_json(body)
