"""Tokens: who may read and who may write, over real HTTP against running servers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from registry import Settings
from tests.conftest import LiveRegistry, start_registry, stop_registry
from tests.factories.onnx_models import linear_model

WRITE = "w-" + "a" * 30
READ = "r-" + "b" * 30
OTHER_WRITE = "w2-" + "c" * 30  # configured by its sha256 only
PROBLEM = "application/problem+json"


def _sha(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def _start(tmp: Path, env: dict[str, str]) -> LiveRegistry:
    return start_registry(tmp / "data", f"sqlite:///{tmp / 'registry.db'}", env)


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRegistry]:
    """Reading needs a read token; writing a write token (one given as plain text, one
    as its sha256); holds model 'm' version 1."""
    tmp = tmp_path_factory.mktemp("locked")
    env = {
        "MODELPORT_WRITE_TOKENS": f"{WRITE}, {_sha(OTHER_WRITE)}",
        "MODELPORT_READ_TOKENS": READ,
    }
    reg = _start(tmp, env)
    try:
        model = linear_model(tmp / "m.onnx", n_in=4, n_out=2, seed=1)
        with reg.client() as client:
            resp = _upload(client, "m", model, WRITE)
            assert resp.status_code == 202, resp.text
            _wait_ready(client, "m", 1)
        reg.model_path = model  # type: ignore[attr-defined]
        yield reg
    finally:
        stop_registry(reg)


@pytest.fixture(scope="module")
def write_locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRegistry]:
    """Reading is open; writing needs a write token."""
    tmp = tmp_path_factory.mktemp("write-locked")
    reg = _start(tmp, {"MODELPORT_WRITE_TOKENS": WRITE})
    try:
        yield reg
    finally:
        stop_registry(reg)


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _upload(client: httpx.Client, name: str, path: Path, token: str | None) -> httpx.Response:
    with path.open("rb") as fh:
        return client.post(
            f"/api/v1/models/{name}/versions",
            files={"file": (path.name, fh, "application/octet-stream")},
            headers=_headers(token),
        )


def _wait_ready(client: httpx.Client, name: str, version: int) -> None:
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/models/{name}/versions/{version}", headers=_headers(READ))
        if body.json()["status"] in ("ready", "failed"):
            assert body.json()["status"] == "ready"
            return
        time.sleep(0.1)
    raise AssertionError("not ready")


def _problem(resp: httpx.Response, status: int, title: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert (body["status"], body["title"]) == (status, title)
    return body


# -- reads -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/models", "/api/v1/models/m", "/api/v1/models/m/versions/1"]
)
def test_reading_without_a_token_is_401_with_a_bearer_challenge(locked, path):
    resp = httpx.get(locked.url + path)
    body = _problem(resp, 401, "Unauthorized")
    assert resp.headers["www-authenticate"] == 'Bearer realm="modelport"'
    assert "MODELPORT_TOKEN" in body["detail"]


@pytest.mark.parametrize("token", [READ, WRITE, OTHER_WRITE])
def test_read_and_write_tokens_may_read(locked, token):
    resp = httpx.get(locked.url + "/api/v1/models/m/versions/1", headers=_headers(token))
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "ready"


def test_an_unknown_token_is_refused_not_treated_as_anonymous(write_locked):
    """Reading is open there, but a wrong token is a mistake worth reporting."""
    assert httpx.get(write_locked.url + "/api/v1/models").status_code == 200
    resp = httpx.get(write_locked.url + "/api/v1/models", headers=_headers("x" * 40))
    assert "not one this registry accepts" in _problem(resp, 401, "Unauthorized")["detail"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json"])
def test_health_and_the_api_description_stay_open(locked, path):
    assert httpx.get(locked.url + path).status_code == 200


def test_the_api_description_declares_the_bearer_scheme(locked):
    doc = httpx.get(locked.url + "/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    upload = doc["paths"]["/api/v1/models/{name}/versions"]["post"]
    assert upload.get("security")


# -- writes ----------------------------------------------------------------------------


def test_upload_without_a_token_is_refused_before_the_body_is_read(write_locked):
    """Headers announcing a 50 MB upload, then nothing: the answer must come from the
    headers alone (a server that parsed the form first would wait for the body)."""
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(write_locked.url)
    head = (
        "POST /api/v1/models/nope/versions HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        "Content-Type: multipart/form-data; boundary=xyz\r\n"
        f"Content-Length: {50 << 20}\r\n\r\n"
        "--xyz\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode())
        reply = sock.recv(65536).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 401"), reply[:200]
    assert 'www-authenticate: Bearer realm="modelport"' in reply.lower().replace("bearer", "Bearer")
    assert httpx.get(write_locked.url + "/api/v1/models/nope").status_code == 404  # nothing kept


def test_upload_with_a_write_token_works_where_reading_is_open(write_locked, tmp_path):
    model = linear_model(tmp_path / "ok.onnx")
    with write_locked.client() as client:
        _problem(_upload(client, "ok", model, None), 401, "Unauthorized")
        assert _upload(client, "ok", model, WRITE).status_code == 202
        assert client.get("/api/v1/models/ok").status_code == 200  # reading stays open


def test_a_read_token_cannot_write(locked, tmp_path):
    model = linear_model(tmp_path / "x.onnx")
    with locked.client() as client:
        resp = _upload(client, "m", model, READ)
        body = _problem(resp, 403, "Forbidden")
        assert "MODELPORT_WRITE_TOKENS" in body["detail"]
        alias = client.put(
            "/api/v1/models/m/aliases/prod", json={"version": 1}, headers=_headers(READ)
        )
        _problem(alias, 403, "Forbidden")
        assert (
            client.get("/api/v1/models/m/versions", headers=_headers(READ)).json()["items"][0][
                "version"
            ]
            == 1
        )  # no version 2 was made


@pytest.mark.parametrize("token", [WRITE, OTHER_WRITE])
def test_write_tokens_set_and_remove_aliases(locked, token):
    with locked.client() as client:
        put = client.put(
            "/api/v1/models/m/aliases/staging", json={"version": 1}, headers=_headers(token)
        )
        assert put.status_code == 200, put.text
        assert client.delete("/api/v1/models/m/aliases/staging").status_code == 401
        gone = client.delete("/api/v1/models/m/aliases/staging", headers=_headers(token))
        assert gone.status_code == 204


def test_open_registry_ignores_tokens(live_registry):
    """Without configured tokens nothing is checked, whatever a client sends."""
    resp = httpx.get(live_registry.url + "/api/v1/models", headers=_headers("anything"))
    assert resp.status_code == 200


# -- the SDK, the CLI and the runtime ----------------------------------------------------


def test_sdk_maps_refusals_to_permission_errors(locked, tmp_path):
    from clients import Registry
    from runtime.errors import Forbidden, Unauthorized

    with (
        Registry(locked.url, token="") as anonymous,
        pytest.raises(Unauthorized, match="needs a token"),
    ):
        anonymous.show("m:1")
    with Registry(locked.url, token=READ) as reader:
        assert reader.show("m:1").version == 1
        with pytest.raises(Forbidden) as info:
            reader.push(linear_model(tmp_path / "y.onnx"), name="m", wait=False)
        assert isinstance(info.value, PermissionError)


def test_cli_reads_the_token_from_the_environment(locked, monkeypatch):
    from typer.testing import CliRunner

    from clients.cli import app

    runner = CliRunner()
    monkeypatch.setenv("MODELPORT_URL", locked.url)
    monkeypatch.delenv("MODELPORT_TOKEN", raising=False)
    refused = runner.invoke(app, ["show", "m:1"])
    assert refused.exit_code == 8
    assert "needs a token" in refused.output
    monkeypatch.setenv("MODELPORT_TOKEN", READ)
    shown = runner.invoke(app, ["show", "m:1", "--json"])
    assert shown.exit_code == 0, shown.output


def test_runtime_load_sends_the_token(locked, tmp_path):
    import onnxruntime as ort

    import runtime
    from runtime.errors import Unauthorized

    with pytest.raises(Unauthorized):
        runtime.load("m:1", registry=locked.url, token="", cache_dir=tmp_path / "c0")
    model = runtime.load("m:1", registry=locked.url, token=READ, cache_dir=tmp_path / "c1")
    x = np.ones((2, 4), np.float32)
    raw = ort.InferenceSession(str(locked.model_path), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(model.predict(x), raw.run(None, {"x": x})[0])


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("write_tokens", "short", "too easy to guess"),
        ("read_tokens", "sha256:abc", "64 lowercase hex"),
        ("write_tokens", "sha256:" + "G" * 64, "64 lowercase hex"),
    ],
)
def test_weak_or_malformed_tokens_are_refused_at_start(tmp_path, field, value, message):
    with pytest.raises(ValidationError, match=message):
        Settings(data_dir=tmp_path, **{field: value})


def test_server_refuses_to_start_with_a_weak_token(tmp_path):
    with pytest.raises(RuntimeError, match="too easy to guess"):
        _start(tmp_path, {"MODELPORT_WRITE_TOKENS": "hunter2"})


# -- the web UI ---------------------------------------------------------------------------


def _ui(reg: LiveRegistry, cookie: str | None = None) -> httpx.Client:
    return httpx.Client(
        base_url=reg.url,
        follow_redirects=False,
        cookies={"modelport_token": cookie} if cookie else None,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("page", "target"), [("/", "%2F"), ("/models/m?x=1", "%2Fmodels%2Fm%3Fx%3D1")]
)
def test_ui_pages_send_anonymous_visitors_to_sign_in(locked, page, target):
    with _ui(locked) as ui:
        resp = ui.get(page)
        assert resp.status_code == 303
        assert resp.headers["location"] == f"/signin?next={target}"
        assert ui.get("/static/modelport.css").status_code == 200  # assets stay open
        form = ui.get("/signin?next=/models/m")
        assert form.status_code == 200
        assert 'name="token"' in form.text and 'value="/models/m"' in form.text


def test_signing_in_sets_a_strict_httponly_cookie_and_returns_to_the_page(locked):
    with _ui(locked) as ui:
        wrong = ui.post("/signin", data={"token": "nope" * 5, "next": "/models/m"})
        assert wrong.status_code == 401
        assert "not one this registry accepts" in wrong.text
        assert "set-cookie" not in wrong.headers
        ok = ui.post("/signin", data={"token": READ, "next": "/models/m"})
        assert ok.status_code == 303 and ok.headers["location"] == "/models/m"
        cookie = ok.headers["set-cookie"].lower()
        assert "modelport_token=" in cookie
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    with _ui(locked, READ) as ui:
        page = ui.get("/models/m")
        assert page.status_code == 200
        assert "Sign out" in page.text
        out = ui.get("/signout")
        assert out.status_code == 303 and 'modelport_token=""' in out.headers["set-cookie"]


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\t/evil.example", "/\\evil.example"]
)
def test_sign_in_never_redirects_off_site(locked, target):
    with _ui(locked) as ui:
        resp = ui.post("/signin", data={"token": READ, "next": target})
        assert resp.status_code == 303
        assert resp.headers["location"] == "/"


def test_a_stale_cookie_sends_back_to_sign_in_and_is_cleared(locked):
    with _ui(locked, "revoked-" + "z" * 30) as ui:
        resp = ui.get("/")
        assert resp.status_code == 303 and resp.headers["location"].startswith("/signin")
        assert 'modelport_token=""' in resp.headers["set-cookie"]


def test_the_ui_cookie_also_authorises_the_api_calls_of_its_pages(locked):
    """The upload form and alias buttons call REST v1 from the page: the cookie counts."""
    with _ui(locked, WRITE) as ui:
        assert ui.get("/api/v1/models/m").status_code == 200
        put = ui.put("/api/v1/models/m/aliases/ui", json={"version": 1})
        assert put.status_code == 200, put.text
    with _ui(locked, READ) as ui:
        _problem(ui.put("/api/v1/models/m/aliases/ui", json={"version": 1}), 403, "Forbidden")


def test_open_reading_shows_a_sign_in_link(write_locked):
    with _ui(write_locked) as ui:
        page = ui.get("/")
        assert page.status_code == 200
        assert 'href="/signin"' in page.text


def test_no_sign_in_on_an_open_registry(live_registry):
    with _ui(live_registry) as ui:
        page = ui.get("/")
        assert page.status_code == 200 and 'href="/signin"' not in page.text
        assert ui.get("/signin?next=/upload").headers["location"] == "/upload"


def test_cli_token_makes_a_token_and_its_config_line(tmp_path):
    import json

    from typer.testing import CliRunner

    from api.auth import Access, Level
    from clients.cli import app

    made = CliRunner().invoke(app, ["token", "--json"])
    assert made.exit_code == 0, made.output
    pair = json.loads(made.stdout)
    assert len(pair["token"]) >= 40
    assert pair["config"] == _sha(pair["token"])
    access = Access(Settings(data_dir=tmp_path, write_tokens=pair["config"]))
    assert access.level(pair["token"]) == Level.WRITE
    again = json.loads(CliRunner().invoke(app, ["token", "--json"]).stdout)
    assert again["token"] != pair["token"]


def test_the_api_description_declares_401_and_403_as_problems(locked):
    doc = httpx.get(locked.url + "/openapi.json").json()
    upload = doc["paths"]["/api/v1/models/{name}/versions"]["post"]["responses"]
    show = doc["paths"]["/api/v1/models/{name}"]["get"]["responses"]
    for responses in (upload, show):
        assert PROBLEM in responses["401"]["content"]
    assert PROBLEM in upload["403"]["content"]
    assert "403" not in show


@pytest.mark.parametrize(
    ("write", "read", "token", "action", "outcome"),
    [
        ("", "", None, "write", "ANONYMOUS"),
        ("", "", "whatever-token-value", "write", "ANONYMOUS"),  # ignored when open
        ("", READ, READ, "write", "READ"),  # read tokens write when no write tokens exist
        ("", READ, None, "write", "Unauthorized"),
        (WRITE, "", None, "read", "ANONYMOUS"),
        (WRITE, "", READ, "read", "Unauthorized"),  # unknown here
        (WRITE, READ, READ, "write", "Forbidden"),
        (WRITE, READ, WRITE, "read", "WRITE"),
    ],
)
def test_access_rules(tmp_path, write, read, token, action, outcome):
    from api.auth import Access
    from runtime.errors import Forbidden, Unauthorized

    access = Access(Settings(data_dir=tmp_path, write_tokens=write, read_tokens=read))
    errors = {"Unauthorized": Unauthorized, "Forbidden": Forbidden}
    if outcome in errors:
        with pytest.raises(errors[outcome]):
            access.check(token, write=action == "write")
    else:
        assert access.check(token, write=action == "write").name == outcome
