"""Alembic environment: runs on the connection handed in by ``epiradar.store.migrate``.

From the command line (``alembic -c src/epiradar/store/alembic.ini upgrade head``) it connects to
``EPIRADAR_DB`` or the ini file's ``sqlalchemy.url``.
"""

from __future__ import annotations

import os

from alembic import context

from epiradar.store.engine import make_engine
from epiradar.store.schema import metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("EPIRADAR_DB") or context.config.get_main_option("sqlalchemy.url")
    with make_engine(url).begin() as conn:
        _run(conn)
