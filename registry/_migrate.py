"""Programmatic Alembic: ``upgrade_database(settings)`` brings the schema to head.

The migration scripts live inside the package, so this works from any directory.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from registry._db import Database
from registry._settings import Settings

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade_database"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x6D6F64656C706F72  # "modelpor"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged scripts and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(settings: Settings, revision: str = "head") -> str | None:
    """Migrate the configured database to ``revision``; return the revision reached."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database.from_settings(settings)
    try:
        cfg = alembic_config(db.url)
        # Several server processes may start at once: serialise their migrations.
        with db.engine.execution_options(sqlite_immediate=True).begin() as conn:
            if not db.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        return current_revision(db)
    finally:
        db.dispose()


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
