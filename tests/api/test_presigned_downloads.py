"""Downloads from an S3 store: a redirect to a presigned URL, or streamed on request.

The registry here guards reads and writes with tokens, so the test also sees that
neither the runtime's fetcher nor the SDK hands the registry's bearer token to the
object store when they follow the redirect.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import httpx
import pytest

from clients import Registry as Client
from runtime._remote import Fetcher
from tests.api.conftest import upload, wait_done
from tests.conftest import LiveRegistry, start_registry, stop_registry
from tests.factories.onnx_models import linear_model

TOKEN = "presigned-test-token-0123456789"


@pytest.fixture(scope="module")
def s3_registry(s3_server, tmp_path_factory) -> Iterator[LiveRegistry]:
    tmp = tmp_path_factory.mktemp("presigned")
    env = {
        "MODELPORT_STORE": s3_server.store_url(),
        "MODELPORT_WRITE_TOKENS": TOKEN,
        "MODELPORT_READ_TOKENS": TOKEN,
        "MODELPORT_PRESIGN_EXPIRES_S": "120",
        **s3_server.env,
    }
    reg = start_registry(tmp / "data", f"sqlite:///{tmp / 'r.db'}", env)
    try:
        yield reg
    finally:
        stop_registry(reg)


@pytest.fixture(scope="module")
def pushed(s3_registry, tmp_path_factory) -> tuple[str, bytes]:
    model = linear_model(tmp_path_factory.mktemp("m") / "lin.onnx")
    with s3_registry.client() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        assert upload(http, "presigned", model).status_code == 202
        assert wait_done(http, "presigned", 1)["status"] == "ready"
        body = http.get("/api/v1/models/presigned/versions/1/artifacts/onnx?redirect=false")
    assert body.status_code == 200
    return "presigned", body.content


def _recorder(seen: list[httpx.Request]):
    return lambda request: seen.append(request)


def test_download_redirects_to_a_short_lived_url_of_the_store(s3_registry, s3_server, pushed):
    name, data = pushed
    digest = hashlib.sha256(data).hexdigest()
    with s3_registry.client() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        resp = http.get(f"/api/v1/models/{name}/versions/1/artifacts/onnx")
    assert resp.status_code == 307
    location = resp.headers["location"]
    assert location.startswith(f"{s3_server.endpoint}/{s3_server.bucket}/")
    assert "X-Amz-Expires=120" in location
    assert resp.headers["x-modelport-sha256"] == digest
    assert resp.headers["cache-control"] == "no-store"
    direct = httpx.get(location)  # no registry token needed: the signature is the grant
    assert direct.status_code == 200
    assert hashlib.sha256(direct.content).hexdigest() == digest
    assert "filename*=UTF-8" in direct.headers["content-disposition"]
    assert httpx.get(location, headers={"Range": "bytes=0-3"}).content == data[:4]


def test_redirect_false_streams_through_the_api(s3_registry, pushed):
    name, data = pushed
    with s3_registry.client() as http:
        http.headers["Authorization"] = f"Bearer {TOKEN}"
        url = f"/api/v1/models/{name}/versions/1/artifacts/onnx?redirect=false"
        resp = http.get(url)
        part = http.get(url, headers={"Range": "bytes=2-5"})
    assert resp.status_code == 200 and resp.content == data
    assert part.status_code == 206 and part.content == data[2:6]


def test_redirect_still_needs_the_read_token(s3_registry, pushed):
    with s3_registry.client() as http:
        resp = http.get(f"/api/v1/models/{pushed[0]}/versions/1/artifacts/onnx")
    assert resp.status_code == 401


def test_runtime_fetcher_follows_without_sending_the_token_to_the_store(
    s3_registry, s3_server, pushed
):
    name, data = pushed
    seen: list[httpx.Request] = []
    with Fetcher(s3_registry.url, token=TOKEN) as fetcher:
        fetcher._client.event_hooks["request"].append(_recorder(seen))
        got = b"".join(fetcher.download(name, 1, "onnx"))
    assert got == data
    _assert_token_stayed_home(seen, s3_registry, s3_server)


def test_runtime_artifact_transport_follows_without_sending_the_token_to_the_store(
    s3_registry, s3_server, pushed, tmp_path
):
    """The large-buffer transport runtime.load and pull read artifacts through."""
    from runtime._transfer import READINTO, write_verified

    name, data = pushed
    seen: list[httpx.Request] = []
    with Fetcher(s3_registry.url, token=TOKEN) as fetcher:
        fetcher._bulk_client().event_hooks["request"].append(_recorder(seen))
        with fetcher.artifact(name, 1, "onnx") as resp:
            assert READINTO in resp.extensions
            sha = hashlib.sha256(data).hexdigest()
            path = write_verified(resp, tmp_path / "blob", sha, size=len(data))
    assert path.read_bytes() == data
    _assert_token_stayed_home(seen, s3_registry, s3_server)


def test_sdk_pull_follows_without_sending_the_token_to_the_store(
    s3_registry, s3_server, pushed, tmp_path
):
    name, data = pushed
    seen: list[httpx.Request] = []
    http = httpx.Client(timeout=60, event_hooks={"request": [_recorder(seen)]})
    with http, Client(s3_registry.url, token=TOKEN, client=http) as sdk:
        path = sdk.pull(f"{name}:1", dest=tmp_path / "out", format="onnx")
    assert path.read_bytes() == data
    _assert_token_stayed_home(seen, s3_registry, s3_server)


def _assert_token_stayed_home(seen, registry, s3) -> None:
    to_registry = [r for r in seen if str(r.url).startswith(registry.url)]
    to_store = [r for r in seen if str(r.url).startswith(s3.endpoint)]
    assert to_registry and to_store, [str(r.url) for r in seen]
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in to_registry)
    assert all("authorization" not in r.headers for r in to_store)
