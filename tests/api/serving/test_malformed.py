"""Every malformed request gets a 4xx with the protocol's {"error": ...} body naming the
input and the reason; nothing is sized from a declared shape before it is checked; the
server stays healthy afterwards."""

from __future__ import annotations

import gzip
import json
import struct

import numpy as np
import pytest


def _x(shape, data, datatype="FP32", name="x"):
    return {"inputs": [{"name": name, "datatype": datatype, "shape": shape, "data": data}]}


def _binary(header: dict, payload: bytes, header_length: int | None = None):
    head = json.dumps(header).encode()
    size = len(head) if header_length is None else header_length
    return head + payload, {"Inference-Header-Content-Length": str(size)}


def _bin_input(shape, size, name="x", datatype="FP32"):
    return {
        "inputs": [
            {
                "name": name,
                "datatype": datatype,
                "shape": shape,
                "parameters": {"binary_data_size": size},
            }
        ]
    }


ONE_ROW = [0.5, 1.0, -1.0, 2.0]
BIG = 1 << 40
CASES = [
    # (id, model, body (dict = JSON, bytes = raw), extra headers, status, words in the error)
    ("not-json", "clf", b"{inputs: nope", {}, 400, "not valid JSON"),
    ("not-object", "clf", [1, 2], {}, 400, "JSON object"),
    ("no-inputs", "clf", {"outputs": []}, {}, 400, "'inputs'"),
    ("input-not-object", "clf", {"inputs": [3]}, {}, 400, "inputs[0]"),
    (
        "shape-data-mismatch",
        "clf",
        _x([2, 4], ONE_ROW * 2 + [1.0] * 3),
        {},
        400,
        "shape [2, 4] holds 8 elements, but the data has 11",
    ),
    ("wrong-rank", "clf", _x([4], ONE_ROW), {}, 400, "rank 2 was expected"),
    ("wrong-feature-count", "clf", _x([1, 3], ONE_ROW[:3]), {}, 400, "dimension 1 must be 4"),
    (
        "strings-in-fp32",
        "clf",
        _x([1, 4], ["a", "b", "c", "d"]),
        {},
        400,
        "FP32 data holds strings",
    ),
    ("numeric-strings-in-fp32", "clf", _x([1, 4], ["1", "2", "3", "4"]), {}, 400, "strings"),
    ("null-in-data", "clf", _x([1, 4], [1.0, None, 2.0, 3.0]), {}, 400, "not numbers"),
    ("int-beyond-64-bits", "clf", _x([1, 4], [2**70, 1, 2, 3], "INT64"), {}, 400, "64 bits"),
    ("fp32-overflow", "clf", _x([1, 4], [1e39, 1, 2, 3]), {}, 400, "overflows FP32"),
    ("ragged", "clf", _x([2, 4], [ONE_ROW, ONE_ROW[:3]]), {}, 400, "ragged"),
    ("zero-shape", "clf", _x([0, 4], []), {}, 400, "holds no elements"),
    (
        "absurd-shape",
        "clf",
        _x([BIG, 4], ONE_ROW),
        {},
        400,
        f"holds {BIG * 4} elements, but the data has 4",
    ),
    ("overflowing-shape", "clf", _x([2**62, 2**62], ONE_ROW), {}, 400, "non-negative integer"),
    ("negative-dim", "clf", _x([-1, 4], ONE_ROW), {}, 400, "non-negative integer"),
    ("float-dim", "clf", _x([1.0, 4], ONE_ROW), {}, 400, "non-negative integer"),
    ("shape-not-list", "clf", _x("1,4", ONE_ROW), {}, 400, "'shape' must be a list"),
    ("wrong-input-name", "clf", _x([1, 4], ONE_ROW, name="y"), {}, 400, "unknown 'y'"),
    ("unknown-datatype", "clf", _x([1, 4], ONE_ROW, "FP8"), {}, 400, "datatype 'FP8'"),
    ("unsafe-cast", "clf", _x([1, 4], [1, 2, 3, 4], "INT64"), {}, 400, "cannot be cast safely"),
    (
        "no-data",
        "clf",
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 4]}]},
        {},
        400,
        "no 'data'",
    ),
    (
        "duplicate-input",
        "clf",
        {"inputs": _x([1, 4], ONE_ROW)["inputs"] * 2},
        {},
        400,
        "given twice",
    ),
    (
        "unknown-output",
        "clf",
        {**_x([1, 4], ONE_ROW), "outputs": [{"name": "nope"}]},
        {},
        400,
        "unknown output 'nope'",
    ),
    (
        "deep-nesting",
        "clf",
        b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        {},
        400,
        "not valid JSON",
    ),
    (
        "missing-second-input",
        "pair",
        {"inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 1], "data": [1.0]}]},
        {},
        400,
        "missing 'b'",
    ),
    (
        "rows-disagree",
        "pair",
        {
            "inputs": [
                {"name": "a", "datatype": "FP32", "shape": [2, 1], "data": [1.0, 2.0]},
                {"name": "b", "datatype": "INT64", "shape": [3, 1], "data": [1, 2, 3]},
            ]
        },
        {},
        400,
        "dimension 0",
    ),
    (
        "numbers-as-bytes",
        "strings",
        _x([2], [1, 2], "BYTES", name="s"),
        {},
        400,
        "BYTES data must be strings",
    ),
    (
        "binary-header-too-long",
        "clf",
        *_binary(_bin_input([1, 4], 16), b"\0" * 16, 10_000),
        400,
        "Inference-Header-Content-Length",
    ),
    (
        "binary-size-mismatch",
        "clf",
        *_binary(_bin_input([2, 4], 12), b"\0" * 12),
        400,
        "shape [2, 4] holds 8 elements, but the data has 12 bytes",
    ),
    (
        "binary-size-past-end",
        "clf",
        *_binary(_bin_input([1, 4], 64), b"\0" * 16),
        400,
        "binary_data_size 64",
    ),
    (
        "binary-trailing-bytes",
        "clf",
        *_binary(_bin_input([1, 4], 16), b"\0" * 20),
        400,
        "4 bytes follow",
    ),
    ("binary-absurd-shape", "clf", *_binary(_bin_input([BIG, BIG], 16), b"\0" * 16), 400, "holds"),
    (
        "binary-bytes-truncated",
        "strings",
        *_binary(
            _bin_input([2], 9, "s", "BYTES"), struct.pack("<I", 1) + b"a" + struct.pack("<I", 7)
        ),
        400,
        "runs past its data",
    ),
    (
        "binary-bytes-count",
        "strings",
        *_binary(_bin_input([2], 15, "s", "BYTES"), (struct.pack("<I", 1) + b"a") * 3),
        400,
        "holds 2 elements, but the data has 3",
    ),
    ("too-large", "clf", _x([1, 4], ONE_ROW + [0.0] * 300_000), {}, 413, "over the limit"),
    (
        "gzip-bomb",
        "clf",
        gzip.compress(b" " * (4 << 20)),
        {"Content-Encoding": "gzip"},
        413,
        "decompressed body",
    ),
    ("bad-gzip", "clf", b"not gzip at all", {"Content-Encoding": "gzip"}, 400, "decompress"),
    ("unknown-encoding", "clf", b"{}", {"Content-Encoding": "br"}, 415, "'br'"),
]


@pytest.mark.parametrize(
    ("model", "body", "headers", "status", "words"),
    [pytest.param(*c[1:], id=c[0]) for c in CASES],
)
def test_malformed_request_is_a_4xx_with_a_v2_error(v2_server, model, body, headers, status, words):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with v2_server.client() as client:
        resp = client.post(f"/v2/models/{model}/infer", content=content, headers=headers)
        assert resp.status_code == status, resp.text
        error = resp.json()["error"]
        assert words in error
        assert client.get("/v2/health/live").status_code == 200


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/v2/models/nope/infer", "model 'nope' is not served"),
        ("/v2/models/clf/versions/7/infer", "no served version '7'"),
        ("/v2/models/clf/versions/production/infer", "no served version 'production'"),
    ],
)
def test_unknown_model_or_version_is_a_404_with_a_v2_error(v2_server, path, words):
    with v2_server.client() as client:
        resp = client.post(path, json=_x([1, 4], ONE_ROW))
    assert resp.status_code == 404
    assert words in resp.json()["error"]


def test_server_still_answers_after_the_malformed_table(v2_server):
    with v2_server.client() as client:
        for _, model, body, headers, *_ in CASES:
            content = body if isinstance(body, bytes) else json.dumps(body).encode()
            client.post(f"/v2/models/{model}/infer", content=content, headers=headers)
        resp = client.post("/v2/models/clf/infer", json=_x([1, 4], ONE_ROW))
        assert resp.status_code == 200
        assert np.isclose(sum(resp.json()["outputs"][1]["data"]), 1.0)
        metrics = client.get("/metrics").text
    assert 'status="500"' not in metrics
