"""`import runtime` stays light: no training framework, no server stack, no onnxruntime."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ["torch", "tensorflow", "sklearn", "fastapi", "sqlalchemy", "keras", "pypmml", "pandas"]


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_runtime_imports_no_heavy_stack():
    loaded = _modules_after("import runtime")
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    # imported when a model loads, not before: `import runtime` stays a few milliseconds
    assert not {"onnxruntime", "numpy", "httpx", "filelock"} & loaded


def test_loading_an_onnx_model_needs_no_training_framework(linear_path):
    code = (
        "import numpy as np, runtime\n"
        f"m = runtime.load_file({str(linear_path)!r})\n"
        "m.predict(np.ones((1, 4), np.float32))"
    )
    loaded = _modules_after(code)
    assert "onnxruntime" in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_loading_a_local_file_decodes_no_wire_document(linear_path):
    # the documents' module (about 7 ms of class making) loads with the first registry
    # answer, pull manifest or error document; a file on disk needs none of them
    code = (
        "import numpy as np, runtime\n"
        f"m = runtime.load({str(linear_path)!r})\n"
        "m.predict(np.ones((1, 4), np.float32))"
    )
    loaded = _modules_after(code)
    assert {"runtime._load", "runtime._cache", "runtime._problems"} <= loaded
    assert "runtime._wire" not in loaded


def test_the_registry_fetcher_leaves_httpx_command_line_out():
    # httpx imports its CLI (click, rich, pygments) with the package; the fetcher blocks
    # that one module while importing httpx, and a later import of it still works
    code = (
        "from runtime._remote import Fetcher\n"
        "Fetcher('http://127.0.0.1:9').close()\n"
        "import sys; mods = set(sys.modules)\n"
        "assert not {'httpx._main', 'click', 'rich', 'pygments'} & mods, sorted(mods)\n"
        "import httpx._main\n"
        "assert callable(httpx._main.main)"
    )
    loaded = _modules_after(code)
    assert {"httpx", "httpx._main"} <= loaded


def test_public_names_are_pinned():
    import runtime

    assert sorted(runtime.__all__) == sorted(
        [
            "AliasEvent",
            "AliasTarget",
            "ArtifactDoc",
            "Cache",
            "JobDoc",
            "ModelDoc",
            "Problem",
            "PullManifest",
            "SourceDoc",
            "ValidationReport",
            "VersionDoc",
            "Model",
            "ModelInfo",
            "ARTIFACT_EXTENSIONS",
            "ARTIFACT_FORMATS",
            "FORMAT_PREFERENCE",
            "PULL_MANIFEST",
            "SERVABLE_STATUSES",
            "MAX_VERSION",
            "ModelRef",
            "ModelportError",
            "Signature",
            "TensorSpec",
            "check_alias",
            "check_name",
            "devices",
            "load",
            "load_file",
            "loaders",
            "parse_weights",
            "register_loader",
        ]
    )
    for name in runtime.__all__:
        assert getattr(runtime, name) is not None
