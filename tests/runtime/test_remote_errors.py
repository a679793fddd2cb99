"""Error answers that are not problem documents still become the project's errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from runtime._refs import ModelRef
from runtime._remote import Fetcher
from runtime.errors import Conflict, ModelportError, RegistryUnavailable, ResourceNotFound
from tests.runtime._stub_http import stub_server


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status, body = {
            "/api/v1/models/listed/versions/1": (404, json.dumps(["not", "a", "problem"])),
            "/api/v1/models/text/versions/1": (409, json.dumps("just a string")),
            "/api/v1/models/proxy/versions/1": (502, json.dumps([1, 2])),
        }[self.path]
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def odd_server() -> Iterator[str]:
    with stub_server(_Handler) as url:
        yield url


@pytest.mark.parametrize(
    ("name", "error", "text"),
    [
        ("listed", ResourceNotFound, r'\["not", "a", "problem"\] \(HTTP 404\)'),
        ("text", Conflict, r"just a string.* \(HTTP 409\)"),
        ("proxy", RegistryUnavailable, r"\(HTTP 502\)"),
    ],
)
def test_json_body_that_is_not_an_object_maps_to_a_project_error(odd_server, name, error, text):
    # the status decides the class; the answer rides along as a problem document
    with Fetcher(odd_server) as fetcher, pytest.raises(error, match=text) as info:
        fetcher.version(ModelRef.parse(f"{name}:1"))
    assert info.value.problem is not None and info.value.problem["type"] == "about:blank"
    assert info.value.status == info.value.problem["status"]


def test_a_plain_http_registry_loads_no_ca_bundle_and_https_stays_verified(odd_server, monkeypatch):
    # httpx's default transport loads certifi's CA bundle when a client is made; the
    # fetcher makes the verifying https pool only when a request needs it
    import ssl

    import httpx._transports.default as default

    made: list[object] = []
    real = default.create_ssl_context

    def spy(verify: object = True, **kw: object) -> ssl.SSLContext:
        made.append(verify)
        return real(verify=verify, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(default, "create_ssl_context", spy)
    with Fetcher(odd_server) as fetcher:
        with pytest.raises(ModelportError, match=r"\(HTTP 404\)"):
            fetcher.version(ModelRef.parse("listed:1"))
        assert len(made) == 1
        plain = made[0]
        assert isinstance(plain, ssl.SSLContext)  # never used for TLS; if it were, it
        assert plain.verify_mode == ssl.CERT_REQUIRED and plain.check_hostname  # fails closed
    with Fetcher("https://127.0.0.1:9") as secure, pytest.raises(RegistryUnavailable):
        secure.version(ModelRef.parse("m:1"))
    assert made[1:] == [True]  # httpx's default: certifi's bundle, hostname checked
