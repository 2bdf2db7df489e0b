"""The schema revision this code needs: the newest migration in ``storage/migrations/versions``.

A module of its own, free of imports, because the pipe fast path (``maildesk
ingest`` under an MTA) checks it before anything heavy is loaded;
``tests/storage/test_migrations.py`` keeps it in step with the migrations.
"""

HEAD_REVISION = "kb_search"
