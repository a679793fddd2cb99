"""Fixtures of the web UI tests: one SQLite registry server for the session, models
pushed over real HTTP, and a headless Debian Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveRegistry, start_registry, stop_registry
from tests.factories.onnx_models import linear_model

CHROMIUM = os.environ.get("MODELPORT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def ui_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRegistry]:
    """A registry server on SQLite shared by the UI tests (each uses its own names)."""
    tmp = tmp_path_factory.mktemp("ui-registry")
    reg = start_registry(tmp / "data", f"sqlite:///{tmp / 'registry.db'}")
    try:
        yield reg
    finally:
        stop_registry(reg)


@pytest.fixture(scope="session")
def http(ui_registry: LiveRegistry) -> Iterator[httpx.Client]:
    with ui_registry.client() as client:
        yield client


def push(
    client: httpx.Client,
    name: str,
    path: Path,
    *,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    targets: str | None = None,
) -> dict[str, Any]:
    """Upload ``path`` as a new version of ``name``; return the 202 body."""
    data: dict[str, str] = {}
    if description is not None:
        data["description"] = description
    if tags is not None:
        data["tags"] = json.dumps(tags)
    if targets is not None:
        data["targets"] = targets
    with path.open("rb") as f:
        response = client.post(
            f"/api/v1/models/{name}/versions",
            files={"file": (path.name, f, "application/octet-stream")},
            data=data,
        )
    assert response.status_code == 202, response.text
    return response.json()


def wait_done(client: httpx.Client, name: str, version: int, timeout: float = 60) -> dict:
    """Poll until the version leaves pending/converting; return its JSON."""
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/models/{name}/versions/{version}").json()
        if body["status"] not in ("pending", "converting"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}:{version} still {body['status']} after {timeout}s")
        time.sleep(0.2)


@pytest.fixture
def push_linear(http: httpx.Client, tmp_path: Path):
    """Push a tiny linear ONNX model and wait for it to be converted."""

    def _push(name: str, *, seed: int = 0, n_in: int = 4, wait: bool = True, **kw: Any) -> dict:
        path = linear_model(tmp_path / f"{name}-{seed}-{n_in}.onnx", n_in=n_in, seed=seed)
        created = push(http, name, path, **kw)
        return wait_done(http, name, created["version"]) if wait else created

    return _push


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("MODELPORT_REQUIRE_CHROMIUM", "") not in ("", "0", "false"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, ui_registry: LiveRegistry) -> Iterator[Any]:
    context = browser.new_context(base_url=ui_registry.url, accept_downloads=True)
    context.set_default_timeout(15_000)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "Content Security Policy" in msg.text
            else None
        ),
    )
    try:
        yield pg
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def broken_onnx_model(path: Path) -> Path:
    """An ONNX file that parses (so the upload is accepted) but fails the full check
    in the conversion job: ``Add`` of a float input and an int64 constant."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "c"], ["y"])],
        "broken",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        initializer=[numpy_helper.from_array(np.ones(3, dtype=np.int64), "c")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


EVIL_TEXT = "<script>alert('x')</script>{{7*7}}"


@pytest.fixture(scope="session")
def shared_model(http: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A read-only model for the tests that only look: v1 (4 inputs) and v2 (6 inputs),
    both converted. Tests that change a model push their own."""
    import uuid

    name = f"shared-{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("shared")
    for seed, n_in in ((0, 4), (1, 6)):
        made = push(
            http,
            name,
            linear_model(tmp / f"v{seed}.onnx", n_in=n_in, seed=seed),
            tags={"team": "risk"},
        )
        assert wait_done(http, name, made["version"])["status"] == "ready"
    return name
