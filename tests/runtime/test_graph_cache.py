"""The optimised-graph cache: saved on the first load, opened by later ones, always checked."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import runtime
from runtime._graphs import GraphCache
from tests.conftest import ROOT

CPU = ["CPUExecutionProvider"]


def _graphs(cache: Path, path: Path) -> list[Path]:
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return sorted((cache / "graphs" / sha).glob("*.onnx"))


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """The default cache folder the autouse fixture points MODELPORT_CACHE at."""
    return Path(os.environ["MODELPORT_CACHE"])


@pytest.mark.parametrize("batch", [1, 64])
def test_second_load_opens_the_saved_graph_with_bit_identical_outputs(mlp_path, cache, batch):
    x = np.random.default_rng(batch).standard_normal((batch, 16)).astype(np.float32)
    raw = ort.InferenceSession(str(mlp_path), providers=CPU).run(None, {"x": x})[0]
    first = runtime.load_file(mlp_path)
    assert first.info.graph == "saved"
    (graph,) = _graphs(cache, mlp_path)
    name_sha = graph.stem.rsplit("-", 1)[1]
    assert hashlib.sha256(graph.read_bytes()).hexdigest() == name_sha
    second = runtime.load_file(mlp_path)
    assert second.info.graph == "cached"
    for model in (first, second):
        np.testing.assert_array_equal(model.predict(x), raw)
    assert _graphs(cache, mlp_path) == [graph]  # opened, not written again


def test_the_cached_graph_is_what_onnxruntime_optimised(mlp_path, cache):
    """The file holds onnxruntime's own rewrite (fused nodes), not a copy of the model."""
    runtime.load_file(mlp_path)
    (graph,) = _graphs(cache, mlp_path)
    assert graph.read_bytes() != mlp_path.read_bytes()
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    assert ort.InferenceSession(str(graph), so, providers=CPU).get_inputs()[0].name == "x"


def test_each_optimisation_level_has_its_own_graph(mlp_path, cache):
    assert runtime.load_file(mlp_path).info.graph == "saved"
    assert runtime.load_file(mlp_path, optimization="basic").info.graph == "saved"
    assert runtime.load_file(mlp_path, optimization="basic").info.graph == "cached"
    assert len(_graphs(cache, mlp_path)) == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"graph_cache": False}, {"optimization": "disable"}],
    ids=["graph_cache=False", "optimization=disable"],
)
def test_graph_cache_off(mlp_path, cache, kwargs):
    for _ in range(2):
        assert runtime.load_file(mlp_path, **kwargs).info.graph is None
    assert _graphs(cache, mlp_path) == []


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_environment_turns_the_graph_cache_off(mlp_path, cache, monkeypatch, value):
    monkeypatch.setenv("MODELPORT_GRAPH_CACHE", value)
    assert runtime.load_file(mlp_path).info.graph is None
    assert _graphs(cache, mlp_path) == []
    assert runtime.load_file(mlp_path, graph_cache=True).info.graph == "saved"


def test_an_explicit_optimized_model_path_replaces_the_cache(mlp_path, cache, tmp_path):
    target = tmp_path / "mine" / "opt.onnx"
    model = runtime.load_file(mlp_path, optimized_model_path=str(target))
    assert model.info.graph is None
    assert target.is_file()
    assert _graphs(cache, mlp_path) == []


def test_a_corrupt_graph_is_refused_removed_and_rebuilt(mlp_path, cache):
    x = np.ones((2, 16), np.float32)
    expected = runtime.load_file(mlp_path, graph_cache=False).predict(x)
    runtime.load_file(mlp_path)
    (graph,) = _graphs(cache, mlp_path)
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0x01  # still parses: other weights
    graph.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match="optimised graph .* is corrupt"):
        model = runtime.load_file(mlp_path)
    assert model.info.graph == "saved"
    np.testing.assert_array_equal(model.predict(x), expected)
    (rebuilt,) = _graphs(cache, mlp_path)
    assert hashlib.sha256(rebuilt.read_bytes()).hexdigest() == rebuilt.stem.rsplit("-", 1)[1]


def test_a_graph_onnxruntime_refuses_is_dropped_and_not_saved_again(mlp_path, cache):
    """A file whose name matches its bytes but that onnxruntime cannot open (a defect of
    its own serialiser) costs one fallback; later loads do not save and fail again."""
    x = np.ones((2, 16), np.float32)
    expected = runtime.load_file(mlp_path, graph_cache=False).predict(x)
    runtime.load_file(mlp_path)
    (graph,) = _graphs(cache, mlp_path)
    junk = b"not an onnx graph"
    key = graph.stem.rsplit("-", 1)[0]
    graph.unlink()
    bad = graph.parent / f"{key}-{hashlib.sha256(junk).hexdigest()}.onnx"
    bad.write_bytes(junk)
    for _ in range(2):
        model = runtime.load_file(mlp_path)
        assert model.info.graph is None
        np.testing.assert_array_equal(model.predict(x), expected)
        assert not bad.exists() and _graphs(cache, mlp_path) == []
    assert (graph.parent / f"{key}.refused").exists()
    # another optimisation level is another key: it is still cached
    assert runtime.load_file(mlp_path, optimization="basic").info.graph == "saved"


def test_the_key_names_onnxruntime_the_level_and_the_providers():
    base = GraphCache.key("1.32.0", "all", ("CPUExecutionProvider",))
    assert base == GraphCache.key("1.32.0", "all", ("CPUExecutionProvider",))
    assert base != GraphCache.key("1.33.0", "all", ("CPUExecutionProvider",))
    assert base != GraphCache.key("1.32.0", "basic", ("CPUExecutionProvider",))
    assert base != GraphCache.key("1.32.0", "all", ("CUDAExecutionProvider",))


def _block_cache_folder(mlp_path: Path, tmp_path: Path, monkeypatch) -> None:
    """MODELPORT_CACHE names a file (a read-only or broken setup)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("MODELPORT_CACHE", str(blocker))


def _block_graph_folder(mlp_path: Path, tmp_path: Path, monkeypatch) -> None:
    """The folder for this model's graphs is a file: saving fails."""
    cache = Path(os.environ["MODELPORT_CACHE"])
    sha = hashlib.sha256(mlp_path.read_bytes()).hexdigest()
    (cache / "graphs").mkdir(parents=True, exist_ok=True)
    (cache / "graphs" / sha).write_text("in the way")


@pytest.mark.parametrize("block", [_block_cache_folder, _block_graph_folder])
def test_a_cache_that_cannot_be_written_still_loads(mlp_path, tmp_path, monkeypatch, block):
    block(mlp_path, tmp_path, monkeypatch)
    x = np.ones((1, 16), np.float32)
    model = runtime.load_file(mlp_path)
    assert model.info.graph is None
    raw = ort.InferenceSession(str(mlp_path), providers=CPU).run(None, {"x": x})[0]
    np.testing.assert_array_equal(model.predict(x), raw)


def test_threads_loading_at_once_agree(mlp_path, cache):
    x = np.random.default_rng(5).standard_normal((4, 16)).astype(np.float32)
    raw = ort.InferenceSession(str(mlp_path), providers=CPU).run(None, {"x": x})[0]
    results: list[np.ndarray] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def load() -> None:
        try:
            start.wait()
            results.append(runtime.load_file(mlp_path).predict(x))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 8
    for out in results:
        np.testing.assert_array_equal(out, raw)
    assert len(_graphs(cache, mlp_path)) == 1
    assert not list((_graphs(cache, mlp_path)[0].parent).glob(".*"))  # no scratch left


_LOAD = """
import sys, json
import numpy as np
import runtime
m = runtime.load_file(sys.argv[1])
print(json.dumps({"graph": m.info.graph, "y": m.predict(np.ones((1, 16), np.float32)).tolist()}))
"""


def test_processes_share_the_graph(mlp_path, cache):
    """A graph saved by one process is opened by the next, with the same outputs."""
    import json

    def run() -> dict:
        out = subprocess.run(
            [sys.executable, "-c", _LOAD, str(mlp_path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=True,
        )
        assert "hardware specific" not in out.stderr  # onnxruntime's warning is not shown
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    assert (first["graph"], second["graph"]) == ("saved", "cached")
    assert first["y"] == second["y"]
