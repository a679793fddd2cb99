"""``serve-model NAME@ALIAS --follow``: alias moves are loaded, checked and swapped in
while clients keep sending requests; no request fails, and each response says which
version answered (header and ``model_version``), matching that version's outputs. A
weighted alias splits requests per request, with a sticky key pinning one version."""

from __future__ import annotations

import re
import threading
import time

import httpx
import numpy as np
import pytest

import runtime
from tests.api.serving.conftest import start_cli_server, stop
from tests.factories.runtime_models import classifier_model
from tests.runtime._registry_helpers import push, set_alias

X = np.random.default_rng(11).normal(size=(3, 4)).astype(np.float32)
BODY = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [3, 4], "data": X.ravel().tolist()}]}


class Hammer:
    """Clients sending requests from threads until stopped; records every answer."""

    def __init__(self, url: str, threads: int = 3) -> None:
        self.url = url
        self.answers: list[tuple[int, str | None, dict]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def _loop(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                resp = client.post("/v2/models/" + self.name + "/infer", json=BODY)
                body = resp.json()
                self.answers.append(
                    (resp.status_code, resp.headers.get("x-modelport-model-version"), body)
                )

    def start(self, name: str) -> Hammer:
        self.name = name
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)

    def versions_seen(self, since: int = 0) -> set[str | None]:
        return {v for _, v, _ in self.answers[since:]}

    def wait_for(self, versions: set[str], timeout: float = 60) -> None:
        mark = len(self.answers)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if versions <= self.versions_seen(mark):
                return
            time.sleep(0.05)
        raise AssertionError(f"never saw versions {versions}; saw {self.versions_seen(mark)}")


@pytest.fixture(scope="module")
def three_versions(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("follow-models")
    return [classifier_model(tmp / f"v{i}.onnx", n_in=4, n_classes=3, seed=i) for i in range(3)]


@pytest.mark.slow
@pytest.mark.parametrize("live_registry", ["sqlite"], indirect=True)
def test_follow_swaps_moved_and_split_aliases_without_a_failed_request(
    live_registry, unique_name, three_versions, tmp_path
):
    with live_registry.client() as reg:
        for path in three_versions:
            push(reg, unique_name, path)
        set_alias(reg, unique_name, "production", 1)
        url, proc = start_cli_server(
            [f"{unique_name}@production"],
            "--follow",
            "--follow-interval",
            "0.2",
            env={"MODELPORT_URL": live_registry.url, "MODELPORT_CACHE": str(tmp_path / "cache")},
            log=tmp_path / "serve.log",
        )
        hammer = Hammer(url).start(unique_name)
        try:
            hammer.wait_for({"1"})
            set_alias(reg, unique_name, "production", 2)
            hammer.wait_for({"2"})
            resp = reg.put(
                f"/api/v1/models/{unique_name}/aliases/production",
                json={"weights": {"2": 50, "3": 50}},
            )
            assert resp.status_code == 200, resp.text
            hammer.wait_for({"2", "3"})
            with httpx.Client(base_url=url, timeout=30) as client:
                sticky = {
                    client.post(
                        f"/v2/models/{unique_name}/infer",
                        json=BODY,
                        headers={"X-Modelport-Sticky": "user-42"},
                    ).headers["x-modelport-model-version"]
                    for _ in range(20)
                }
                metrics = client.get("/metrics").text
        finally:
            hammer.stop()
            stop(proc)

    expected = {str(i + 1): runtime.load_file(p).run(X) for i, p in enumerate(three_versions)}
    assert len(hammer.answers) > 20
    for status, header, body in hammer.answers:
        assert status == 200, body
        assert header == body["model_version"]
        probs = next(o for o in body["outputs"] if o["name"] == "probabilities")
        np.testing.assert_allclose(
            np.reshape(probs["data"], (3, 3)), expected[header]["probabilities"], rtol=1e-6
        )
    assert len(sticky) == 1
    for version in ("1", "2", "3"):
        labels = f'model="{unique_name}",status="200",version="{version}"'
        pattern = rf"modelport_inference_requests_total{{{labels}}} (\S+)"
        assert float(re.search(pattern, metrics).group(1)) > 0
    swaps = re.search(
        rf'modelport_alias_swaps_total{{model="{unique_name}",ref="production"}} (\S+)', metrics
    )
    assert float(swaps.group(1)) == 2
    weights = dict(
        re.findall(
            rf'modelport_route_weight{{model="{unique_name}",ref="production",'
            rf'version="(\d)"}} (\S+)',
            metrics,
        )
    )
    assert weights == {"1": "0.0", "2": "0.5", "3": "0.5"}


@pytest.mark.parametrize("live_registry", ["sqlite"], indirect=True)
def test_aliases_latest_and_numbers_are_version_names(live_registry, unique_name, three_versions):
    from starlette.testclient import TestClient

    from api.serving import ServeConfig, create_app

    with live_registry.client() as reg:
        for path in three_versions[:2]:
            push(reg, unique_name, path)
        set_alias(reg, unique_name, "production", 1)
    config = ServeConfig(
        refs=(f"{unique_name}@production", unique_name), registry=live_registry.url
    )
    with TestClient(create_app(config)) as client:
        meta = client.get(f"/v2/models/{unique_name}").json()
        assert meta["versions"] == ["1", "2", "production", "latest"]
        answered = {}
        for name in ("", "production", "latest", "1", "2"):
            path = f"/v2/models/{unique_name}" + (f"/versions/{name}" if name else "")
            assert client.get(path + "/ready").status_code == 200
            resp = client.post(path + "/infer", json=BODY)
            assert resp.status_code == 200, resp.text
            assert resp.headers["x-modelport-model-version"] == resp.json()["model_version"]
            answered[name] = resp.json()["model_version"]
        missing = client.post(f"/v2/models/{unique_name}/versions/3/infer", json=BODY)
    assert answered == {"": "1", "production": "1", "latest": "2", "1": "1", "2": "2"}
    assert missing.status_code == 404
    assert "served: production, latest, 1, 2" in missing.json()["error"]
