"""The SDK over an injected client: Starlette's TestClient runs the real app in-process."""

from __future__ import annotations

import pytest

from clients import Registry
from runtime.errors import ModelNotFound
from tests.clients.conftest import sha256_of
from tests.factories.onnx_models import linear_model

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")


@pytest.fixture
def app_client(tmp_path, database_url):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from registry import Settings

    settings = Settings(data_dir=tmp_path / "data", database_url=database_url)
    with TestClient(create_app(settings)) as client:
        yield client


def test_push_show_pull_through_an_injected_test_client(app_client, tmp_path):
    reg = Registry(client=app_client)
    model = linear_model(tmp_path / "m.onnx")
    info = reg.push(model, "in-process", wait=True, timeout=120)
    assert info.status == "ready", info.to_dict()
    path = reg.pull("in-process:1", dest=tmp_path / "out")
    assert sha256_of(path) == info.artifact("onnx").sha256
    with pytest.raises(ModelNotFound):
        reg.show("missing")
