"""Fixtures of the scale-out tests: a private RabbitMQ node, and what every process of
one deployment shares: a PostgreSQL database and an S3 store (SeaweedFS)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import _database_url, _require
from tests.scaleout._services import RabbitNode, have_nginx, have_rabbitmq, rabbit_home


@pytest.fixture(scope="module")
def rabbit() -> Iterator[RabbitNode]:
    """A RabbitMQ node of this module's own (the machine's node on 5672 stays up)."""
    if not have_rabbitmq():
        if _require("MODELPORT_REQUIRE_RABBITMQ"):
            pytest.fail("rabbitmq-server is required (MODELPORT_REQUIRE_RABBITMQ=1)")
        pytest.skip("rabbitmq-server is not installed")
    node = RabbitNode(rabbit_home())
    node.start()
    try:
        yield node
    finally:
        node.stop()


@dataclass
class Site:
    """What every process of one deployment shares: the database and the blob store
    (``env``: MODELPORT_STORE and AWS_*). Each process still gets its own data folder
    for job scratch space, as on separate machines."""

    database_url: str
    env: dict[str, str]
    tmp: Path

    def data_dir(self, name: str) -> Path:
        return self.tmp / f"data-{name}"


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    server = request.getfixturevalue("s3_server")
    gen = _database_url("postgresql", tmp_path)
    url = next(gen)
    try:
        yield Site(url, {"MODELPORT_STORE": server.store_url(), **server.env}, tmp_path)
    finally:
        gen.close()


@pytest.fixture
def nginx_prefix() -> Iterator[Path]:
    """A folder for nginx outside pytest's private tmp (its workers run as nobody)."""
    if not have_nginx():
        if _require("MODELPORT_REQUIRE_NGINX"):
            pytest.fail("nginx is required (MODELPORT_REQUIRE_NGINX=1)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    path = Path(tempfile.mkdtemp(prefix="mp-nginx-", dir="/tmp"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
