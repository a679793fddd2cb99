"""Inference servers for the V2 tests: in-process uvicorn on a free port (real HTTP), or
``modelport serve-model`` in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port
from tests.factories.runtime_models import classifier_model, string_input_model, two_input_model


@dataclass
class V2Server:
    url: str
    app: object
    grpc: str | None = None  # host:port of the V2 gRPC service, when served

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("serving-models")
    return {
        "clf": classifier_model(tmp / "clf.onnx", n_in=4, n_classes=3),
        "pair": two_input_model(tmp / "pair.onnx"),
        "strings": string_input_model(tmp / "strings.onnx"),
    }


def start_in_process(config) -> tuple[V2Server, object, threading.Thread]:
    import uvicorn

    from api.serving import create_app

    app = create_app(config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    grpc = None if config.grpc_port is None else f"127.0.0.1:{config.grpc_port}"
    return V2Server(f"http://127.0.0.1:{port}", app, grpc), server, thread


@pytest.fixture(scope="module")
def v2_server(model_files: dict[str, Path]) -> Iterator[V2Server]:
    """The three tiny models, batching on with a short delay so batches really form;
    V2 gRPC on a second port of the same server."""
    from api.serving import BatchPolicy, ServeConfig

    config = ServeConfig(
        refs=tuple(str(p) for p in model_files.values()),
        grpc_port=free_port(),
        batching=BatchPolicy(enabled=None, max_batch=32, max_delay_ms=5),
        max_body=1 << 20,
    )
    v2, server, thread = start_in_process(config)
    yield v2
    server.should_exit = True
    thread.join(timeout=10)


def start_cli_server(
    refs: list[str], *args: str, env: dict[str, str] | None = None, log: Path
) -> tuple[str, subprocess.Popen[bytes]]:
    """``modelport serve-model REFS ARGS`` in its own process; waits for /v2/health/ready."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    full_env["PYTHONPATH"] = str(ROOT)
    full_env["MODELPORT_CACHE"] = os.environ.get("MODELPORT_CACHE", "")
    full_env.update(env or {})
    cmd = [
        sys.executable,
        "-c",
        "from clients.cli import main; main()",
        "serve-model",
        *refs,
        "--port",
        str(port),
        *args,
    ]
    out = log.open("wb")
    proc = subprocess.Popen(cmd, env=full_env, cwd=str(ROOT), stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve-model exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                return url, proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"serve-model did not become ready:\n{log.read_text()}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
