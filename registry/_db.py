"""Engines and sessions: SQLite with WAL, a busy timeout and ``BEGIN IMMEDIATE`` for
writes (so concurrent writers queue instead of failing); PostgreSQL as is."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from registry._settings import Settings
from runtime.errors import RegistryUnavailable

__all__ = ["Database"]

_BUSY_TIMEOUT_MS = 60_000


def _enable_wal(cur: Any) -> None:
    """Switch to WAL (persistent in the file). Changing the journal mode ignores the busy
    timeout, so a brand-new database opened by several processes at once needs a retry."""
    for attempt in range(100):
        try:
            if cur.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError:
            if attempt == 99:
                raise
            time.sleep(0.05)


def _sqlite_engine(url: str) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000},
        pool_size=20,
        max_overflow=20,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        _enable_wal(cur)
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def _unavailable() -> Iterator[None]:
    """Translate a lost or locked database into ``RegistryUnavailable`` (HTTP 503)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise RegistryUnavailable(
            f"the registry database is unavailable ({type(exc.orig).__name__}: "
            f"{str(exc.orig).strip()[:200]}); retry shortly"
        ) from exc


def _make_engine(url: str) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)


class Database:
    """One engine plus read and write session factories.

    ``write()`` sessions take SQLite's write lock at BEGIN, which makes
    read-modify-write sequences (the version counter, job claims) serial there.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(
            self.engine.execution_options(sqlite_immediate=True), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(settings.resolved_database_url)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with _unavailable(), self._read() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction committed when the block ends, rolled back if it raises."""
        with _unavailable(), self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
