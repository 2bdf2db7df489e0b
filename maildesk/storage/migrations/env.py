"""Alembic environment: runs migrations on the engine maildesk hands over."""

from alembic import context
from sqlalchemy import create_engine

from maildesk.storage.models import Base

config = context.config
engine = config.attributes.get("connection_engine") or create_engine(
    config.get_main_option("sqlalchemy.url") or ""
)

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
