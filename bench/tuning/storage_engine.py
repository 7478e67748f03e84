"""How ``open_storage`` sets up the SQLAlchemy engine of a database storage.

- The driver: ``postgresql://`` gets the installed psycopg driver (``with_driver``).
- PostgreSQL timeouts (``engine_kwargs``): a connection attempt gives up after
  ``CONNECT_TIMEOUT`` = 10 s (libpq's ``connect_timeout``) and a statement after
  ``STATEMENT_TIMEOUT`` = 60 s (the server's ``statement_timeout``), so that a server that
  accepts and never answers, or a lock that is never released, is an error and not a hang. A URL
  that sets ``connect_timeout`` or a ``statement_timeout`` in ``options`` keeps its own.
  Connections are checked before use (``pool_pre_ping``).
- SQLite: a writer waits up to ``SQLITE_BUSY_TIMEOUT`` = 60 s for another's lock, and every
  connection runs ``SQLITE_PRAGMAS`` (write-ahead log, ``write_ahead_log``).
- ``is_open_race``: the errors of several processes creating Optuna's tables in one new database
  at once (a unique constraint, or SQLite's ``table … already exists``): the tables exist by the
  next attempt.
"""

from __future__ import annotations

import urllib.parse

CONNECT_TIMEOUT = 10
"""Seconds a PostgreSQL connection attempt may take."""
STATEMENT_TIMEOUT = 60
"""Seconds a PostgreSQL statement may take."""
SQLITE_BUSY_TIMEOUT = 60
"""Seconds a SQLite writer waits for the lock of another (several local workers share a file)."""
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")
"""SQLite in write-ahead-log mode with ``synchronous=NORMAL``: a commit appends to
``studies.db-wal`` without an fsync of the database (Optuna commits after every trial event, and a
rollback-journal commit with two fsyncs cost a trial about half its time). A killed process loses
nothing committed; a power cut can lose the last commits but never corrupts the file (SQLite's
documented guarantee for this pair). The ``-wal`` and ``-shm`` files vanish when the last
connection closes."""
RACE_MARKERS = ("already exists", "database is locked")


def with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed: SQLAlchemy 2.1 defaults to psycopg 3,
    2.0 to psycopg2, and lossbench's ``[postgres]`` extra brings psycopg2."""
    scheme, sep, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres"):
        return url
    import importlib.util

    for module, driver in (("psycopg2", "psycopg2"), ("psycopg", "psycopg")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{driver}{sep}{rest}"
    return url


def engine_kwargs(url: str) -> dict:
    """The ``engine_kwargs`` of Optuna's ``RDBStorage`` for ``url`` (with its driver)."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    kwargs: dict = {"pool_pre_ping": True}
    if url.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres"):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        connect: dict = {}
        if "connect_timeout" not in query:
            connect["connect_timeout"] = CONNECT_TIMEOUT
        options = " ".join(query.get("options", []))
        if "statement_timeout" not in options:  # connect_args replace the URL's options
            connect["options"] = f"{options} -c statement_timeout={STATEMENT_TIMEOUT * 1000}" \
                .strip()
        kwargs["connect_args"] = connect
    return kwargs


def is_open_race(error: BaseException) -> bool:
    """True for the errors of workers creating one new database's tables at the same time."""
    import sqlalchemy.exc

    if isinstance(error, (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError)):
        return True
    return isinstance(error, sqlalchemy.exc.OperationalError) and \
        any(marker in str(error).lower() for marker in RACE_MARKERS)


def write_ahead_log(storage) -> None:
    """Every later connection of ``storage``'s engine runs ``SQLITE_PRAGMAS`` (journal_mode=WAL is
    stored in the file; the first connection that can take the lock switches it)."""
    import sqlalchemy

    def pragmas(connection, _record) -> None:
        cursor = connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            try:
                cursor.execute(pragma)
            except Exception:  # noqa: BLE001, S110  locked by another writer: the next connect retries
                pass
        cursor.close()

    sqlalchemy.event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # the constructor's pooled connections predate the listener


class _QuietInterruptedReset:
    """A logging filter: drops SQLAlchemy's "Exception during reset or similar" record when the
    exception is Ctrl-C or SIGTERM (a ``KeyboardInterrupt``) that landed while the pool returned a
    connection. SQLAlchemy logs it with a traceback before it re-raises it; the command then prints
    its one "interrupted" line, and the traceback would bury it. Other pool errors still show."""

    def filter(self, record) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))


POOL_LOGGERS = tuple(f"sqlalchemy.pool.impl.{name}" for name in (
    "QueuePool", "SingletonThreadPool", "NullPool", "StaticPool", "AssertionPool",
    "AsyncAdaptedQueuePool", "FallbackAsyncAdaptedQueuePool"))
"""The loggers of SQLAlchemy's pool classes (a filter on a parent logger would not see them)."""


def quiet_interrupted_resets() -> None:
    """Install ``_QuietInterruptedReset`` on every pool logger, once."""
    import logging

    for name in POOL_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietInterruptedReset) for f in logger.filters):
            logger.addFilter(_QuietInterruptedReset())
