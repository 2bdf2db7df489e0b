"""The database: engine and sessions, tables, migrations, the durable inbox and outbox tables, durable files.

Kept free of imports: the pipe fast path loads single modules of this package.
"""
