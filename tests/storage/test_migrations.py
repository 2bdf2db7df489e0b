"""The Alembic migrations and the SQLAlchemy models never drift apart."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from maildesk.storage.db import HEAD_REVISION, MIGRATIONS_DIR, Database
from maildesk.storage.models import Base


def test_head_revision_is_the_newest_migration():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def test_migrated_schema_matches_the_models(db_url):
    db = Database(db_url)
    try:
        db.ensure_schema()
        assert db.current_revision() == HEAD_REVISION
        with db.engine.connect() as conn:
            differences = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert differences == []
    finally:
        db.dispose()


def test_upgrade_is_idempotent(db_url):
    db = Database(db_url)
    try:
        db.ensure_schema()
        db.ensure_schema(allow_upgrade=True)
        db.upgrade()
        assert db.current_revision() == HEAD_REVISION
    finally:
        db.dispose()
