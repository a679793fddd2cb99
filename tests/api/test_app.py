"""The app factory in-process: configuration, outages as 503 problems."""

from __future__ import annotations

import warnings

from api.app import create_app
from registry import Settings
from tests.api.conftest import assert_problem

with warnings.catch_warnings():  # starlette's notice about its httpx-based client
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_database_outage_is_503_not_500(tmp_path):
    settings = Settings(
        data_dir=tmp_path,
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/nothing",
        migrate_on_start=False,
        worker_concurrency=0,
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        assert_problem(client.get("/readyz"), 503, "NotReady")
        body = assert_problem(client.get("/api/v1/models"), 503, "RegistryUnavailable")
        assert "retry" in body["detail"]


def test_factory_migrates_the_embedded_default_on_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(worker_concurrency=0)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
        assert client.get("/api/v1/models").json() == {"items": [], "next_cursor": None}
    assert (tmp_path / "modelport-data" / "registry.db").is_file()
