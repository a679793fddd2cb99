"""Dynamic batching: concurrent requests are merged into fewer model calls, and every
caller gets exactly its own rows back."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest

import runtime
from api.serving._batching import Batcher


def _rows_metric(text: str, suffix: str) -> float:
    match = re.search(
        rf'modelport_inference_batch_rows_{suffix}{{model="clf",version="1"}} (\S+)', text
    )
    return float(match.group(1)) if match else 0.0


def test_concurrent_requests_are_merged_and_split_back(v2_server, model_files):
    model = runtime.load_file(model_files["clf"])
    rng = np.random.default_rng(7)
    inputs = [rng.normal(size=(1 + i % 4, 4)).astype(np.float32) for i in range(48)]

    async def one(client: httpx.AsyncClient, x: np.ndarray) -> dict:
        body = {
            "inputs": [
                {
                    "name": "x",
                    "datatype": "FP32",
                    "shape": list(x.shape),
                    "data": x.ravel().tolist(),
                }
            ]
        }
        resp = await client.post("/v2/models/clf/infer", json=body)
        assert resp.status_code == 200, resp.text
        return {o["name"]: o for o in resp.json()["outputs"]}

    async def all_at_once() -> list[dict]:
        async with httpx.AsyncClient(base_url=v2_server.url, timeout=30) as client:
            return await asyncio.gather(*[one(client, x) for x in inputs])

    with v2_server.client() as client:
        before = client.get("/metrics").text
    answers = asyncio.run(all_at_once())
    with v2_server.client() as client:
        after = client.get("/metrics").text

    for x, answer in zip(inputs, answers, strict=True):
        expected = model.run(x)
        assert answer["label"]["shape"] == [len(x)]
        assert answer["label"]["data"] == expected["label"].tolist()
        assert answer["probabilities"]["shape"] == [len(x), 3]
        np.testing.assert_allclose(
            np.reshape(answer["probabilities"]["data"], (len(x), 3)),
            expected["probabilities"],
            rtol=1e-6,
        )
    calls = _rows_metric(after, "count") - _rows_metric(before, "count")
    rows = _rows_metric(after, "sum") - _rows_metric(before, "sum")
    assert rows == sum(len(x) for x in inputs)
    assert calls < len(inputs)  # some requests shared a model call


def _batcher(run, max_batch=64) -> Batcher:
    return Batcher(run, ThreadPoolExecutor(1), enabled=True, max_batch=max_batch, max_delay=0.01)


def test_a_failing_merged_call_fails_only_the_bad_request():
    def run(feeds):
        x = feeds["x"]
        if np.isnan(x).any():
            raise ValueError("nan in input")
        return {"y": x * 2}

    async def go():
        b = _batcher(run)
        good = [np.full((2, 1), i, np.float32) for i in range(5)]
        bad = np.full((1, 1), np.nan, np.float32)
        return await asyncio.gather(
            *[b.submit({"x": x}) for x in [*good, bad]], return_exceptions=True
        )

    results = asyncio.run(go())
    assert isinstance(results[-1], ValueError)
    for i, result in enumerate(results[:-1]):
        np.testing.assert_array_equal(result["y"], np.full((2, 1), 2 * i, np.float32))


def test_outputs_without_one_row_per_input_row_are_not_split():
    calls = []

    def run(feeds):
        calls.append(len(feeds["x"]))
        return {"total": np.array([feeds["x"].sum()])}  # one value, whatever the rows

    async def go():
        b = _batcher(run)
        xs = [np.ones((1, 1), np.float32) * (i + 1) for i in range(4)]
        return await asyncio.gather(*[b.submit({"x": x}) for x in xs])

    results = asyncio.run(go())
    assert [r["total"].tolist() for r in results] == [[1.0], [2.0], [3.0], [4.0]]


@pytest.mark.parametrize("max_batch", [3, 64])
def test_batches_respect_max_batch_and_trailing_shapes(max_batch):
    seen = []

    def run(feeds):
        seen.append(feeds["x"].shape)
        return {"y": feeds["x"] + 1}

    async def go():
        b = _batcher(run, max_batch=max_batch)
        xs = [np.zeros((1, 2 + i % 2), np.float32) for i in range(8)]
        return xs, await asyncio.gather(*[b.submit({"x": x}) for x in xs])

    xs, results = asyncio.run(go())
    for x, r in zip(xs, results, strict=True):
        np.testing.assert_array_equal(r["y"], x + 1)
    assert all(shape[0] <= max_batch for shape in seen)
    assert len(seen) < len(xs)  # merged, yet 2- and 3-wide rows never in one call


def test_a_closed_batcher_answers_what_is_queued_then_stops():
    async def go():
        b = _batcher(lambda feeds: {"y": feeds["x"]})
        pending = [asyncio.ensure_future(b.submit({"x": np.ones((1, 1))})) for _ in range(3)]
        await asyncio.sleep(0)
        b.close()
        results = await asyncio.gather(*pending)
        await asyncio.wait_for(b._task, 5)  # the worker ends instead of idling forever
        return results

    assert [r["y"].tolist() for r in asyncio.run(go())] == [[[1.0]]] * 3
